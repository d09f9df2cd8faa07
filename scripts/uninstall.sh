#!/usr/bin/env bash
# Remove the edgewise service installed by scripts/install.sh.
#
#   sudo scripts/uninstall.sh            # stop + disable, remove units, helpers and the app (/opt/edgewise)
#   sudo scripts/uninstall.sh --purge    # ... and configuration, certificates, stored data, logs, the user
#   scripts/uninstall.sh --prefix DIR    # the same inside a scratch root made with install.sh --prefix
#
# Without --purge, /etc/edgewise (config, certs, OTA keys) and /var/lib/edgewise (unsent data,
# deployed campaigns) stay, so a reinstall picks up where the agent left off.
set -euo pipefail

PREFIX=""
PURGE=no
SERVICE_USER="edgewise"

usage() {
  echo "usage: uninstall.sh [--prefix DIR] [--purge]"
  echo
  echo "  --purge        also delete /etc/edgewise, /var/lib/edgewise (unsent data!), /var/log/edgewise"
  echo "                 and the edgewise user and group"
  echo "  --prefix DIR   operate inside DIR instead of / (no systemctl, no userdel)"
}
die() { echo "uninstall.sh: $*" >&2; exit 1; }
say() { echo "uninstall.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --purge) PURGE=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
if [ -n "$PREFIX" ]; then
  [ -d "$PREFIX" ] || die "--prefix $PREFIX: no such directory"
  PREFIX="$(cd "$PREFIX" && pwd)"
  [ "$PREFIX" != "/" ] || PREFIX=""
fi
[ -n "$PREFIX" ] || [ "$(id -u)" = 0 ] || die "run as root (or use --prefix DIR)"
R="$PREFIX"

systemd_running() { [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }
skipped() { say "skipped ($1): $2"; }
why_skipped() { if [ -n "$PREFIX" ]; then echo prefix; else echo "systemd is not PID 1"; fi; }

if systemd_running; then
  systemctl disable --now edgewise.service 2>/dev/null || true
  systemctl stop edgewise-rollback.service 2>/dev/null || true
  systemctl reset-failed edgewise.service edgewise-rollback.service 2>/dev/null || true
else
  skipped "$(why_skipped)" "systemctl disable --now edgewise.service"
fi

remove() {
  if [ -e "$R$1" ] || [ -L "$R$1" ]; then
    rm -rf "${R:?}$1" 2>/dev/null || rm -rf "$R$1"
    say "removed $1"
  fi
}
remove /etc/systemd/system/edgewise.service
remove /etc/systemd/system/edgewise-rollback.service
remove /etc/systemd/system/multi-user.target.wants/edgewise.service
remove /usr/lib/edgewise
remove /usr/local/bin/edgewise
remove /opt/edgewise

if systemd_running; then
  systemctl daemon-reload
else
  skipped "$(why_skipped)" "systemctl daemon-reload"
fi

if [ "$PURGE" = yes ]; then
  remove /etc/edgewise
  remove /var/lib/edgewise
  remove /var/log/edgewise
  remove /run/edgewise
  if [ -z "$PREFIX" ]; then
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then userdel "$SERVICE_USER" && say "removed user $SERVICE_USER"; fi
    if getent group "$SERVICE_USER" >/dev/null; then groupdel "$SERVICE_USER" 2>/dev/null && say "removed group $SERVICE_USER" || true; fi
  else
    skipped prefix "userdel $SERVICE_USER && groupdel $SERVICE_USER"
  fi
else
  for d in /etc/edgewise /var/lib/edgewise; do
    if [ -e "$R$d" ]; then say "kept $d (use --purge to delete it)"; fi
  done
fi
say "done"
