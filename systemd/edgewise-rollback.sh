#!/bin/sh
# edgewise-rollback: the systemd backstop for an OTA release that cannot even start.
#
# Run by edgewise-rollback.service (OnFailure= of edgewise.service) as the edgewise user, after
# edgewise.service hit its start limit (StartLimitBurst failures in StartLimitIntervalSec).
#
# If an OTA update is on trial (<root>/ota/state.json phase switching/confirming/rolling-back) and
# <root>/current points at the new release, point `current` back at the release the update came
# from (atomically: new symlink, rename over). The agent notices on its next start ("rolled back
# outside the agent") and reports the job FAILED. The state file itself is left to the agent.
#
# Exit 0 in every handled case, so the unit's ExecStartPost= lines (run privileged) reset the
# start limit and start edgewise again: at once after a rollback, or after a cool-down of
# EDGEWISE_RETRY_SEC seconds (default 900) when there was nothing to roll back, so a vehicle whose
# agent keeps failing for another reason (no CAN interface yet, disk full) retries every 15 min
# instead of staying down until someone logs in, without spinning in a tight crash loop.
set -eu

root="${1:-/opt/edgewise}"
cooldown="${EDGEWISE_RETRY_SEC:-900}"
state="$root/ota/state.json"

log() { echo "edgewise-rollback: $*"; }

rolled_back=no
cur="$(readlink "$root/current" 2>/dev/null || true)"
cur_version="${cur##*/}"

if [ -f "$state" ]; then
  # phase, from, to: the agent writes state.json pretty-printed, one key per line. Read with sed, not
  # node: the Node runtime may be the very thing the failed release broke (runtime/bin/node).
  field() { sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$state" | head -n 1; }
  phase="$(field phase)"
  from="$(field from)"
  to="$(field to)"
  case "$from" in '' | *[!0-9A-Za-z.+-]* | .*) from="" ;; esac
  case "$phase" in
    switching | confirming | rolling-back)
      if [ -n "$from" ] && [ "$cur_version" = "$to" ] && [ -d "$root/releases/$from" ]; then
        tmp="$root/.current.rollback.$$.tmp"
        rm -f "$tmp"
        ln -s "releases/$from" "$tmp"
        mv -T "$tmp" "$root/current"
        sync "$root" 2>/dev/null || sync
        log "release $to failed to start repeatedly; current -> releases/$from"
        rolled_back=yes
      else
        log "update $from -> $to on trial, but nothing to switch back to (current -> ${cur:-none})"
      fi
      ;;
    *) ;;
  esac
fi

if [ "$rolled_back" = no ]; then
  log "edgewise.service keeps failing (current -> ${cur:-none}); see journalctl -u edgewise. Retrying in ${cooldown}s."
  sleep "$cooldown"
fi
exit 0
