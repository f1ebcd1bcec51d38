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
jobs=$(nproc)
tests=${MQTTLENS_VERSION_TESTS:-'^(unit/|captures/|interop/|docs/)'}
[ $# -gt 0 ] || set -- 4.4 4.6

# Updating baselines writes into the source tree.
[ -z "${MQTTLENS_UPDATE_BASELINES:-}" ] || export MQTTLENS_SOURCE_RW=1
failed=""
for version in "$@"; do
    case "$version" in
        4.4) suite=trixie ;;
        4.6) suite=sid ;;
        *) echo "test-versions.sh: no chroot for Wireshark '$version' (4.4 or 4.6)" >&2; exit 2 ;;
    esac
    echo "==== Wireshark $version ($suite chroot): prepare"
    t0=$(date +%s)
    if ! tools/chroot.sh create "$suite"; then
        failed="$failed $version(chroot)"
        continue
    fi
    t1=$(date +%s)
    echo "==== Wireshark $version: build (-Werror)"
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
    echo "==== Wireshark $version: ctest -R '$tests'"
    if ! tools/chroot.sh run "$suite" env MQTTLENS_UPDATE_BASELINES="${MQTTLENS_UPDATE_BASELINES:-}" \
            sh -c 'cd /mqttlens/build && ctest --output-on-failure -j"$1" -R "$2"' sh "$jobs" "$tests"; then
        failed="$failed $version(tests)"
    fi
    t3=$(date +%s)
    echo "==== Wireshark $version: chroot $((t1 - t0)) s, build $((t2 - t1)) s, tests $((t3 - t2)) s"
done

if [ -n "$failed" ]; then
    echo "test-versions.sh: failed:$failed" >&2
    exit 1
fi
