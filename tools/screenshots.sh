#!/bin/sh
# Makes the pictures of docs/lab.md: Wireshark (wireshark-qt) with the
# plugin from the build folder, on the lab captures, under Xvfb, driven by
# xdotool and photographed with ImageMagick's import.  Rerun it whenever the
# pictures would change, then look at every picture before committing.
#   apt-get install wireshark-qt xvfb xdotool imagemagick
#   tools/screenshots.sh            # writes docs/images/*.png
#   tools/screenshots.sh journey    # only the pictures named (NAME.png)
# Wireshark runs as an unprivileged user ("nobody" when run as root), with
# a fresh profile, on display :77 (SCREENSHOT_DISPLAY), 1280x860: the
# clicks below are positions in that layout (menus of Wireshark 4.0).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${MQTTLENS_BUILD:-$top/build}
out=$top/docs/images
display=${SCREENSHOT_DISPLAY:-:77}
plugin=$(ls "$build"/plugins/*/epan/mqttlens.so 2>/dev/null | head -n 1)
[ -n "$plugin" ] || { echo "mqttlens is not built in $build" >&2; exit 1; }
for tool in Xvfb xdotool import wireshark; do
    command -v $tool >/dev/null || { echo "needs $tool: apt-get install wireshark-qt xvfb xdotool imagemagick" >&2; exit 1; }
done
abi=$(basename "$(dirname "$(dirname "$plugin")")")
only=" $* "
# want NAME: whether the picture NAME is to be made (all when none is named).
want() {
    [ "$only" = "  " ] || case $only in *" $1 "*) ;; *) return 1 ;; esac
}

work=$(mktemp -d /tmp/mqttlens-shots.XXXXXX)
xvfb=
ws=
cleanup() {
    [ -n "$ws" ] && kill "$ws" 2>/dev/null || true
    [ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir -p "$work/plugins/$abi/epan" "$work/home/.config/wireshark" "$work/caps" "$out"
cp "$plugin" "$work/plugins/$abi/epan/"
cp "$top"/pcaps/lab/*.pcapng "$work/caps/"
# The main window fills the screen.
printf 'gui.geometry_main_x: 0\ngui.geometry_main_y: 0\ngui.geometry_main_width: 1280\ngui.geometry_main_height: 860\n' \
    >"$work/home/.config/wireshark/recent"
chmod -R a+rwX "$work"

Xvfb "$display" -screen 0 1280x860x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
sleep 2
export DISPLAY="$display"

as_user() {
    if [ "$(id -u)" -eq 0 ]; then
        setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
    else
        "$@"
    fi
}

# wireshark ARGS...: starts Wireshark on a capture and waits for its window.
start() {
    capture=$1
    shift
    as_user env HOME="$work/home" XDG_RUNTIME_DIR= WIRESHARK_PLUGIN_DIR="$work/plugins" LANG=C.UTF-8 \
        wireshark -r "$work/caps/$capture" "$@" >"$work/wireshark.log" 2>&1 &
    ws=$!
    wait_for "$capture"
    # The window is there before Wireshark has finished starting (external
    # capture plugins, then the file): give it time.
    sleep "${SCREENSHOT_WAIT:-30}"
    win=$(xdotool search --name "$capture" | head -n 1)
    xdotool windowactivate --sync "$win" 2>/dev/null || true
    xdotool windowfocus "$win"
    sleep 1
}

# wait_for TITLE: waits (up to a minute) for a window whose title has TITLE.
wait_for() {
    for _ in $(seq 60); do
        xdotool search --name "$1" >/dev/null 2>&1 && return 0
        sleep 1
    done
    import -window root "$out/failed.png"
    echo "no window \"$1\" (the screen: docs/images/failed.png)" >&2
    cat "$work/wireshark.log" >&2
    exit 1
}

stop() {
    kill "$ws" 2>/dev/null || true
    wait "$ws" 2>/dev/null || true
    ws=
}

click() {
    xdotool mousemove "$1" "$2" click 1
    sleep "${3:-1}"
}

# shot NAME [TITLE [WIDTH HEIGHT]]: the window whose title has TITLE,
# resized (else the screen).
shot() {
    if [ -n "${2:-}" ]; then
        wait_for "$2"
        sleep 2
        win=$(xdotool search --name "$2" | tail -n 1)
        if [ -n "${3:-}" ]; then
            xdotool windowmove "$win" 0 0 windowsize "$win" "$3" "$4"
            sleep 2
        fi
        import -window "$win" "$out/$1.png"
    else
        import -window root "$out/$1.png"
    fi
    echo "wrote docs/images/$1.png"
}

# Statistics → Flow Graph, flow type "MQTT Flows (mqttlens)".
flow_graph() {
    start "$1"
    xdotool key alt+s
    sleep 1
    click 354 461 4       # Flow Graph
    click 671 625         # Flow type
    click 665 726 4       # MQTT Flows (mqttlens)
    shot "$2" "Flow"
    stop
}

if want flow-subscribe; then flow_graph subscribe-v311.pcapng flow-subscribe; fi
if want flow-publish; then flow_graph publish-qos012-v5.pcapng flow-publish; fi

# A PUBLISH (frame 22: QoS 1) with its mqttlens subtree expanded.
if want publish-tree; then
    start subscribe-v311.pcapng -Y mqttlens -g 22
    click 200 538              # the mqttlens line of the packet details
    xdotool key shift+Right    # expand its subtrees
    sleep 1
    shot publish-tree
    stop
fi

# A message journey: frame 24 is the broker's copy, to lab-sub-v311, of
# the PUBLISH of frame 22; its Journey subtree (the last line of the
# mqttlens tree) expanded.
if want journey; then
    start subscribe-v311.pcapng -Y mqttlens -g 24
    click 200 538              # the mqttlens line of the packet details
    xdotool key Right End Right # expand it, go to its last line (Journey), expand that
    sleep 1
    shot journey
    stop
fi

# Analyze → Expert Information on the password lab.
if want expert; then
    start auth-v311.pcapng -z expert
    shot expert "Expert" 900 420
    stop
fi

# Statistics → MQTT → Packets, topics, clients (mqttlens).
if want statistics; then
    start subscribe-v311.pcapng
    xdotool key alt+s
    sleep 1
    xdotool key Up Right   # the last item (MQTT), its submenu
    sleep 1
    xdotool key Return
    shot statistics "Packets, topics" 900 560
    stop
fi

# Statistics → MQTT Sessions (mqttlens).
if want sessions; then
    start auth-v5.pcapng -z mqttlens,sessions
    shot sessions "Sessions" 1270 300
    stop
fi

# Tools → Credentials.
if want credentials; then
    start auth-v311.pcapng
    xdotool key alt+t
    sleep 1
    xdotool key Down Return
    shot credentials "Credentials" 1200 240
    stop
fi
