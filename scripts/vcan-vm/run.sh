#!/usr/bin/env bash
# Run a command inside a throw-away guest kernel (user-mode-linux or qemu) that has SocketCAN and vcan0, for
# machines whose own kernel has no CAN support (CI containers, most dev VMs).
#
#   scripts/vcan-vm/run.sh [--backend auto|uml|tcg] [--timeout SECONDS] [--mem MB] [--ifaces "vcan0 vcan1"] [--] COMMAND [ARGS...]
#
# - Installs what it needs from Debian packages at run time; nothing prebuilt is committed.
# - Backends: `uml` = Debian's user-mode-linux (boots in ~2 s), `tcg` = qemu without KVM running
#   Debian's own kernel (fetched with apt-get download, unpacked into a cache under /var/tmp/vcan-vm).
#   `auto` (default) picks uml, except on CPUs with AMX (Sapphire Rapids and later): bookworm's UML
#   6.1 cannot save their FPU state ("ptrace set fp regs failed, errno = 14") and init dies at once.
#   When uml was picked and does not start, auto falls back to tcg. KVM is not used: on many CI hosts
#   /dev/kvm is not a VMX/SVM KVM (see docs/can.md).
# - The guest sees the host's root filesystem read-only (writes go to a throw-away layer) and the
#   current directory read-write at the same path; /tmp, /run and /var/tmp are empty tmpfs (the
#   checkout's ../shared corpus is mounted read-only at its path when it would be hidden by them).
# - Loads can, can-raw, can-dev and vcan, then creates the interfaces with scripts/setup-vcan.sh.
# - Runs COMMAND (through /bin/sh -c when it is a single string) in the current directory as root,
#   prints its output and exits with its status.
#
# Exit status: the command's; 124 on timeout; 125 when the guest booted but never reported a status;
# 77 when the guest cannot be booted on this machine (packages unavailable, no UML kernel), so a
# test suite can skip exactly then. More in docs/can.md ("Testing without CAN").
set -uo pipefail

TIMEOUT=300
MEM=1536
BACKEND="${VCANVM_BACKEND:-auto}"
IFACES="vcan0"
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKEND="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --mem) MEM="$2"; shift 2 ;;
    --ifaces) IFACES="$2"; shift 2 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "vcan-vm: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: scripts/vcan-vm/run.sh [--timeout S] [--mem MB] [--ifaces LIST] COMMAND..." >&2; exit 2; }

cannot_boot() { echo "vcan-vm: cannot boot the guest on this machine: $*" >&2; exit 77; }
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(pwd)"
case "$WORK" in *[[:space:],]*) cannot_boot "the current directory contains a space or comma: $WORK" ;; esac
# The test corpus beside a checkout (../shared): when that path lies under a directory the guest
# replaces with an empty tmpfs (a checkout under /tmp or /var/tmp), it is mounted read-only at the
# same path, so the guest sees what the host's tests see.
SHARED=""
SHARED_SRC=""
if [ -d "$REPO/../shared" ]; then
  SHARED="$(cd "$REPO/.." && pwd -L)/shared"
  case "$SHARED" in
    /tmp/* | /run/* | /var/tmp/* | /dev/shm/*) SHARED_SRC="$(cd "$SHARED" && pwd -P)" ;;
    *) SHARED="" ;;
  esac
  case "$SHARED$SHARED_SRC" in *[[:space:],]*) SHARED=""; SHARED_SRC="" ;; esac
fi
[ "$(uname -m)" = x86_64 ] || cannot_boot "Debian ships user-mode-linux for amd64 only (this is $(uname -m))"

AUTO=no
case "$BACKEND" in
  auto) AUTO=yes; if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then BACKEND=tcg; else BACKEND=uml; fi ;;
  uml | tcg) ;;
  *) echo "vcan-vm: --backend must be auto, uml or tcg" >&2; exit 2 ;;
esac

# --- packages (at run time, from Debian) ---------------------------------------------------------
SUDO=""
apt_install() { # apt_install PKG... (only the missing ones are passed)
  [ $# -gt 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || cannot_boot "missing $* and no apt-get"
  if [ "$(id -u)" != 0 ]; then
    sudo -n true 2>/dev/null || cannot_boot "missing $* and not root (no passwordless sudo)"
    SUDO="sudo -n"
  fi
  echo "vcan-vm: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Two guests starting at once (parallel test files) wait for each other's dpkg lock.
  local wait=(-o DPkg::Lock::Timeout=300)
  if ! $SUDO apt-get "${wait[@]}" install -y -q --no-install-recommends "$@" >/dev/null 2>&1; then
    $SUDO apt-get "${wait[@]}" update -q >/dev/null 2>&1 || true
    $SUDO apt-get "${wait[@]}" install -y -q --no-install-recommends "$@" >&2 || cannot_boot "apt-get install $* failed"
  fi
}
install_backend() {
need=()
command -v canplayer >/dev/null 2>&1 || need+=(can-utils)
# The guest's init loads the CAN modules with insmod and creates the interfaces with ip.
command -v insmod >/dev/null 2>&1 || need+=(kmod)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
{ [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx poweroff; } || need+=(busybox-static)
if [ "$BACKEND" = uml ]; then
  command -v linux.uml >/dev/null 2>&1 || need+=(user-mode-linux)
else
  command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
  for t in cpio:cpio xz:xz-utils; do command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}"); done
fi
apt_install "${need[@]}"
}
install_backend

BASE=/var/tmp/vcan-vm
mkdir -p "$BASE/runs" || cannot_boot "cannot create $BASE"

# --- tcg: Debian kernel + a small initramfs, cached per kernel version -----------------------------
prepare_tcg() {
  local kpkg kver dir tmp mods m
  kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
  [ -n "$kpkg" ] || cannot_boot "apt-cache knows no linux-image-amd64 kernel"
  kver="${kpkg#linux-image-}"
  dir="$BASE/$kver"
  KERNEL="$dir/vmlinux"
  INITRD="$dir/base.cpio.gz"
  [ -s "$KERNEL" ] && [ -s "$INITRD" ] && return 0
  echo "vcan-vm: preparing kernel $kver for qemu (once)" >&2
  tmp="$(mktemp -d "$BASE/prep.XXXXXX")"
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" >/dev/null 2>&1) || { rm -rf "$tmp"; cannot_boot "apt-get download $kpkg failed"; }
  mkdir -p "$tmp/root"
  local K="./lib/modules/$kver"
  dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp/root" --wildcards ./boot/vmlinuz-* "$K/modules.order" "$K/modules.builtin" \
    "$K/modules.builtin.modinfo" "$K/kernel/net/can" "$K/kernel/drivers/net/can/vcan.ko*" "$K/kernel/drivers/net/can/dev" \
    "$K/kernel/drivers/virtio" "$K/kernel/net/9p" "$K/kernel/fs/9p" "$K/kernel/fs/netfs" "$K/kernel/fs/fscache" "$K/kernel/fs/overlayfs" \
    2>/dev/null || { rm -rf "$tmp"; cannot_boot "unpacking $kpkg failed"; }
  find "$tmp/root" -name '*.ko.xz' -exec xz -d {} +
  depmod -b "$tmp/root" "$kver" || { rm -rf "$tmp"; cannot_boot "depmod failed"; }
  # PVH boot of the ELF vmlinux skips SeaBIOS and the in-guest decompression (halves boot time under TCG).
  local vmlinuz off
  vmlinuz="$(ls "$tmp"/root/boot/vmlinuz-*)"
  off="$(LC_ALL=C grep -aboP '\xFD7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)"
  [ -n "$off" ] || { rm -rf "$tmp"; cannot_boot "kernel image is not XZ-compressed"; }
  mkdir -p "$tmp/initrd/bin" "$tmp/initrd/mod" "$tmp/initrd/proc" "$tmp/initrd/sys" "$tmp/initrd/dev" "$tmp/initrd/mnt"
  cp /bin/busybox "$tmp/initrd/bin/busybox"
  : >"$tmp/initrd/modules"
  for m in virtio_pci 9pnet_virtio 9p overlay can can_raw vcan; do
    modprobe -d "$tmp/root" -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}' | while read -r ko; do
      b="$(basename "$ko")"
      grep -qx "$b" "$tmp/initrd/modules" && continue
      cp "$ko" "$tmp/initrd/mod/$b"
      echo "$b" >>"$tmp/initrd/modules"
    done
  done
  cat >"$tmp/initrd/init" <<'STAGE1'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modules); do $B insmod /mod/$m || echo "vcan-vm: insmod $m failed"; done
$B mkdir -p /mnt/lower /mnt/rw /newroot
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /mnt/lower
$B mount -t tmpfs tmpfs /mnt/rw
$B mkdir -p /mnt/rw/upper /mnt/rw/work
$B mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /newroot
R=/newroot
$B mount -t proc proc $R/proc
$B mount -t sysfs sys $R/sys
$B mount -t devtmpfs dev $R/dev
$B mkdir -p $R/dev/pts $R/dev/shm
$B mount -t devpts devpts $R/dev/pts
for d in /tmp /run /var/tmp /dev/shm; do $B mount -t tmpfs tmpfs $R$d; done
$B mkdir -p $R$vmrun $R$vmwork
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none run $R$vmrun
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none work $R$vmwork
exec $B chroot $R /bin/sh $vmrun/init
STAGE1
  chmod +x "$tmp/initrd/init"
  (cd "$tmp/initrd" && find . | cpio -o -H newc --quiet | gzip -1 >"$tmp/base.cpio.gz") || { rm -rf "$tmp"; cannot_boot "building the initramfs failed"; }
  mkdir -p "$dir"
  tail -c +$((off + 1)) "$vmlinuz" | xz -dcq >"$dir/vmlinux.part" 2>/dev/null
  [ -s "$dir/vmlinux.part" ] || { rm -rf "$tmp"; cannot_boot "decompressing the kernel failed"; }
  mv "$dir/vmlinux.part" "$dir/vmlinux"
  mv "$tmp/base.cpio.gz" "$INITRD"
  rm -rf "$tmp"
}

prepare_backend() {
  if [ "$BACKEND" = uml ]; then
    command -v linux.uml >/dev/null 2>&1 || cannot_boot "linux.uml not found after installing user-mode-linux"
  else
    prepare_tcg
  fi
}
prepare_backend

# --- per-run directory: init script + command ----------------------------------------------------
RUN="$(mktemp -d "$BASE/runs/run.XXXXXX")"
[ -n "${VCANVM_KEEP:-}" ] || trap 'rm -rf "$RUN"' EXIT
if [ $# -eq 1 ]; then
  printf '%s\n' "$1" >"$RUN/cmd.sh"
else
  { printf 'exec'; printf ' %q' "$@"; printf '\n'; } >"$RUN/cmd.sh"
fi
# Second stage (uml: PID 1; tcg: after the initramfs chrooted into the host root). Kernel
# parameters it does not know (vmrun=..., vmwork=...) arrive as environment variables.
# dash (#!/bin/sh), not busybox sh: under UML, until /proc is mounted a busybox applet would
# re-exec /proc/self/exe, which hostfs resolves to the host's linux.uml.
cat >"$RUN/init" <<'INIT'
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
echo VCANVM_INIT
# uml: we are PID 1 on the read-only host root. Told by a kernel parameter, not by probing /proc:
# through hostfs the guest can read the host's /proc files before its own /proc is mounted.
if [ "$vmbackend" = uml ]; then
  mount -t proc proc /proc
  mount -t sysfs sys /sys
  mkdir -p /dev/pts /dev/shm 2>/dev/null
  mount -t devpts devpts /dev/pts 2>/dev/null
  for d in /tmp /run /var/tmp /dev/shm; do mount -t tmpfs tmpfs "$d"; done
  M=/usr/lib/uml/modules/$(uname -r)/kernel
  for m in net/can/can.ko net/can/can-raw.ko drivers/net/can/dev/can-dev.ko drivers/net/can/vcan.ko; do
    [ -f "$M/$m" ] && insmod "$M/$m"
  done
  mkdir -p "$vmrun" "$vmwork"
  mount -t hostfs -o "$vmrun" none "$vmrun"
  mount -t hostfs -o "$vmwork" none "$vmwork"
fi
if [ -n "${vmshared:-}" ]; then
  mkdir -p "$vmshared"
  if [ "$vmbackend" = uml ]; then
    mount -t hostfs -o "$vmsharedsrc" none "$vmshared" || echo "vcan-vm: cannot mount $vmsharedsrc at $vmshared"
  else
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none,ro shared "$vmshared" || echo "vcan-vm: cannot mount the shared corpus at $vmshared"
  fi
fi
ip link set lo up
cd "$vmwork"
rc=0
setup="$(bash "$vmrepo/scripts/setup-vcan.sh" --no-persist "$vmifaces" 2>&1)" || rc=126
echo VCANVM_START
# A failed interface setup is reported in the command's output, not only on the console.
[ $rc = 0 ] || printf 'vcan-vm: setting up %s in the guest failed:\n%s\n' "$vmifaces" "$setup"
if [ $rc = 0 ]; then
  sh "$vmrun/cmd.sh" </dev/null
  rc=$?
fi
echo
echo "VCANVM_EXIT=$rc"
exec /bin/busybox poweroff -f
INIT
chmod +x "$RUN/init"

# --- boot ------------------------------------------------------------------------------------------
OUT="$RUN/console.log"
IFLIST="$(echo $IFACES | tr ' ' ',')"
boot() {
  if [ "$BACKEND" = uml ]; then
    # Guest RAM is a file in TMPDIR; it must allow exec (not noexec).
    if [ -w /dev/shm ]; then export TMPDIR=/dev/shm; else export TMPDIR="$RUN"; fi
    timeout -k 5 "$TIMEOUT" linux.uml mem="${MEM}M" root=/dev/root rootfstype=hostfs rootflags=/ ro \
      init="$RUN/init" vmbackend=uml vmrun="$RUN" vmwork="$WORK" vmrepo="$REPO" vmifaces="$IFLIST" ${SHARED:+vmshared="$SHARED" vmsharedsrc="$SHARED_SRC"} con0=fd:0,fd:1 con=null quiet </dev/null 2>&1
  else
    local smp=2
    [ "$(nproc)" -ge 2 ] || smp=1
    timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m "$MEM" -smp "$smp" -nographic -monitor none \
      -no-reboot -nodefaults -serial stdio -kernel "$KERNEL" -initrd "$INITRD" \
      -append "console=ttyS0 quiet loglevel=3 panic=-1 8250.nr_uarts=1 vmbackend=tcg vmrun=$RUN vmwork=$WORK vmrepo=$REPO vmifaces=$IFLIST${SHARED:+ vmshared=$SHARED}" \
      -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
      -virtfs "local,path=$RUN,mount_tag=run,security_model=none,multidevs=remap" \
      -virtfs "local,path=$WORK,mount_tag=work,security_model=none,multidevs=remap" \
      ${SHARED:+-virtfs "local,path=$SHARED_SRC,mount_tag=shared,security_model=none,readonly=on,multidevs=remap"} </dev/null 2>&1
  fi
}
run_guest() {
  boot | tr -d '\r' | tee "$OUT" |
    awk '/^VCANVM_START$/{on=1; next} /VCANVM_EXIT=/{sub(/VCANVM_EXIT=.*/, ""); if ($0 != "") print; on=0; next} on{print; fflush()}'
  boot_rc=${PIPESTATUS[0]}
}
run_guest
if [ "$AUTO" = yes ] && [ "$BACKEND" = uml ] && ! grep -q '^VCANVM_INIT' "$OUT"; then
  echo "vcan-vm: user-mode-linux did not start here ($(grep -m1 -E 'failed|panic' "$OUT" || echo "exit $boot_rc")); trying qemu (tcg)" >&2
  BACKEND=tcg
  install_backend
  prepare_backend
  run_guest
fi
if [ "$boot_rc" = 124 ] || [ "$boot_rc" = 137 ]; then echo "vcan-vm: timed out after ${TIMEOUT}s" >&2; exit 124; fi
rc="$(grep -ao 'VCANVM_EXIT=[0-9]*' "$OUT" | tail -1 | cut -d= -f2)"
if [ -z "$rc" ]; then
  if ! grep -q '^VCANVM_INIT' "$OUT"; then
    echo "vcan-vm: the $BACKEND guest did not come up; console:" >&2
    tail -n 30 "$OUT" >&2
    cannot_boot "the $BACKEND guest did not start (exit $boot_rc)"
  fi
  grep -q '^VCANVM_START' "$OUT" || { echo "vcan-vm: guest init failed; console:" >&2; tail -n 30 "$OUT" >&2; }
  echo "vcan-vm: the guest stopped without reporting a status (exit $boot_rc)" >&2
  exit 125
fi
exit "$rc"
