#!/bin/sh
# Runs every mqttlens test: installs what is missing, builds (warnings are
# errors), then runs ctest (unit tests, one tshark test per capture, the
# comparison with Wireshark's built-in MQTT dissector, the peers' expected
# outputs, fuzzing smoke runs).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/deps.sh test
cmake -S . -B build -DMQTTLENS_WERROR=ON -DMQTTLENS_TESTS=ON
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
