#!/usr/bin/env bash
# Configure real CAN interfaces (MCP2515 HAT, NXP FlexCAN/LLCE, USB adapters) for edgewise:
# bitrate, CAN FD data bitrate, bus-off auto restart, queue length; now and at every boot.
#
#   sudo scripts/setup-can.sh --bitrate 500000 --listen-only can0      # on a vehicle: never transmit
#   sudo scripts/setup-can.sh --bitrate 500000 --dbitrate 2000000 can0 can1 can2 can3
#   scripts/setup-can.sh --prefix /tmp/root --no-apply --bitrate 250000 can0     # files only (tests)
#
# For each interface it writes /etc/edgewise/can/<if>.env and enables edgewise-can@<if>.service,
# a oneshot unit that sets the interface up when its network device appears (so USB adapters
# plugged in later work too) and is ordered before edgewise.service. The agent itself never
# needs CAP_NET_ADMIN. For virtual buses on a bench use scripts/setup-vcan.sh instead.
set -euo pipefail

BITRATE=""
DBITRATE=""
RESTART_MS=100
TXQUEUELEN=1000
PREFIX=""
APPLY=yes
LISTEN_ONLY=no
IFACES=()

usage() {
  echo "usage: setup-can.sh --bitrate BPS [--dbitrate BPS] [--restart-ms MS] [--txqueuelen N] [--prefix DIR] [--no-apply] IFACE..."
  echo
  echo "  --bitrate BPS     nominal (arbitration) bitrate: 125000, 250000, 500000 (most cars), 1000000"
  echo "  --dbitrate BPS    CAN FD data-phase bitrate (enables FD), e.g. 2000000 or 5000000"
  echo "  --restart-ms MS   automatic restart after bus-off (default 100; 0 = stay off)"
  echo "  --txqueuelen N    transmit queue length (default 1000)"
  echo "  --prefix DIR      write the files into DIR instead of / (implies --no-apply)"
  echo "  --no-apply        write and enable the configuration, do not touch the interfaces now"
  echo "  --listen-only     never transmit, not even ACK bits: the safe mode on a vehicle bus that has"
  echo "                    other nodes (do not use alone on a bench: nobody would ACK the sender)"
  echo
  echo "The bitrate must match the bus: a wrong one shows as no frames plus error counters in"
  echo "'ip -details -statistics link show can0' (and can disturb the vehicle's bus: listen-only first)."
}
die() { echo "setup-can.sh: $*" >&2; exit 1; }
say() { echo "setup-can.sh: $*"; }
is_num() { [[ "$1" =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
  case "$1" in
    --bitrate) BITRATE="${2:-}"; shift 2 ;;
    --dbitrate) DBITRATE="${2:-}"; shift 2 ;;
    --restart-ms) RESTART_MS="${2:-}"; shift 2 ;;
    --txqueuelen) TXQUEUELEN="${2:-}"; shift 2 ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; APPLY=no; shift 2 ;;
    --no-apply) APPLY=no; shift ;;
    --listen-only) LISTEN_ONLY=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) IFACES+=("$1"); shift ;;
  esac
done

is_num "$BITRATE" && [ "$BITRATE" -gt 0 ] && [ "$BITRATE" -le 1000000 ] || die "--bitrate must be 1..1000000 bit/s (got '${BITRATE}')"
[ -z "$DBITRATE" ] || { is_num "$DBITRATE" && [ "$DBITRATE" -ge "$BITRATE" ] && [ "$DBITRATE" -le 15000000 ]; } || die "--dbitrate must be between --bitrate and 15000000 (got '$DBITRATE')"
is_num "$RESTART_MS" || die "--restart-ms must be a number of milliseconds"
is_num "$TXQUEUELEN" && [ "$TXQUEUELEN" -gt 0 ] || die "--txqueuelen must be a positive number"
[ "${#IFACES[@]}" -gt 0 ] || { usage >&2; die "name at least one interface (can0 ...)"; }
for i in "${IFACES[@]}"; do
  [[ "$i" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "not an interface name: $i"
done
if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
fi
[ -n "$PREFIX" ] || [ "$(id -u)" = 0 ] || die "run as root (or use --prefix DIR)"
R="$PREFIX"

CAN_ARGS="bitrate $BITRATE"
if [ -n "$DBITRATE" ]; then CAN_ARGS="$CAN_ARGS dbitrate $DBITRATE fd on"; else CAN_ARGS="$CAN_ARGS fd off"; fi
CAN_ARGS="$CAN_ARGS restart-ms $RESTART_MS"
if [ "$LISTEN_ONLY" = yes ]; then CAN_ARGS="$CAN_ARGS listen-only on"; else CAN_ARGS="$CAN_ARGS listen-only off"; fi

mkdir -p "$R/etc/edgewise/can" "$R/etc/systemd/system"
cat >"$R/etc/systemd/system/edgewise-can@.service" <<'UNIT'
# Written by edgewise scripts/setup-can.sh: bring up CAN interface %i with the settings in
# /etc/edgewise/can/%i.env when its network device appears.
[Unit]
Description=edgewise: configure CAN interface %i
BindsTo=sys-subsystem-net-devices-%i.device
After=sys-subsystem-net-devices-%i.device
Before=edgewise.service

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/edgewise/can/%i.env
ExecStart=/sbin/ip link set %i down
ExecStart=/sbin/ip link set %i type can $CAN_ARGS
ExecStart=/sbin/ip link set %i txqueuelen ${TXQUEUELEN} up
ExecStop=/sbin/ip link set %i down

[Install]
WantedBy=sys-subsystem-net-devices-%i.device multi-user.target
UNIT
chmod 0644 "$R/etc/systemd/system/edgewise-can@.service"

# edgewise asks for an 8 MiB receive buffer per CAN socket (~5 s of frames at 4,000 frames/s, so an
# event-loop pause loses nothing); an unprivileged process gets at most net.core.rmem_max.
mkdir -p "$R/etc/sysctl.d"
printf '# written by edgewise scripts/setup-can.sh: room for edgewise'"'"'s CAN receive buffers\nnet.core.rmem_max = 8388608\n' \
  >"$R/etc/sysctl.d/60-edgewise-can.conf"
chmod 0644 "$R/etc/sysctl.d/60-edgewise-can.conf"
if [ "$APPLY" = yes ] && [ -w /proc/sys/net/core/rmem_max ] && [ "$(cat /proc/sys/net/core/rmem_max)" -lt 8388608 ]; then
  echo 8388608 >/proc/sys/net/core/rmem_max
  say "net.core.rmem_max raised to 8388608"
fi

for i in "${IFACES[@]}"; do
  printf '# %s: written by scripts/setup-can.sh\nCAN_ARGS=%s\nTXQUEUELEN=%s\n' "$i" "$CAN_ARGS" "$TXQUEUELEN" >"$R/etc/edgewise/can/$i.env"
  chmod 0644 "$R/etc/edgewise/can/$i.env"
  say "$i: $CAN_ARGS txqueuelen $TXQUEUELEN"
done

if [ -z "$PREFIX" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  for i in "${IFACES[@]}"; do systemctl enable "edgewise-can@$i.service" >/dev/null; done
  say "enabled edgewise-can@{${IFACES[*]}}.service (applied at every boot / hotplug)"
else
  why="no systemd"
  [ -z "$PREFIX" ] || why="prefix"
  for i in "${IFACES[@]}"; do say "skipped ($why): systemctl enable edgewise-can@$i.service"; done
fi

if [ "$APPLY" = yes ]; then
  command -v ip >/dev/null || die "ip (iproute2) not found"
  for i in "${IFACES[@]}"; do
    ip link show "$i" >/dev/null 2>&1 || { say "$i: no such interface yet (configured when it appears; check the overlay/driver: dmesg | grep -i can)"; continue; }
    ip link set "$i" down
    # shellcheck disable=SC2086 # word splitting of the argument list is intended
    ip link set "$i" type can $CAN_ARGS
    ip link set "$i" txqueuelen "$TXQUEUELEN" up
    say "$i is up: $(ip -details link show "$i" | grep -o 'bitrate [0-9]*' | head -1)"
  done
fi
