#!/bin/sh
# Builds mqttlens and shows it at work on a bundled capture: MQTT 5.0
# publishes at QoS 0, 1 and 2 recorded from a real mosquitto broker.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/deps.sh build
cmake -S . -B build >/dev/null
cmake --build build --target mqttlens -j"$(nproc)" >/dev/null
capture=pcaps/lab/publish-qos012-v5.pcapng
logins=pcaps/lab/auth-v5.pcapng
echo "== Capture: $capture (pcaps/README.md says how it was recorded)"
echo

echo "== Every MQTT packet, with the frame each one answers (two passes: -2)"
tools/tshark-mqttlens -2 -r "$capture" -Y mqttlens -T fields -E header=y \
    -e frame.number -e _ws.col.Info -e mqttlens.clientid -e mqttlens.response_in -e mqttlens.response_to \
    -e mqttlens.response_time

echo
echo "== The QoS 2 flow's last step in detail"
tools/tshark-mqttlens -2 -r "$capture" -Y 'mqttlens.type == 7' -O mqttlens -V -c 1000 |
    sed -n '/^MQ Telemetry Transport (mqttlens)/,/^$/p' | head -n 40

echo
echo "== Expert information (what mqttlens noticed)"
tools/tshark-mqttlens -2 -r "$capture" -q -z expert,note

echo
echo "== The flow graph: one lifeline per client connection and per broker"
tools/tshark-mqttlens -r "$capture" -q -z flow,mqttlens,standard

echo
echo "== Logins in $logins: accepted, refused (with the reason), anonymous"
tools/tshark-mqttlens -r "$logins" -q -z credentials
