#!/bin/sh
# Runs INSIDE the vcan guest: `edgewise obd scan --can vcan0` against ECUs simulated in another
# process on the same bus (ISO-TP over the kernel's SocketCAN). Prints `OBDTEST_RESULT {json}`.
set -u
node test/vcan/obd-ecu.mjs vcan0 &
ECU=$!
# the guest is an emulated CPU: give the ECU time to start and answers time to come back
sleep 8
OUT=$(node dist/cli/main.js obd scan --can vcan0 --p2 3000 2>/tmp/obd-scan.err)
RC=$?
kill $ECU 2>/dev/null
if [ $RC -ne 0 ]; then echo "obd scan failed ($RC):"; cat /tmp/obd-scan.err; exit 12; fi
echo "OBDTEST_RESULT $(echo "$OUT" | tr -d '\n')"
