#!/usr/bin/env bash
# Install (or upgrade) edgewise as a systemd service.
#
#   sudo scripts/install.sh                         # build this checkout and install it
#   sudo scripts/install.sh --from edgewise-0.2.0.tar.gz
#   scripts/install.sh --prefix /tmp/root --owner "$(id -u):$(id -g)"   # into a scratch root (tests)
#
# Layout (the one OTA uses, see src/control/ota/layout.ts):
#   /opt/edgewise/releases/<version>/     the app; /opt/edgewise/current -> releases/<version>
#   /etc/edgewise/config.yaml             root:edgewise 0640, copied from examples/config/ only if absent
#   /etc/edgewise/manifest.yaml, dbc/     decoder manifest + DBC files, copied only if absent
#   /etc/edgewise/certs/                  edgewise 0700, keys/certs 0600 (fixed on every run)
#   /etc/edgewise/ota-keys/               root:edgewise 0750, trusted OTA signing keys 0640 (root-owned:
#                                         a compromised agent cannot add a key it trusts)
#   /var/lib/edgewise/{store,campaigns}   edgewise 0700 (StateDirectory)
#   /var/log/edgewise                     edgewise 0750 (LogsDirectory)
#   /etc/systemd/system/edgewise.service, edgewise-rollback.service
#   /usr/lib/edgewise/edgewise-rollback, /usr/local/bin/edgewise (CLI wrapper)
#
# Idempotent: running it twice gives the same tree. Config, manifest, certificates, keys and
# state are never overwritten.
set -euo pipefail
umask 022

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"

PREFIX=""
FROM=""
EXAMPLE="raspberry-pi"
START=yes
PACKAGED=no
OWNER=""
SERVICE_USER="edgewise"

usage() {
  cat <<EOF
usage: install.sh [--prefix DIR] [--from DIR|TARBALL] [--example NAME] [--owner UID:GID] [--no-start]

  --from DIR|TARBALL  the app to install: a built release directory (dist/, package.json,
                      node_modules/) or a .tar.gz of one. Default: this checkout, after
                      'npm run build' and with production dependencies only.
  --prefix DIR        install into DIR instead of / (for testing and image building): no users
                      are created, systemctl is not called; what would have been done is printed.
  --owner UID:GID     with --prefix: numeric owner for files the service user would own
                      (default: the invoking user).
  --example NAME      config example copied to /etc/edgewise/config.yaml when there is none:
                      $(cd "$REPO/examples/config" 2>/dev/null && ls *.yaml 2>/dev/null | sed 's/\.yaml$//' | tr '\n' ' ')(default raspberry-pi)
  --no-start          install and enable, but do not start or restart the service
  --packaged          run by the .deb's postinst: the release is already unpacked in
                      /opt/edgewise/releases/<version> (the script's own release) and the
                      package owns the units, the rollback helper and /usr/bin/edgewise;
                      everything else (user, directories, config, current) as usual
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) PREFIX="${1#*=}"; shift ;;
    --from) FROM="${2:?--from needs a directory or tarball}"; shift 2 ;;
    --from=*) FROM="${1#*=}"; shift ;;
    --example) EXAMPLE="${2:?--example needs a name}"; shift 2 ;;
    --example=*) EXAMPLE="${1#*=}"; shift ;;
    --owner) OWNER="${2:?--owner needs UID:GID}"; shift 2 ;;
    --owner=*) OWNER="${1#*=}"; shift ;;
    --no-start) START=no; shift ;;
    --packaged) PACKAGED=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  [ "$PREFIX" != "/" ] || PREFIX=""
fi
[ -n "$PREFIX" ] || [ "$(id -u)" = 0 ] || die "run as root (or use --prefix DIR to install into a scratch root)"
[ -z "$OWNER" ] || [ -n "$PREFIX" ] || die "--owner is only for --prefix installs (the real install uses the $SERVICE_USER user)"
# Before anything is changed: 32-bit ARM cannot run the agent at all.
case "$(uname -m)" in
  aarch64 | arm64) HOST_ARCH=arm64 ;;
  x86_64 | amd64) HOST_ARCH=x64 ;;
  armv6l | armv7l | armhf | arm)
    [ -n "$PREFIX" ] || die "32-bit ARM ($(uname -m)) is not supported: aws-crt, the MQTT/TLS client, has no prebuilt binary for it. Install the 64-bit Raspberry Pi OS (or any arm64 Linux) and use the arm64 release (docs/hardware.md)"
    HOST_ARCH=arm ;;
  *) HOST_ARCH="$(uname -m)" ;;
esac

R="$PREFIX"                       # every target path is "$R/<absolute path>"
APP="/opt/edgewise"
ETC="/etc/edgewise"
STATE="/var/lib/edgewise"
LOGS="/var/log/edgewise"
UNITDIR="/etc/systemd/system"
LIBDIR="/usr/lib/edgewise"
BINDIR="/usr/local/bin"

# systemd is PID 1: its runtime directory exists and /proc/1/comm says so (no `ps`: minimal images lack procps).
systemd_running() { [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }
skipped() { say "skipped ($1): $2"; }

# --- who owns what ------------------------------------------------------------------------------
if [ -n "$PREFIX" ]; then
  OWNER="${OWNER:-$(id -u):$(id -g)}"
  case "$OWNER" in *[!0-9:]* | :* | *: | *:*:*) die "--owner must be numeric UID:GID, got $OWNER" ;; esac
  [[ "$OWNER" == *:* ]] || die "--owner must be UID:GID, got $OWNER"
  SVC_UID="${OWNER%%:*}"
  SVC_GID="${OWNER##*:}"
  ROOT_UID="$(id -u)"
  skipped "prefix" "groupadd --system $SERVICE_USER"
  skipped "prefix" "useradd --system --gid $SERVICE_USER --groups dialout --home-dir $STATE --no-create-home --shell /usr/sbin/nologin $SERVICE_USER"
else
  if ! getent group "$SERVICE_USER" >/dev/null; then
    groupadd --system "$SERVICE_USER"
    say "created group $SERVICE_USER"
  fi
  getent group dialout >/dev/null || groupadd --system dialout
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    nologin="$(command -v nologin || echo /usr/sbin/nologin)"
    useradd --system --gid "$SERVICE_USER" --groups dialout --home-dir "$STATE" --no-create-home \
      --shell "$nologin" --comment "edgewise vehicle edge agent" "$SERVICE_USER"
    say "created user $SERVICE_USER"
  elif ! id -nG "$SERVICE_USER" | tr ' ' '\n' | grep -qx dialout; then
    usermod -a -G dialout "$SERVICE_USER"
  fi
  SVC_UID="$(id -u "$SERVICE_USER")"
  SVC_GID="$(getent group "$SERVICE_USER" | cut -d: -f3)"
  ROOT_UID=0
fi
ROOT_GID="$(id -g "$ROOT_UID" 2>/dev/null || echo 0)"

# mkdir_owned <path> <mode> <uid> <gid>: create or fix a directory.
mkdir_owned() {
  mkdir -p "$R$1"
  chown "$3:$4" "$R$1"
  chmod "$2" "$R$1"
}
# install_file <src> <dst> <mode> <uid> <gid> [keep]: copy (or keep an existing dst) and fix owner/mode.
install_file() {
  if [ "${6:-}" = keep ] && [ -e "$R$2" ]; then
    say "kept existing $2"
  else
    cp -f "$1" "$R$2.tmp.$$"
    mv -f "$R$2.tmp.$$" "$R$2"
  fi
  chown "$4:$5" "$R$2"
  chmod "$3" "$R$2"
}

# --- the app: stage a release directory -----------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/edgewise-install.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
SRC=""
if [ "$PACKAGED" = yes ]; then
  [ -z "$FROM" ] || die "--packaged installs the release this script belongs to; --from makes no sense with it"
  SRC="$REPO"
  case "$SRC" in "$R$APP"/releases/*) ;; *) die "--packaged: $SRC is not under $APP/releases" ;; esac
elif [ -z "$FROM" ]; then
  command -v npm >/dev/null || die "npm not found: install Node.js >= 20 (see docs/operations.md) or pass --from"
  say "building $REPO"
  (cd "$REPO" && npm run build >&2)
  SRC="$WORK/app"
  mkdir -p "$SRC"
  for f in package.json package-lock.json README.md LICENSE dist dbc campaigns proto systemd scripts examples docs node_modules; do
    [ -e "$REPO/$f" ] && cp -a "$REPO/$f" "$SRC/"
  done
  say "removing development dependencies"
  (cd "$SRC" && npm prune --omit=dev --no-audit --no-fund >&2)
elif [ -d "$FROM" ]; then
  SRC="$(cd "$FROM" && pwd)"
elif [ -f "$FROM" ]; then
  mkdir -p "$WORK/x"
  tar -xzf "$FROM" -C "$WORK/x" || die "cannot extract $FROM (expected a .tar.gz of a release)"
  SRC="$WORK/x"
  # A tarball with a single top directory (npm pack's package/, edgewise-<v>/): descend into it.
  if [ ! -e "$SRC/package.json" ] && [ "$(ls -A "$SRC" | wc -l)" = 1 ] && [ -d "$SRC/$(ls -A "$SRC")" ]; then
    SRC="$SRC/$(ls -A "$SRC")"
  fi
else
  die "--from $FROM: no such file or directory"
fi
[ -f "$SRC/dist/cli/main.js" ] || die "$SRC is not a built edgewise release (no dist/cli/main.js)"
[ -f "$SRC/package.json" ] || die "$SRC has no package.json"

# json_version <file>: the top-level "version" of a JSON file (empty when absent).
json_version() {
  [ -f "$1" ] || return 0
  if command -v node >/dev/null; then
    node -e 'try { const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version; if (typeof v === "string") console.log(v); } catch {}' "$1"
  else
    tr -d '\n' <"$1" | sed -n 's/^[^"]*{.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
  fi
}
VERSION="$(json_version "$SRC/release.json")"
[ -n "$VERSION" ] || VERSION="$(json_version "$SRC/package.json")"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || die "cannot determine the release version (got '$VERSION')"
say "installing edgewise $VERSION into ${PREFIX:-/}"

# --- architecture and runtime ---------------------------------------------------------------------
# json_field <file> <key>: a top-level string field of release.json (pretty-printed by build.mjs).
json_field() { [ -f "$1" ] && sed -n "s/^[[:space:]]*\"$2\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1; }
REL_ARCH="$(json_field "$SRC/release.json" arch || true)"
if [ -n "$REL_ARCH" ] && [ "$REL_ARCH" != "$HOST_ARCH" ] && [ -z "${EDGEWISE_INSTALL_ANY_ARCH:-}" ]; then
  die "$FROM is the linux-$REL_ARCH release; this machine is linux-$HOST_ARCH: use edgewise-$VERSION-linux-$HOST_ARCH.tar.gz"
fi

# --- directories ------------------------------------------------------------------------------------
mkdir -p "$R/opt" "$R/etc" "$R/var/lib" "$R/var/log" "$R$UNITDIR" "$R$LIBDIR" "$R$BINDIR"
mkdir_owned "$APP" 0755 "$SVC_UID" "$SVC_GID"            # the agent swaps current/ itself (OTA)
mkdir_owned "$APP/releases" 0755 "$SVC_UID" "$SVC_GID"
mkdir_owned "$ETC" 0750 "$ROOT_UID" "$SVC_GID"
mkdir_owned "$ETC/certs" 0700 "$SVC_UID" "$SVC_GID"
mkdir_owned "$ETC/ota-keys" 0750 "$ROOT_UID" "$SVC_GID"
mkdir_owned "$STATE" 0700 "$SVC_UID" "$SVC_GID"
mkdir_owned "$STATE/store" 0700 "$SVC_UID" "$SVC_GID"
mkdir_owned "$STATE/campaigns" 0700 "$SVC_UID" "$SVC_GID"
mkdir_owned "$LOGS" 0750 "$SVC_UID" "$SVC_GID"

# --- release + current symlink ------------------------------------------------------------------------
REL="$APP/releases/$VERSION"
STAGE="$APP/releases/.install-$VERSION"
if [ "$PACKAGED" = yes ]; then
  [ "$SRC" = "$R$REL" ] || die "--packaged: this release is $SRC, its version says $REL"
  STAGE="$REL"   # dpkg unpacked it in place: fix owners and the runtime link there, copy nothing
else
rm -rf "$R$STAGE"
mkdir -p "$R$STAGE"
cp -a "$SRC/." "$R$STAGE/"
fi
if [ ! -f "$R$STAGE/release.json" ]; then
  printf '{\n  "version": "%s"\n}\n' "$VERSION" >"$R$STAGE/release.json"
fi
# The unit runs current/runtime/bin/node: the release's own Node when it brings one (build.mjs), else a
# link to the system's (OTA makes the same link for such releases, src/control/ota/compat.ts).
if [ ! -e "$R$STAGE/runtime/bin/node" ] && [ ! -L "$R$STAGE/runtime/bin/node" ]; then
  mkdir -p "$R$STAGE/runtime/bin"
  ln -s /usr/bin/node "$R$STAGE/runtime/bin/node"
  BUNDLED=no
else
  BUNDLED=yes
fi
chown -R "$SVC_UID:$SVC_GID" "$R$STAGE"
chmod -R u+rwX,go+rX,go-w "$R$STAGE"
if [ "$PACKAGED" = yes ]; then
  :
elif [ -e "$R$REL" ]; then
  # Same version again: swap the directory (old copy removed after current points at the new one).
  mv "$R$REL" "$R$APP/releases/.old-$VERSION.$$"
fi
if [ "$PACKAGED" = no ]; then
  mv "$R$STAGE" "$R$REL"
  rm -rf "$R$APP/releases/.old-$VERSION.$$"
fi

PREVIOUS="$(readlink "$R$APP/current" 2>/dev/null || true)"
ln -sfn "releases/$VERSION" "$R$APP/.current.install.tmp"
mv -Tf "$R$APP/.current.install.tmp" "$R$APP/current"
chown -h "$SVC_UID:$SVC_GID" "$R$APP/current"
CHANGED=no
[ "$PREVIOUS" = "releases/$VERSION" ] || CHANGED=yes
say "current -> releases/$VERSION${PREVIOUS:+ (was $PREVIOUS)}"

# --- configuration (never overwritten) -------------------------------------------------------------------
EXAMPLE_FILE="$R$REL/examples/config/$EXAMPLE.yaml"
[ -f "$EXAMPLE_FILE" ] || EXAMPLE_FILE="$REPO/examples/config/$EXAMPLE.yaml"
if [ -e "$R$ETC/config.yaml" ]; then
  say "kept existing $ETC/config.yaml"
  chown "$ROOT_UID:$SVC_GID" "$R$ETC/config.yaml"
  chmod 0640 "$R$ETC/config.yaml"
else
  [ -f "$EXAMPLE_FILE" ] || die "no config example '$EXAMPLE' (examples/config/$EXAMPLE.yaml)"
  # The examples' relative paths point into the source tree (examples/, campaigns/, var/): map them
  # to where an installed system keeps those things, so the config works from /etc/edgewise.
  sed -e 's#: \.\./manifest\.yaml#: manifest.yaml#' \
      -e 's#: \.\./\.\./campaigns\b#: /var/lib/edgewise/campaigns#' \
      -e 's#: \.\./drive\.log\.gz#: /opt/edgewise/current/examples/drive.log.gz#' \
      -e 's#: \.\./\.\./var/[A-Za-z0-9_-]*/store\b#: /var/lib/edgewise/store#' \
      -e 's#: \.\./\.\./var/[A-Za-z0-9_-]*/dev-broker\b#: /var/lib/edgewise/dev-broker#' \
      -e 's#: \.\./\.\./var/[A-Za-z0-9_-]*/[A-Za-z0-9_-]*\.sock\b#: /run/edgewise/status.sock#' \
      "$EXAMPLE_FILE" >"$WORK/config.yaml"
  if grep -nE '^[^#]*: *\.\./' "$WORK/config.yaml" >&2; then
    die "examples/config/$EXAMPLE.yaml has relative paths outside /etc/edgewise that install.sh cannot map (above)"
  fi
  install_file "$WORK/config.yaml" "$ETC/config.yaml" 0640 "$ROOT_UID" "$SVC_GID"
  # The bench example collects with the bundled example campaigns: give it a copy to start with.
  if grep -q '^  dir: /var/lib/edgewise/campaigns' "$WORK/config.yaml" && [ -d "$R$REL/campaigns" ] && [ -z "$(ls -A "$R$STATE/campaigns")" ] && [ "$EXAMPLE" = bench ]; then
    cp "$R$REL/campaigns/"* "$R$STATE/campaigns/"
    chown -R "$SVC_UID:$SVC_GID" "$R$STATE/campaigns"
    chmod 0600 "$R$STATE/campaigns/"*
    say "copied the example campaigns into $STATE/campaigns"
  fi
  say "installed $ETC/config.yaml from examples/config/$EXAMPLE.yaml: edit vehicle.name, upload.* and sources"
fi
# Decoder manifest and DBC files: the bundled example as a starting point (paths made local).
if [ ! -e "$R$ETC/manifest.yaml" ] && [ -f "$R$REL/examples/manifest.yaml" ]; then
  sed 's#\.\./dbc/#dbc/#g' "$R$REL/examples/manifest.yaml" >"$R$ETC/manifest.yaml"
  chown "$ROOT_UID:$SVC_GID" "$R$ETC/manifest.yaml"
  chmod 0640 "$R$ETC/manifest.yaml"
  say "installed $ETC/manifest.yaml (the example Toyota manifest: replace it with your vehicle's)"
fi
if [ ! -e "$R$ETC/dbc" ] && [ -d "$R$REL/dbc" ]; then
  cp -a "$R$REL/dbc" "$R$ETC/dbc"
fi
if [ -d "$R$ETC/dbc" ]; then
  chown -R "$ROOT_UID:$SVC_GID" "$R$ETC/dbc"
  chmod -R u=rwX,g=rX,o= "$R$ETC/dbc"
fi
# Credentials: owned by the service user, readable by nobody else.
find "$R$ETC/certs" -mindepth 1 -type d -exec chown "$SVC_UID:$SVC_GID" {} + -exec chmod 0700 {} +
find "$R$ETC/certs" -type f -exec chown "$SVC_UID:$SVC_GID" {} + -exec chmod 0600 {} +
find "$R$ETC/ota-keys" -type f -exec chown "$ROOT_UID:$SVC_GID" {} + -exec chmod 0640 {} +

# --- systemd units, helpers, CLI -----------------------------------------------------------------------
if [ "$PACKAGED" = yes ]; then
  say "units, rollback helper and /usr/bin/edgewise come with the package"
else
UNITS_SRC="$R$REL/systemd"
[ -f "$UNITS_SRC/edgewise.service" ] || UNITS_SRC="$REPO/systemd"
install_file "$UNITS_SRC/edgewise.service" "$UNITDIR/edgewise.service" 0644 "$ROOT_UID" "$ROOT_GID"
install_file "$UNITS_SRC/edgewise-rollback.service" "$UNITDIR/edgewise-rollback.service" 0644 "$ROOT_UID" "$ROOT_GID"
# Root-owned copy outside /opt/edgewise (which the agent can write): the rollback unit runs it.
install_file "$UNITS_SRC/edgewise-rollback.sh" "$LIBDIR/edgewise-rollback" 0755 "$ROOT_UID" "$ROOT_GID"
cat >"$R$BINDIR/edgewise.tmp.$$" <<EOF
#!/bin/sh
# edgewise CLI of the installed release (scripts/install.sh)
exec $APP/current/runtime/bin/node $APP/current/dist/cli/main.js "\$@"
EOF
mv -f "$R$BINDIR/edgewise.tmp.$$" "$R$BINDIR/edgewise"
chown "$ROOT_UID:$ROOT_GID" "$R$BINDIR/edgewise"
chmod 0755 "$R$BINDIR/edgewise"
fi

# --- node ------------------------------------------------------------------------------------------------
if [ -z "$PREFIX" ] && [ "$BUNDLED" = no ]; then
  if [ ! -x /usr/bin/node ]; then
    say "WARNING: this release brings no Node.js and /usr/bin/node is missing: install Node.js >= 20 or use a release with its own runtime (docs/hardware.md)"
  else
    major="$(/usr/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    [ "$major" -ge 20 ] 2>/dev/null || say "WARNING: /usr/bin/node is $(/usr/bin/node -v 2>/dev/null); edgewise needs Node.js >= 20 (or use a release with its own runtime)"
  fi
fi

# --- systemd ------------------------------------------------------------------------------------------------
if systemd_running; then
  systemctl daemon-reload
  if [ "$START" = yes ]; then
    was_active=no
    systemctl is-active --quiet edgewise.service && was_active=yes
    systemctl enable --now edgewise.service
    if [ "$was_active" = yes ] && [ "$CHANGED" = yes ]; then
      systemctl restart edgewise.service
      say "restarted edgewise.service on $VERSION"
    fi
    say "edgewise.service enabled and started: systemctl status edgewise; journalctl -u edgewise -f; edgewise status"
  else
    systemctl enable edgewise.service
    say "edgewise.service enabled (not started: --no-start)"
  fi
else
  why="systemd is not PID 1"
  [ -z "$PREFIX" ] || why="prefix"
  skipped "$why" "systemctl daemon-reload && systemctl enable --now edgewise.service"
fi
say "done: edgewise $VERSION"
