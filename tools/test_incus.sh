#!/usr/bin/env bash
# The LXD live tests and the live notebook 04 again, against Incus (LXD's community fork) running
# beside LXD on the same machine (`labs/lab-vm/provision.sh --offline --incus`).
#
#   tools/test_incus.sh [VENV]          (default VENV: .venv)
#
# VIRTLAB_CONTAINER_DAEMON=incus points every virtlab call at Incus (virtlab.daemons). Runs:
#   1. tests/live/test_lxd_live.py and the LXD tests of tests/live/test_security_live.py
#   2. notebooks/04-lxd.ipynb, nbval-lax, VIRTLAB_MODE=live
#   3. no course instance left in Incus (tests/unit/test_zz_leftovers.py -k lxd_instances)
# With VIRTLAB_REQUIRE_LIVE=1 (CI) a missing Incus is a failure; without it the script says so
# and exits 0. The daemon-killing fault test runs with CI=true or VIRTLAB_LXD_FAULT_TEST=1 (it
# restarts Incus via labs/lab-vm/incus-daemon.sh). Exit status: 0 when everything passed.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
BIN="$VENV/bin"
export VIRTLAB_CONTAINER_DAEMON=incus PYTHONDONTWRITEBYTECODE=1
say() { printf '\n[test-incus] %s\n' "$*"; }
fail=0
run() { "$@" || { echo "[test-incus] FAILED: $*"; fail=1; }; }

if ! detail=$("$BIN/python" -c '
from virtlab import probe
i = probe.lxd()
print(f"Incus {i.version} at {i.socket}" if i.reachable and i.server == "incus" else (i.error or "not Incus"))
raise SystemExit(0 if i.reachable and i.server == "incus" else 1)' 2>&1); then
  if [ "${VIRTLAB_REQUIRE_LIVE:-0}" = 1 ]; then
    say "FAILED: VIRTLAB_REQUIRE_LIVE=1 but Incus is not reachable: $detail"
    say "provision it: sudo labs/lab-vm/provision.sh --offline --incus"
    exit 1
  fi
  say "skipped: Incus is not reachable here ($detail); provision it with --incus"
  exit 0
fi
say "against $detail (VIRTLAB_REQUIRE_LIVE=${VIRTLAB_REQUIRE_LIVE:-0})"

say "1/3 LXD live tests against Incus"
run "$BIN/pytest" tests/live/test_lxd_live.py -p no:cacheprovider -q
run "$BIN/pytest" tests/live/test_security_live.py -k lxd -p no:cacheprovider -q

say "2/3 notebook 04, lax, live against Incus"
run env VIRTLAB_MODE=live "$BIN/pytest" --nbval-lax notebooks/04-lxd.ipynb -p no:cacheprovider -q

say "3/3 nothing of the course's left in Incus"
run "$BIN/pytest" tests/unit/test_zz_leftovers.py -k lxd_instances -p no:cacheprovider -q

[ "$fail" = 0 ] && say "all passed against Incus" || say "SOME STEPS FAILED against Incus (see above)"
exit "$fail"
