#!/bin/sh
# Runs INSIDE the vcan guest: `edgewise obd scan --can vcan0` against ECUs simulated in another
# process on the same bus (ISO-TP over the kernel's SocketCAN). Prints `OBDTEST_RESULT {json}`.
set -u
node test/vcan/obd-ecu.mjs vcan0 2>/tmp/obd-ecu.err &
ECU=$!
# The guest is an emulated CPU (slower still on a busy host): wait until the ECU says it answers.
for _ in $(seq 1 120); do
  grep -q 'answering on' /tmp/obd-ecu.err 2>/dev/null && break
  kill -0 $ECU 2>/dev/null || break
  sleep 0.5
done
grep -q 'answering on' /tmp/obd-ecu.err || { echo "simulated ECU did not start:"; cat /tmp/obd-ecu.err; exit 13; }
OUT=$(node dist/cli/main.js obd scan --can vcan0 --p2 3000 2>/tmp/obd-scan.err)
RC=$?
kill $ECU 2>/dev/null
if [ $RC -ne 0 ]; then echo "obd scan failed ($RC):"; cat /tmp/obd-scan.err; exit 12; fi
echo "OBDTEST_RESULT $(echo "$OUT" | tr -d '\n')"
