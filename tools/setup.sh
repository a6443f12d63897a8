#!/usr/bin/env bash
# Set up everything `make lab` and `make test` need; idempotent (a second run takes seconds).
#  1. system packages to build libvirt-python (Debian/Ubuntu as root), or one clear paragraph why not
#  2. a virtual environment with the course package and its Jupyter + test extras
set -euo pipefail
VENV="${1:-.venv}"
say() { printf '[setup] %s\n' "$*"; }
t0=$(date +%s)

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$cand"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "[setup] ERROR: Python 3.11 or newer is needed (none found on PATH)" >&2; exit 1; }

# 1. libvirt headers (libvirt-python is published as source only)
extras="lab,test"
if pkg-config --exists libvirt 2>/dev/null && command -v gcc >/dev/null; then
  extras="$extras,libvirt"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing the system packages libvirt-python needs to build (libvirt-dev pkg-config gcc) ..."
  # no init system: keep package scripts from starting services, only while we install
  # (a policy-rc.d that was there before is left alone; VIRTLAB_POLICY_RC moves it for tests)
  POLICY_RC="${VIRTLAB_POLICY_RC:-/usr/sbin/policy-rc.d}"
  if [ ! -d /run/systemd/system ] && [ ! -e "$POLICY_RC" ]; then
    trap 'rm -f "$POLICY_RC"' EXIT; POLICY_RC_OURS=1
    printf '#!/bin/sh\nexit 101\n' > "$POLICY_RC"; chmod +x "$POLICY_RC"
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    libvirt-dev pkg-config gcc python3-dev busybox-static >/dev/null
  if [ -n "${POLICY_RC_OURS:-}" ]; then rm -f "$POLICY_RC"; trap - EXIT; fi
  extras="$extras,libvirt"
else
  cat <<'TXT'
[setup] NOTE: the libvirt headers are not installed and this set-up cannot install them (it needs
        root on Debian/Ubuntu: `sudo apt-get install libvirt-dev pkg-config gcc`). The course
        still works: libvirt cells run from recorded output of real runs (clearly labelled).
        Install the headers and run the command again to get libvirt's embedded test driver.
TXT
fi

# 2. the virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $PYTHON ..."
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
say "installing the course package with extras [$extras] (first time: a minute or two) ..."
# pip's noise lines are filtered out; pipefail (set above) keeps pip's own exit status
if ! "$VENV/bin/python" -m pip install -q --progress-bar off -e ".[$extras]" 2>&1 \
    | { grep -vE 'BuildBackendWarning|^\s*$|is ignored: it is neither' || true; }; then
  echo "[setup] ERROR: pip could not install the course package (its messages are above)" >&2
  exit 1
fi
"$VENV/bin/python" -c 'import virtlab, jupyterlab, ipywidgets, nbval, pylxd' \
  || { echo "[setup] ERROR: the environment is incomplete (see pip's messages above)" >&2; exit 1; }
# what every Jupyter process would pay for and nothing uses (jsonschema's optional IRI checker,
# 1.3 s of CPU per process that imports nbformat): tools/slim_env.sh says more
bash "$(dirname "$0")/slim_env.sh" "$VENV/bin/python"
# 3. a static busybox (the mini container's root filesystem): without root, Debian's package is
#    fetched with `apt-get download` into the course's data folder
if ! "$VENV/bin/python" -c 'from virtlab import probe; raise SystemExit(probe.busybox() is None)'; then
  say "no static busybox on this machine: fetching Debian's busybox-static (no root needed) ..."
  "$VENV/bin/python" -c 'from virtlab import rootfs; print("[setup] busybox:", rootfs.fetch_busybox())' \
    || say "NOTE: no static busybox (see above): the container cells will replay recorded output"
fi
# 4. a reference copy of nbgrader, OUTSIDE the environment (its lab extensions would load in
#    `make lab`): tests/unit/test_release.py compares the release build with nbgrader's own
if [ ! -d "$VENV/nbgrader-ref/nbgrader" ]; then
  say "a reference copy of nbgrader for the release test ($VENV/nbgrader-ref) ..."
  "$VENV/bin/python" -m pip install -q --progress-bar off --target "$VENV/nbgrader-ref" --no-deps \
    "nbgrader==0.9.6" "sqlalchemy>=2" alembic rapidfuzz python-dateutil 2>&1 \
    | { grep -vE 'is ignored: it is neither|^\s*$' || true; } \
    || say "NOTE: could not fetch nbgrader: the release test that compares with it will skip"
fi
touch "$VENV/.virtlab-setup"
say "ready in $(( $(date +%s) - t0 )) s ($VENV, extras: $extras)"
