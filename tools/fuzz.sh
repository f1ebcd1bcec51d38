#!/bin/sh
# Fuzzes mqttlens with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer (clang from Debian):
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
# builds the targets in build-fuzz/, writes the seed corpus from pcaps/
# (tests/fuzz/make_corpus.py) into build-fuzz/corpus/, replays the
# regression inputs of tests/fuzz/regressions/, then runs each target for
# SECONDS (default 60) on the corpus, all targets at the same time.
# Targets: fuzz_core (decoding, checks, connection analysis without
# libwireshark) and fuzz_epan (the whole plugin through libwireshark's TCP
# reassembly, two passes).  New corpus entries stay in
# build-fuzz/corpus/TARGET; a crashing input is written to
# build-fuzz/crash-* and the script fails.  docs/fuzzing.md
# describes the longer campaign.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_core fuzz_epan}

tools/deps.sh test
# fuzz_epan has the plugin's code built in; libwireshark would also load an
# installed copy and register the protocol twice.
for dir in "$(pkg-config --variable=plugindir wireshark)/epan" "${HOME:-/nonexistent}/.local/lib/wireshark/plugins"; do
    if find "$dir" -name mqttlens.so 2>/dev/null | grep -q .; then
        echo "fuzz.sh: mqttlens is installed under $dir; uninstall it first (fuzz_epan contains it)" >&2
        exit 1
    fi
done
CC=clang cmake -S . -B build-fuzz -DMQTTLENS_FUZZ=ON -DMQTTLENS_SANITIZE=ON -DMQTTLENS_TESTS=OFF \
    -DMQTTLENS_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)"

if [ ! -d build-fuzz/corpus/seeds ]; then
    /usr/bin/python3 tests/fuzz/make_corpus.py build-fuzz/corpus/seeds.tmp
    mv build-fuzz/corpus/seeds.tmp build-fuzz/corpus/seeds
fi

# Leak checking is off: libwireshark keeps its registrations until exit,
# and LeakSanitizer's scan at every input would slow fuzz_epan a hundredfold.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-fuzz
# fuzz T: the regression inputs, then SECONDS of fuzzing (one process,
# single-threaded); its output goes to T.log.
fuzz() {
    t=$1
    {
        echo "== $t: regression inputs"
        ./tests/fuzz/"$t" -runs=0 "$top"/tests/fuzz/regressions/* &&
        echo "== $t: ${seconds}s" &&
        mkdir -p corpus/"$t" &&
        ./tests/fuzz/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="$PWD/" corpus/"$t" corpus/seeds
    } >"$t.log" 2>&1
}
# The targets fuzz at the same time, one per processor (each is one
# process); their logs are printed once all have ended.
pids=""
for t in $targets; do
    fuzz "$t" &
    pids="$pids $!"
done
status=0
for pid in $pids; do
    wait "$pid" || status=1
done
for t in $targets; do
    cat "$t.log"
done
exit $status
