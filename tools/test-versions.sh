#!/bin/sh
# Builds mqttlens against the other Wireshark versions it supports and runs
# the tests that depend on the version, each in a Debian chroot
# (tools/chroot.sh makes them once per machine):
#
#   tools/test-versions.sh [VERSION...]     VERSION: 4.4 (Debian 13), 4.6 (sid);
#                                           default both
#
# For each: a fresh build with warnings as errors, then ctest's unit,
# capture (baselines, links, rules, taps), interop (built-in dissector,
# peers) and docs tests; MQTTLENS_VERSION_TESTS (a ctest -R regex)
# changes the selection.  Needs root.  Exits non-zero when any failed, after
# trying every version.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "test-versions.sh: needs root (debootstrap, chroot)" >&2; exit 1; }
    exec sudo "$0" "$@"
fi
jobs=$(nproc)
# What runs where (docs/testing.md, "Other Wireshark versions"): on 4.4 and
# 4.6 the same: the unit, capture (dissect, baselines, links, rules, taps,
# journeys, labels), interop (builtin, peers) and docs tests.
tests_of() {
    echo "${MQTTLENS_VERSION_TESTS:-^(unit/|captures/|interop/|docs/)}"
}
[ $# -gt 0 ] || set -- 4.4 4.6

suite_of() {
    case "$1" in
        4.4) echo trixie ;;
        4.6) echo sid ;;
        *) echo "test-versions.sh: no chroot for Wireshark '$1' (4.4 or 4.6)" >&2; exit 2 ;;
    esac
}

# Making a chroot waits mostly on the mirror and the disk: make them all at
# once, before the builds and tests need the processors.
t0=$(date +%s)
pids=""
for version in "$@"; do
    suite=$(suite_of "$version")
    tools/chroot.sh create "$suite" &
    pids="$pids $!"
done
for pid in $pids; do
    wait "$pid" || true
done
echo "==== chroots ready or failed after $(($(date +%s) - t0)) s"

# Updating baselines writes into the source tree.
[ -z "${MQTTLENS_UPDATE_BASELINES:-}" ] || export MQTTLENS_SOURCE_RW=1
failed=""
for version in "$@"; do
    suite=$(suite_of "$version")
    # Says why when the chroot could not be made above.
    if ! tools/chroot.sh create "$suite"; then
        failed="$failed $version(chroot)"
        continue
    fi
    t1=$(date +%s)
    echo "==== Wireshark $version ($suite chroot): build (-Werror)"
    # A fresh build folder each time: the chroot outlives the checkout.
    if ! tools/chroot.sh run "$suite" sh -euc '
            rm -rf /mqttlens/build
            cmake -S /mqttlens/src -B /mqttlens/build -DMQTTLENS_WERROR=ON -DMQTTLENS_TESTS=ON >/dev/null
            cmake --build /mqttlens/build -j"$1" >/mqttlens/build.log 2>&1 || { cat /mqttlens/build.log; exit 1; }
            echo "built: $(ls /mqttlens/build/plugins/*/epan/mqttlens.so)"' sh "$jobs"; then
        failed="$failed $version(build)"
        continue
    fi
    t2=$(date +%s)
    tests=$(tests_of "$version")
    echo "==== Wireshark $version: ctest -R '$tests'"
    if ! tools/chroot.sh run "$suite" env MQTTLENS_UPDATE_BASELINES="${MQTTLENS_UPDATE_BASELINES:-}" \
            sh -c 'cd /mqttlens/build && ctest --output-on-failure -j"$1" -R "$2"' sh "$jobs" "$tests"; then
        failed="$failed $version(tests)"
    fi
    t3=$(date +%s)
    echo "==== Wireshark $version: build $((t2 - t1)) s, tests $((t3 - t2)) s"
done

if [ -n "$failed" ]; then
    echo "test-versions.sh: failed:$failed" >&2
    exit 1
fi
