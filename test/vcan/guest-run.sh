#!/bin/sh
# Runs INSIDE the vcan guest (scripts/vcan-vm/run.sh), from the repository root.
#
#   test/vcan/guest-run.sh DIR LOG SPEED LIMIT STALL_AT_S STALL_MS FDLOG
#
# DIR holds config1.yaml [config2.yaml ...] prepared by the test: each a socketcan source on
# vcan0 with statusSocket /tmp/ewN.sock. Steps:
#  1. start one `edgewise run` per config, and `edgewise replay` waiting on a FIFO (their node
#     start-ups overlap, which matters under an emulated CPU);
#  2. when every daemon answers on its status socket, feed the log: replay at SPEED, LIMIT frames
#     STALL_AT_S s later freeze all daemons (SIGSTOP) for STALL_MS ms;
#  3. wait until the daemons' counts settle;
#  4. `ip link set vcan0 down`, wait for daemon 1 to report the source down, set it up again as a
#     CAN FD bus (mtu 72), wait for open, then `edgewise replay FDLOG --map can0=vcan0,can1=vcan1`
#     (classic and CAN FD frames; vcan1 is read by daemon 1 too) while candump records both buses;
#     wait for daemon 1 to count them.
# Prints one line `VCANTEST_RESULT {json}` for the test to check.
set -u
DIR="$1"; LOG="$2"; SPEED="$3"; LIMIT="$4"; STALL_AT="$5"; STALL_MS="$6"; FDLOG="$7"
EW="node $(pwd)/dist/cli/main.js"
ST="node $(pwd)/test/vcan/status.cjs"
up() { cut -d' ' -f1 /proc/uptime; }
T0=$(up)
say() { echo "[$(awk -v a="$T0" -v b="$(up)" 'BEGIN{printf "%6.1f", b-a}') s] $*" >&2; }

n=0; PIDS=""
for cfg in "$DIR"/config*.yaml; do
  n=$((n + 1))
  $EW run -c "$cfg" >"$DIR/daemon$n.log" 2>&1 &
  PIDS="$PIDS $!"
done
FIFO=/tmp/replay.fifo
rm -f "$FIFO"; mkfifo "$FIFO"
$EW replay "$FIFO" --iface vcan0 --speed "$SPEED" --limit "$LIMIT" --json --no-progress >"$DIR/replay.json" 2>"$DIR/replay.err" &
RPID=$!
say "started $n daemon(s) and the replay"

for i in $(seq 1 $n); do
  ok=""
  for _ in $(seq 1 240); do
    [ -S "/tmp/ew$i.sock" ] && { ok=1; break; }
    sleep 0.5
  done
  [ -n "$ok" ] && $ST "/tmp/ew$i.sock" state=open 60 >/dev/null || { echo "daemon $i did not become ready:"; cat "$DIR/daemon$i.log"; exit 11; }
done
say "daemons ready; feeding the log"
# A log the guest cannot see fails here, saying why (not later as "0 frames").
[ -r "$LOG" ] || { echo "vcan guest: cannot read $LOG in the guest (/tmp, /run and /var/tmp are empty there; see scripts/vcan-vm/run.sh)"; exit 12; }
cat "$LOG" >"$FIFO" &
FEED=$!

STALLER=""
if [ "$STALL_MS" -gt 0 ]; then
  (
    sleep "$STALL_AT"
    # Freeze every daemon at once: its event loop (and everything else) stops, the kernel queues.
    kill -STOP $PIDS
    sleep "$(awk -v ms="$STALL_MS" 'BEGIN{printf "%.3f", ms/1000}')"
    kill -CONT $PIDS
    say "froze the daemons for ${STALL_MS} ms"
  ) &
  STALLER=$!
fi
wait "$RPID"; RRC=$?
kill "$FEED" 2>/dev/null
[ -n "$STALLER" ] && wait "$STALLER"
say "replay done (exit $RRC)"

DAEMONS=""
for i in $(seq 1 $n); do
  s="$($ST "/tmp/ew$i.sock" stable 60)"
  DAEMONS="$DAEMONS${DAEMONS:+,}${s:-null}"
done
say "daemon counts settled"

# Interface down / up: the source reports it and recovers.
ip link set vcan0 down
DOWN="$($ST /tmp/ew1.sock state=down 30)"
say "vcan0 down -> daemon reports: $DOWN"
ip link set vcan0 mtu 72 up
REOPEN="$($ST /tmp/ew1.sock state=open 30)"
say "vcan0 up -> daemon reports: $REOPEN"
BEFORE="$(echo "$REOPEN" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).source.frames)}catch{console.log(-1)}})')"
NFD=$(grep -c . "$FDLOG")
candump -L -n "$NFD" vcan0 vcan1 >/tmp/candump.out &
CD=$!
sleep 0.5
$EW replay "$FDLOG" --map can0=vcan0,can1=vcan1 --speed max --json --no-progress >"$DIR/replay-fd.json" 2>"$DIR/replay-fd.err"
( sleep 20; kill $CD 2>/dev/null ) &
wait $CD
AFTER="$($ST /tmp/ew1.sock "frames>=$((BEFORE + NFD))" 30)"
say "after replaying $NFD classic and CAN FD frames onto vcan0 and vcan1: $AFTER"

printf 'VCANTEST_RESULT {"replayExit":%s,"replay":%s,"daemons":[%s],"down":%s,"reopen":%s,"afterUp":%s,"framesBeforeUp":%s,"replayFd":%s,"candump":%s,"canStats":"%s"}\n' \
  "$RRC" "$(grep . "$DIR/replay.json" 2>/dev/null || echo null)" "$DAEMONS" "${DOWN:-null}" "${REOPEN:-null}" "${AFTER:-null}" "$BEFORE" "$(grep . "$DIR/replay-fd.json" || echo null)" \
  "$(node -e 'console.log(JSON.stringify(require("fs").readFileSync("/tmp/candump.out","latin1").split("\n").filter(Boolean)))')" \
  "$(grep -E 'transmitted|received' /proc/net/can/stats | tr -s ' ' | tr '\n' ';')"
kill -TERM $PIDS 2>/dev/null
for p in $PIDS; do wait "$p"; done
cat "$DIR/replay.err" "$DIR/replay-fd.err" >&2
for i in $(seq 1 $n); do grep -E '"level":(40|50|60)' "$DIR/daemon$i.log" | head -5 >&2; done
exit 0
