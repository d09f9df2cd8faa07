#!/usr/bin/env bash
# Virtual CAN buses for a bench or CI: load the SocketCAN modules, create vcanN interfaces, raise
# the socket receive-buffer limit edgewise asks for, and (unless --no-persist) keep all of it
# across reboots.
#
#   sudo scripts/setup-vcan.sh                      # vcan0, classic CAN
#   sudo scripts/setup-vcan.sh --fd vcan0 vcan1     # two buses that also carry CAN FD frames
#   scripts/setup-vcan.sh --prefix /tmp/root vcan0  # write the persistent files only (tests)
#
# Then replay a recorded log onto it:  edgewise replay drive.log.gz --iface vcan0
# For real buses (MCP2515 HAT, GoldBox FlexCAN) use scripts/setup-can.sh; see docs/can.md.
set -euo pipefail

FD=no
PERSIST=yes
PREFIX=""
# edgewise's socketcan source asks for an 8 MiB receive buffer per socket (the kernel doubles it:
# ~21,000 frames, ~5 s at 4,000 frames/s). Unprivileged processes get at most net.core.rmem_max.
RMEM_MAX=8388608
IFACES=()

usage() {
  echo "usage: setup-vcan.sh [--fd] [--rmem-max BYTES] [--no-persist] [--prefix DIR] [IFACE...]   (default IFACE: vcan0)"
  echo
  echo "  --fd              set MTU 72 so the interface carries CAN FD frames too"
  echo "  --rmem-max BYTES  raise net.core.rmem_max to at least BYTES (default 8388608; 0 = leave it)"
  echo "  --no-persist      configure now only; do not write /etc files"
  echo "  --prefix DIR      write the persistent files under DIR and touch nothing live"
}
die() { echo "setup-vcan.sh: $*" >&2; exit 1; }
say() { echo "setup-vcan.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --fd) FD=yes; shift ;;
    --rmem-max) RMEM_MAX="${2:-}"; shift 2 ;;
    --no-persist) PERSIST=no; shift ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option: $1" ;;
    *) IFACES+=("$1"); shift ;;
  esac
done
# Also accept a comma-separated list (the VM rig passes one argument).
if [ "${#IFACES[@]}" -eq 1 ] && [[ "${IFACES[0]}" == *,* ]]; then IFS=, read -r -a IFACES <<<"${IFACES[0]}"; fi
[ "${#IFACES[@]}" -gt 0 ] || IFACES=(vcan0)
for i in "${IFACES[@]}"; do [[ "$i" =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || die "not an interface name: $i"; done
[[ "$RMEM_MAX" =~ ^[0-9]+$ ]] || die "--rmem-max must be a number of bytes"
MTU=16
[ "$FD" = yes ] && MTU=72

if [ -n "$PREFIX" ] || [ "$PERSIST" = yes ]; then
  R="$PREFIX"
  mkdir -p "$R/etc/modules-load.d" "$R/etc/sysctl.d" "$R/etc/systemd/system"
  printf '# written by edgewise scripts/setup-vcan.sh\ncan\ncan_raw\nvcan\n' >"$R/etc/modules-load.d/edgewise-vcan.conf"
  if [ "$RMEM_MAX" -gt 0 ]; then
    printf '# written by edgewise scripts/setup-vcan.sh: room for edgewise'"'"'s CAN receive buffers\nnet.core.rmem_max = %s\n' "$RMEM_MAX" \
      >"$R/etc/sysctl.d/60-edgewise-can.conf"
  fi
  {
    echo "# written by edgewise scripts/setup-vcan.sh: virtual CAN interfaces for a bench"
    echo "[Unit]"
    echo "Description=edgewise: virtual CAN interfaces (${IFACES[*]})"
    echo "After=systemd-modules-load.service"
    echo "Before=edgewise.service"
    echo
    echo "[Service]"
    echo "Type=oneshot"
    echo "RemainAfterExit=yes"
    for i in "${IFACES[@]}"; do
      echo "ExecStart=/bin/sh -c 'ip link show $i >/dev/null 2>&1 || ip link add dev $i type vcan'"
      echo "ExecStart=/sbin/ip link set $i mtu $MTU up"
    done
    echo
    echo "[Install]"
    echo "WantedBy=multi-user.target"
  } >"$R/etc/systemd/system/edgewise-vcan.service"
  chmod 0644 "$R/etc/modules-load.d/edgewise-vcan.conf" "$R/etc/systemd/system/edgewise-vcan.service"
  say "wrote ${R}/etc/{modules-load.d/edgewise-vcan.conf,sysctl.d/60-edgewise-can.conf,systemd/system/edgewise-vcan.service}"
  if [ -z "$PREFIX" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload && systemctl enable edgewise-vcan.service >/dev/null && say "enabled edgewise-vcan.service (every boot)"
  fi
  [ -z "$PREFIX" ] || exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (creating interfaces needs CAP_NET_ADMIN)"
command -v ip >/dev/null || die "ip (iproute2) not found"

# Modules: nothing to do when they are built in or already loaded.
for m in can can_raw vcan; do
  [ -d "/sys/module/$m" ] && continue
  command -v modprobe >/dev/null || die "kernel module $m is not loaded and modprobe is not installed (Debian: apt-get install kmod)"
  modprobe "$m" 2>/dev/null || die "cannot load kernel module $m: this kernel has no SocketCAN (run the tests in a guest: scripts/vcan-vm/run.sh)"
done

if [ "$RMEM_MAX" -gt 0 ] && [ -w /proc/sys/net/core/rmem_max ]; then
  cur="$(cat /proc/sys/net/core/rmem_max)"
  if [ "$cur" -lt "$RMEM_MAX" ]; then
    echo "$RMEM_MAX" >/proc/sys/net/core/rmem_max
    say "net.core.rmem_max: $cur -> $RMEM_MAX"
  fi
fi

for i in "${IFACES[@]}"; do
  ip link show "$i" >/dev/null 2>&1 || ip link add dev "$i" type vcan || die "cannot create $i"
  ip link set "$i" mtu "$MTU" up || die "cannot set $i up (mtu $MTU)"
  say "$i is up ($([ "$FD" = yes ] && echo 'CAN FD' || echo 'classic CAN'), mtu $MTU)"
done
