#!/bin/sh
# Installs the Debian 12 packages mqttlens needs, when they are missing.
#   tools/deps.sh build     compile the plugin and run tshark with it
#   tools/deps.sh test      ... and run every test (flow/gui: Wireshark under Xvfb)
#   tools/deps.sh record    ... and re-record the lab captures (pcaps/record.py)
#   tools/deps.sh gui       ... and tools/screenshots.sh
# Uses sudo when not run as root.  Does nothing when all are present.
set -eu

build="cmake make gcc pkg-config libwireshark-dev libglib2.0-dev tshark"
test="$build python3 python3-pytest python3-yaml util-linux valgrind clang libclang-rt-14-dev wireshark-qt xvfb xdotool"
gui="$test imagemagick"
record="$test mosquitto mosquitto-clients python3-paho-mqtt openssl nodejs npm"

case "${1:-test}" in
    build) want=$build ;;
    test) want=$test ;;
    record) want=$record ;;
    gui) want=$gui ;;
    *) echo "usage: $0 [build|test|gui|record]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "Installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "Missing packages:$missing -- run this script as root or install them." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -q
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
