#!/bin/sh
# Runs CI as it would run on a fresh Debian 12 machine, and times it:
#
#   tools/fresh-machine.sh [COMMIT]
#
# makes a pristine Debian 12 (bookworm) with debootstrap --variant=minbase,
# clones this repository's COMMIT (default HEAD) into it, puts ../shared
# beside the clone (read-only) when it exists, and runs `.ci/run` in it as
# root with no stdin and CI=true.  Nothing is installed yet in there:
# tools/deps.sh installs every package, and tools/chroot.sh makes the 4.4
# and 4.6 chroots from scratch inside it.  The log goes to
# $MQTTLENS_FRESH/ci.log (default /var/tmp/mqttlens-fresh), with
# tools/test.sh's "done after N s" lines; the folder is deleted first and
# kept afterwards for inspection.  Needs root, debootstrap and the Debian
# mirror ($MQTTLENS_MIRROR, default http://deb.debian.org/debian).
# docs/testing.md gives the times it measured.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$top" rev-parse "${1:-HEAD}")
dir=${MQTTLENS_FRESH:-/var/tmp/mqttlens-fresh}
mirror=${MQTTLENS_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "fresh-machine.sh: needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap

if [ -e "$dir" ] && grep -q " $dir[/ ]" /proc/self/mounts; then
    echo "fresh-machine.sh: $dir has mounts below it" >&2
    exit 1
fi
rm -rf "$dir"
mkdir -p "$dir"
t0=$(date +%s)
debootstrap --variant=minbase bookworm "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1
echo "==== debootstrap of Debian 12: $(($(date +%s) - t0)) s" | tee "$dir/ci.log"
mkdir -p "$dir/root/ci"
git clone -q "$top" "$dir/root/ci/mqttlens"
git -C "$dir/root/ci/mqttlens" checkout -q "$commit"
shared=$top/../shared
[ -d "$shared" ] && mkdir -p "$dir/root/ci/shared"
cp /etc/resolv.conf "$dir/root/etc/resolv.conf"

t1=$(date +%s)
status=0
unshare -m --propagation private sh -euc '
    dir=$1; shared=$2
    # Its root is a mount point, as on a machine (unshare --propagation,
    # which tools/chroot.sh uses, needs one).
    mount --bind "$dir/root" "$dir/root"
    mount -t proc proc "$dir/root/proc"
    mount --rbind /dev "$dir/root/dev"
    mount --rbind /sys "$dir/root/sys"
    mount -t tmpfs tmpfs "$dir/root/tmp"
    if [ -d "$dir/root/ci/shared" ]; then
        mount --bind "$shared" "$dir/root/ci/shared"
        mount -o remount,bind,ro "$dir/root/ci/shared"
    fi
    exec chroot "$dir/root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 CI=true \
        sh -c "cd /ci/mqttlens && .ci/run" </dev/null
' sh "$dir" "$shared" >>"$dir/ci.log" 2>&1 || status=$?
echo "==== .ci/run in the fresh Debian 12: exit $status after $(($(date +%s) - t1)) s" | tee -a "$dir/ci.log"
grep "^==== " "$dir/ci.log"
exit $status
