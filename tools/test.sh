#!/bin/sh
# Runs every mqttlens test; installs what is missing first.
#
#   tools/test.sh [--quick] [CTEST ARGS...]
#
# 1. build/       the plugin as shipped (warnings are errors); ctest runs the
#                 unit tests, dissects every capture once per mode
#                 (captures/dissect) for the capture tests, the comparison
#                 with Wireshark's built-in MQTT dissector and the peers'
#                 expected outputs, the bounds on state and one valgrind
#                 memcheck run;
# 2. build-asan/  the same plugin with AddressSanitizer and
#                 UndefinedBehaviorSanitizer: the unit tests, the merged
#                 corpus under a matrix of preferences and taps, the bounds
#                 and mutation testing of every capture (editcap -E);
# 3. build-fuzz/  both libFuzzer targets for MQTTLENS_FUZZ_SECONDS each
#                 (default 60; tools/fuzz.sh).
# --quick is the developer's loop: build/ with the unit, capture and docs
# tests (ctest -L 'unit|captures|docs'), every capture dissected in two
# passes only (MQTTLENS_QUICK=1: the tree and the Info column); what needs
# a one-pass run, the built-in dissector, the taps, the peers, valgrind,
# the sanitizers, fuzzing or another version is left to the full run.
# CTEST ARGS (e.g. -R unit, -L captures) go to each ctest run and skip the
# fuzzing.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=no
if [ "${1:-}" = "--quick" ]; then
    quick=yes
    shift
fi
jobs=$(nproc)
t0=$(date +%s)
# took WHAT: how long the run has taken so far (docs/testing.md's times).
took() {
    echo "==== $1: done after $(($(date +%s) - t0)) s"
}

tools/deps.sh test
took "installs"
# The chroots of the other Wireshark versions (tools/test-versions.sh, at
# the end) wait mostly on the mirror and the disk: when they are not made
# yet, make them while the tests below use the processors.
if [ "$quick" = no ] && [ $# -eq 0 ]; then
    mkdir -p build
    for suite in trixie sid; do
        tools/chroot.sh create "$suite" >"build/chroot-$suite.log" 2>&1 &
    done
fi

# suite DIR SANITIZE [CTEST ARGS...]
suite() {
    dir=$1
    sanitize=$2
    shift 2
    echo "==== $dir: build and ctest"
    cmake -S . -B "$dir" -DMQTTLENS_WERROR=ON -DMQTTLENS_TESTS=ON -DMQTTLENS_SANITIZE="$sanitize" >/dev/null
    cmake --build "$dir" -j"$jobs"
    took "$dir: build"
    (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@")
    took "$dir: ctest"
}

if [ "$quick" = yes ]; then
    export MQTTLENS_QUICK=1
    suite build OFF -L 'unit|captures|docs' "$@"
    exit 0
fi
suite build OFF "$@"
suite build-asan ON "$@"
[ $# -gt 0 ] && exit 0
echo "==== fuzzing"
tools/fuzz.sh "${MQTTLENS_FUZZ_SECONDS:-60}"
took "fuzzing"
tools/test-versions.sh   # Wireshark 4.4 and 4.6 in Debian chroots (docs/testing.md)
took "other Wireshark versions"
