#!/bin/sh
# Runs INSIDE the vcan guest (scripts/vcan-vm/run.sh), from the repository root:
# one or more edgewise daemons read vcan0 while `edgewise replay` plays a log onto it, optionally
# freezing the daemons (SIGSTOP) for a while; then prints one line `VCANTEST_RESULT {json}`.
#
#   test/vcan/guest-run.sh LOG DBC SPEED LIMIT [STALL_AT_S STALL_MS] -- RCVBUF...
#   e.g. guest-run.sh log.gz toyota.dbc 1.2 250000 0 0 -- 8388608
#
# Each RCVBUF starts one daemon whose socketcan source asks for that receive buffer (0 = kernel default).
set -u
LOG="$1"; DBC="$2"; SPEED="$3"; LIMIT="$4"; STALL_AT="${5:-0}"; STALL_MS="${6:-0}"
shift 6; [ "${1:-}" = -- ] && shift
EW="node $(pwd)/dist/cli/main.js"
T=/tmp/ewtest
rm -rf "$T"; mkdir -p "$T/campaigns"
$EW manifest init --dbc "can0=$DBC" --output "$T/manifest.yaml" >/dev/null || exit 10

n=0; PIDS=""
for RCVBUF in "$@"; do
  n=$((n + 1))
  cat >"$T/config$n.yaml" <<CFG
vehicle: { name: vcan-test-$n }
manifest: manifest.yaml
campaigns: { dir: campaigns }
sources:
  - { type: socketcan, interface: vcan0, map: { vcan0: can0 }, receiveBufferBytes: $RCVBUF }
store: { dir: store$n }
upload: { enabled: false }
log: { level: info }
statusSocket: ew$n.sock
CFG
  $EW run -c "$T/config$n.yaml" >"$T/daemon$n.log" 2>&1 &
  PIDS="$PIDS $!"
done

status() { $EW status --socket "$T/ew$1.sock" --json --timeout 10000 2>/dev/null; }
# Wait until every daemon answers on its status socket (sources open).
for i in $(seq 1 $n); do
  ok=""
  for _ in $(seq 1 300); do
    if status "$i" >/dev/null; then ok=1; break; fi
    sleep 0.2
  done
  [ -n "$ok" ] || { echo "daemon $i did not become ready:"; cat "$T/daemon$i.log"; exit 11; }
done

if [ "$STALL_MS" -gt 0 ]; then
  (
    sleep "$STALL_AT"
    # Freeze every daemon at once: its event loop (and everything else) stops, the kernel queues.
    kill -STOP $PIDS
    sleep "$(awk -v ms="$STALL_MS" 'BEGIN{printf "%.3f", ms/1000}')"
    kill -CONT $PIDS
    echo "stalled daemons for ${STALL_MS} ms" >&2
  ) &
  STALLER=$!
fi

$EW replay "$LOG" --iface vcan0 --speed "$SPEED" --limit "$LIMIT" --json >"$T/replay.json" 2>"$T/replay.err"
RRC=$?
[ "$STALL_MS" -gt 0 ] && wait "$STALLER"

# Let the daemons drain their socket queues: wait until the frame counts stop moving.
for i in $(seq 1 $n); do
  last=-1
  for _ in $(seq 1 60); do
    cur="$(status "$i" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log(j.sources[0].frames+(j.sources[0].dropped??0))}catch{console.log(-2)}})')"
    [ "$cur" = "$last" ] && break
    last="$cur"
    sleep 0.5
  done
done

{
  printf 'VCANTEST_RESULT {"replayExit":%s,"replay":%s,"daemons":[' "$RRC" "$(cat "$T/replay.json" 2>/dev/null || echo null)"
  for i in $(seq 1 $n); do
    [ "$i" -gt 1 ] && printf ','
    s="$(status "$i")"; printf '%s' "${s:-null}"
  done
  printf '],"canStats":"%s","softnetDropped":"%s"}\n' \
    "$(grep -E 'transmitted|received' /proc/net/can/stats | tr -s ' ' | tr '\n' ';')" \
    "$(awk '{print $2}' /proc/net/softnet_stat | tr '\n' ' ')"
}
kill -TERM $PIDS 2>/dev/null
for p in $PIDS; do wait "$p"; done
cat "$T/replay.err" >&2
for i in $(seq 1 $n); do grep -E '"level":(40|50|60)' "$T/daemon$i.log" | head -5 >&2; done
exit 0
