#!/usr/bin/env bash
# A Debian bookworm root file system for the install tests: arm64 (run through qemu-user and
# binfmt_misc, as on a Raspberry Pi / GoldBox) or amd64 (booted with systemd as PID 1 by
# systemd-nspawn). Made with debootstrap from Debian's packages, cached, copied per test run.
#
#   scripts/rigs/debian-root.sh ARCH DEST     # ARCH: arm64 | amd64; DEST: a fresh copy to use
#
# - Cache: ${EDGEWISE_ROOTFS_CACHE:-/var/tmp/edgewise-rootfs}/bookworm-ARCH (kept between runs; a
#   fresh machine builds it once: ~30 s for amd64, ~3-5 min for arm64 under emulation).
# - The root has systemd, dbus and passwd (what the .deb depends on) and nothing else: no procps,
#   no Node.js (releases bring their own), like a minimal vehicle image.
# - arm64: registers Debian's qemu-aarch64 interpreter with binfmt_misc (mounting it if needed).
#
# Exit status 0 when DEST is ready; 77 when this machine cannot do it (not root, no debootstrap,
# binfmt_misc refused, no Debian mirror), so a test suite can skip exactly then; 1 on other errors.
set -uo pipefail
ARCH="${1:?usage: debian-root.sh arm64|amd64 DEST}"
DEST="${2:?usage: debian-root.sh arm64|amd64 DEST}"
CACHE="${EDGEWISE_ROOTFS_CACHE:-/var/tmp/edgewise-rootfs}"
MIRROR="${EDGEWISE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cannot() { echo "debian-root: cannot build the $ARCH root here: $*" >&2; exit 77; }
[ "$(id -u)" = 0 ] || cannot "needs root (debootstrap, chroot)"
case "$ARCH" in arm64 | amd64) ;; *) echo "debian-root: ARCH must be arm64 or amd64" >&2; exit 2 ;; esac

need() { # need CMD PKG
  command -v "$1" >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || cannot "$1 is missing (Debian package $2)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1; } ||
    cannot "apt-get install $2 failed"
}
need debootstrap debootstrap

if [ "$ARCH" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
  need qemu-aarch64-static qemu-user-static
  BM=/proc/sys/fs/binfmt_misc
  [ -e "$BM/register" ] || mount -t binfmt_misc binfmt_misc "$BM" 2>/dev/null || cannot "binfmt_misc cannot be mounted (the kernel or the container refuses)"
  if [ ! -e "$BM/qemu-aarch64" ]; then
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ -f "$conf" ] || cannot "$conf is missing (qemu-user-static)"
    cat "$conf" >"$BM/register" 2>/dev/null || cannot "binfmt_misc refused the qemu-aarch64 registration"
  fi
  grep -q '^enabled' "$BM/qemu-aarch64" || cannot "the qemu-aarch64 binfmt entry is disabled"
fi

ROOT="$CACHE/bookworm-$ARCH"
if [ ! -f "$ROOT/.complete" ] || [ ! -f "$ROOT/etc/hosts" ]; then
  rm -rf "$ROOT.partial"
  mkdir -p "$CACHE"
  echo "debian-root: debootstrap bookworm $ARCH (first run on this machine)" >&2
  debootstrap --arch="$ARCH" --variant=minbase --include=systemd,systemd-sysv,dbus,passwd bookworm "$ROOT.partial" "$MIRROR" >"$CACHE/debootstrap-$ARCH.log" 2>&1 ||
    { tail -5 "$CACHE/debootstrap-$ARCH.log" >&2; cannot "debootstrap failed (log: $CACHE/debootstrap-$ARCH.log)"; }
  # Quiet, fast boots under nspawn: no getty, no network setup of its own (the host's is shared).
  rm -f "$ROOT.partial/etc/systemd/system/getty.target.wants/"* 2>/dev/null
  echo edgewise-test >"$ROOT.partial/etc/hostname"
  # debootstrap writes no /etc/hosts; every real image has one (localhost must resolve offline).
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tedgewise-test\n' >"$ROOT.partial/etc/hosts"
  rm -rf "$ROOT.partial/var/cache/apt/archives/"*.deb
  touch "$ROOT.partial/.complete"
  rm -rf "$ROOT"
  mv "$ROOT.partial" "$ROOT"
fi
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -a --reflink=auto "$ROOT" "$DEST" || { echo "debian-root: copy to $DEST failed" >&2; exit 1; }
echo "$DEST"
