#!/bin/sh
# Debian chroots with another Wireshark, for building and testing mqttlens
# against it (tools/test-versions.sh uses them).
#
#   tools/chroot.sh create SUITE       make the chroot unless it is ready
#   tools/chroot.sh run SUITE CMD...   run CMD in it (as root), with this
#                                      source tree at /mqttlens/src (read-only;
#                                      writable with MQTTLENS_SOURCE_RW=1)
#                                      and ../shared at /mqttlens/shared
#   tools/chroot.sh remove SUITE       delete it
#
# SUITE is trixie (Debian 13, Wireshark 4.4) or sid (Wireshark 4.6; sid
# moves on, so the Wireshark it installs is checked: another minor version
# stops with a message saying how to pin it).  Chroots are kept in
# $MQTTLENS_CHROOTS (default /var/cache/mqttlens/chroots, outside the git
# tree), reused while their package list is unchanged and rebuilt when missing
# or incomplete.  Needs root, debootstrap (installed when missing) and a
# Debian mirror ($MQTTLENS_MIRROR, default http://deb.debian.org/debian;
# $MQTTLENS_SID_MIRROR for sid, e.g. a snapshot.debian.org date).
# Mounts live in a private mount namespace (unshare -m): nothing stays
# mounted when a command ends, however it ends.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
root=${MQTTLENS_CHROOTS:-/var/cache/mqttlens/chroots}
mirror=${MQTTLENS_MIRROR:-http://deb.debian.org/debian}
packages="cmake make gcc libc6-dev pkg-config libwireshark-dev libglib2.0-dev tshark
python3 python3-pytest python3-yaml util-linux"

die() { echo "chroot.sh: $*" >&2; exit 1; }

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2; }

[ $# -ge 2 ] || usage
action=$1
suite=$2
shift 2
case "$suite" in
    trixie) want_ws=4.4; suite_mirror=$mirror ;;
    sid) want_ws=4.6; suite_mirror=${MQTTLENS_SID_MIRROR:-$mirror} ;;
    *) die "unknown suite '$suite' (trixie or sid)" ;;
esac
dir=$root/$suite
stamp=$dir/.mqttlens-ready
# What a ready chroot was made with; any change rebuilds it.
recipe="suite=$suite mirror=$suite_mirror wireshark=$want_ws packages=$(echo $packages)"

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts)"

# retry N CMD...: transient mirror failures are common; give up after N tries.
retry() {
    n=$1
    shift
    i=1
    while ! "$@"; do
        [ "$i" -ge "$n" ] && return 1
        echo "chroot.sh: '$*' failed (try $i of $n), retrying in $((i * 10)) s" >&2
        sleep $((i * 10))
        i=$((i + 1))
    done
}

# Refuse to delete a folder with anything mounted below it.
remove() {
    if [ -e "$dir" ]; then
        if grep -q " $dir[/ ]" /proc/self/mounts; then
            die "$dir has mounts below it; unmount them first"
        fi
        rm -rf "$dir"
    fi
    rm -f "$dir.log" "$dir.apt.log"
}

in_chroot() {
    # $dir/etc/resolv.conf for apt; /proc and /dev for tshark and Python.
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    unshare -m --propagation private sh -euc '
        dir=$1; top=$2; shift 2
        mount -t proc proc "$dir/proc"
        mount --bind /dev "$dir/dev"
        mkdir -p "$dir/mqttlens/src" "$dir/mqttlens/shared"
        mount --bind "$top" "$dir/mqttlens/src"
        # Read-only unless the run is to write into it (updating baselines).
        [ "${MQTTLENS_SOURCE_RW:-}" = 1 ] || mount -o remount,ro,bind "$dir/mqttlens/src"
        shared=${MQTTLENS_SHARED:-$top/../shared}
        if [ -d "$shared" ]; then
            mount --bind "$shared" "$dir/mqttlens/shared"
            mount -o remount,ro,bind "$dir/mqttlens/shared"
        fi
        exec chroot "$dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
            TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
    ' sh "$dir" "$top" "$@"
}

apt_opts="-q -o Acquire::Retries=5 -o Acquire::Check-Valid-Until=false"

create() {
    # One maker at a time per chroot: tools/test.sh starts making them
    # early, in the background, and test-versions.sh waits here for it.
    mkdir -p "$(dirname "$dir")"
    exec 9>"$dir.lock"
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ]; then
        return 0
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        # (Another chroot.sh may hold the dpkg lock for a moment: retried.)
        retry 3 sh -c 'apt-get install -y -q debootstrap >/dev/null 2>&1 ||
                       { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q debootstrap >/dev/null 2>&1; }' \
            || die "cannot install debootstrap (apt-get install debootstrap)"
    fi
    echo "chroot.sh: making $dir ($suite from $suite_mirror; a few minutes)"
    remove
    mkdir -p "$root"
    t0=$(date +%s)
    # debootstrap leaves a half-made folder when the mirror fails: start over.
    if ! retry 3 sh -c 'rm -rf "$1" && debootstrap --variant=minbase "$2" "$1" "$3" >"$1.log" 2>&1' \
            sh "$dir" "$suite" "$suite_mirror"; then
        tail -20 "$dir.log" >&2
        die "debootstrap $suite failed (log: $dir.log)"
    fi
    t1=$(date +%s)
    # sid's Release file may have expired by the clock of a machine that
    # uses a snapshot; validity does not matter for a test chroot.
    log=$dir.apt.log
    retry 3 in_chroot apt-get $apt_opts update >"$log" 2>&1 \
        || { tail -20 "$log" >&2; die "apt-get update failed in $dir (log: $log)"; }
    # shellcheck disable=SC2086
    retry 3 in_chroot apt-get $apt_opts install -y --no-install-recommends $packages >>"$log" 2>&1 \
        || { tail -20 "$log" >&2; die "installing the packages failed in $dir (log: $log)"; }
    in_chroot apt-get clean
    t2=$(date +%s)
    got=$(in_chroot dpkg-query -W -f='${Version}' libwireshark-dev)
    case "$got" in
        "$want_ws".*) ;;
        *) die "$suite installs Wireshark $got, not $want_ws; pin an older $suite with
MQTTLENS_SID_MIRROR=https://snapshot.debian.org/archive/debian/20261201T000000Z" ;;
    esac
    echo "$recipe" >"$stamp"
    echo "chroot.sh: $suite ready: Wireshark $got; debootstrap $((t1 - t0)) s, packages $((t2 - t1)) s"
}

case "$action" in
    create) create ;;
    run)
        [ $# -gt 0 ] || usage
        [ -f "$stamp" ] || die "$dir is not ready: run '$0 create $suite' first"
        in_chroot "$@"
        ;;
    remove) remove ;;
    *) usage ;;
esac
