#!/usr/bin/env bash
# Run every test this machine can run (called by `make test`).
#   1. ruff (the notebooks in sync with their sources: step 3's tests/notebooks)
#   2. pytest tests/live (live tests skip without a capability, FAIL in CI)
#   3. the no-daemon tests: pytest tests/unit tests/notebooks, beside nbval strict on every
#      notebook in the no-daemon mode (VIRTLAB_MODE=embedded; lax where this machine lacks an
#      embedded form: tools/strict_plan.py says which and why) and then tests/browser (chromium;
#      they skip without it, FAIL in CI). pytest-xdist on every core when step 3 has the machine
#      to itself.
#   4. every notebook run against the real services (VIRTLAB_MODE=live), where possible, with a
#      per-section tally of what served each cell (tools/run_notebooks.py)
#   Then nothing of the course's may be left on the host (tests/unit/test_zz_leftovers.py).
#
# Where every section is live (a provisioned lab VM, CI): the live tests marked `hostwide` run
# first, with nothing beside them (a root `virtlab cleanup`, a daemon killed, a whole-machine
# CPU share measured); then those marked `serial` (the lessons' fixed names, sweeps,
# whole-project comparisons) beside the no-daemon tests only; then the other live tests
# (streams of whole modules), the live notebooks and the rest of the no-daemon tests side by side: each live test
# makes and removes names of its own run only, the live notebooks' cleanups are scoped to what
# they made, and step 3 makes no daemon resources. tests/unit/test_suite_layout.py keeps the
# marks and this order.
# Elsewhere step 2 runs whole, then step 3 — or step 3 beside step 2 where neither LXD, Incus nor
# libvirt is installed (a never-provisioned machine, Binder): some live tests run a host-wide
# `virtlab cleanup`, which removes every course resource of the caller's, the embedded demos'
# too — and each of those tests needs one of them (tests/unit/test_suite_layout.py keeps it so).
# There step 2 runs the kernel-feature tests only, each removing just what it made.
set -uo pipefail
VENV="${1:-.venv}"
BIN="$VENV/bin"
say() { printf '\n[test] %s\n' "$*"; }
fail=0
run() { "$@" || { echo "[test] FAILED: $*"; fail=1; }; }
export PYTHONDONTWRITEBYTECODE=1
NOTEBOOKS=$(ls notebooks/*.ipynb labs/*.ipynb 2>/dev/null || true)

say "1/4 lint"
# (the notebooks in sync with their sources: tests/notebooks/test_structure.py, step 3)
run "$BIN/ruff" check src tests tools

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/vlt.XXXXXX")"  # short: unix socket paths below it must fit 107 bytes
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/bench" "$SCRATCH/tmp"
# traversable, not listable (like /tmp for what matters here): the live tests' temp folders live
# below it, and a test that hands QEMU a file (it runs as libvirt-qemu) opens its own folder
# (test_fleet_live: a non-root learner's run failed "Permission denied" under a 0700 scratch)
chmod 711 "$SCRATCH"

LIVE_NOTEBOOKS=0
if [ "${VIRTLAB_REQUIRE_LIVE:-0}" = 1 ] || "$BIN/python" -c "from virtlab import modes; raise SystemExit(1 if modes.live_gaps() else 0)" 2>/dev/null; then
  LIVE_NOTEBOOKS=1
fi
# where every section is live, the live tests not marked serial/hostwide run as streams of whole
# modules: each group below is one stream ("|" between groups), every other module the last one.
# Modules of different streams share no names. Balanced by measured time beside the live
# notebooks (ci-J: 92, 80 and 79 s).
LIVE_STREAMS="test_classroom_live.py test_lxd_cluster_live.py|test_labs_live.py test_labs_nonroot_live.py"
# the host tools without which no live test can run a host-wide cleanup (see the header)
HOSTWIDE_CLEANUP_TOOLS="lxd incus libvirtd"
installed() {  # installed TOOL...: is any of them on PATH (or in the sbin folders)?
  local t d
  for t in "$@"; do
    for d in ${PATH//:/ } /usr/sbin /sbin /snap/bin; do [ -x "$d/$t" ] && [ -f "$d/$t" ] && return 0; done
  done
  return 1
}
BESIDE_STEP2=0
# shellcheck disable=SC2086
if [ "$LIVE_NOTEBOOKS" = 0 ] && ! installed $HOSTWIDE_CLEANUP_TOOLS; then
  BESIDE_STEP2=1
fi
# pytest-xdist spreads the unit tests over the cores only when step 3 runs by itself: beside
# step 2 or 4 the cores are busy already, and xdist's workers (each imports and collects every
# test) cost CPU — bare run measured: 69 s with xdist, 63 s without
XDIST=()
if [ "$BESIDE_STEP2" = 0 ] && [ "$LIVE_NOTEBOOKS" = 0 ] && "$BIN/python" -c "import xdist" 2>/dev/null; then
  XDIST=(-n "$(nproc 2>/dev/null | awk '{print ($1 > 4) ? 4 : $1}')")
fi

# step 3 as a function: its output is kept in a log and shown whole when it ends
no_daemon_tests() {
  local rc=0 unit tmp="$TMPDIR"
  # the unit tests run beside the notebooks and the browser tests (their log is shown after
  # them); each stream has its own temp folder
  mkdir -p "$tmp/unit" "$tmp/nb"
  ( echo "[test] 3/4 unit and notebook-structure tests${XDIST:+ (pytest-xdist ${XDIST[*]})}"
    TMPDIR="$tmp/unit" "$BIN/pytest" tests/unit tests/notebooks \
      --deselect tests/unit/test_zz_leftovers.py -p no:cacheprovider -q "${XDIST[@]}" \
      || { echo "[test] FAILED: unit tests"; exit 1; }
  ) > "$tmp/unit.log" 2>&1 &
  unit=$!
  export TMPDIR="$tmp/nb"
  echo "[test] 3/4 notebooks, strict, no-daemon mode (VIRTLAB_MODE=embedded)"
  if [ -n "$NOTEBOOKS" ]; then
    # committed outputs are the embedded mode's; a notebook whose embedded section cannot run
    # here (no user namespaces, no static busybox, no libvirt-python) is run lax, with the reason
    local STRICT=() LAX=() kind nb why
    # shellcheck disable=SC2086
    while read -r kind nb why; do
      if [ "$kind" = strict ]; then STRICT+=("$nb"); else LAX+=("$nb"); echo "[test] lax, not strict: $nb ($why)"; fi
    done < <(VIRTLAB_MODE=embedded "$BIN/python" tools/strict_plan.py $NOTEBOOKS)
    # one kernel at a time: kernels started side by side by xdist workers raced for their ports
    # ("Kernel died before replying to kernel_info", seen in a non-root clean-clone run)
    if [ ${#STRICT[@]} -gt 0 ]; then
      env VIRTLAB_MODE=embedded "$BIN/pytest" --nbval "${STRICT[@]}" --nbval-sanitize-with \
        tests/notebooks/sanitize.cfg -p no:cacheprovider -q \
        || { echo "[test] FAILED: strict notebooks"; rc=1; }
    fi
    if [ ${#LAX[@]} -gt 0 ]; then
      env VIRTLAB_MODE=embedded "$BIN/pytest" --nbval-lax "${LAX[@]}" -p no:cacheprovider -q \
        || { echo "[test] FAILED: lax notebooks"; rc=1; }
    fi
  fi
  # the browser tests need no daemon either: JupyterLab, Voilà and the static site in the
  # embedded mode, driven by Debian's chromium (they skip without it, fail in CI)
  echo "[test] 3/4 browser tests (JupyterLab, the app and the site in chromium; no daemon)"
  "$BIN/pytest" tests/browser -p no:cacheprovider -q || { echo "[test] FAILED: browser tests"; rc=1; }
  wait "$unit" || rc=1
  cat "$tmp/unit.log"
  return "$rc"
}

EXPECT_LIVE="$("$BIN/python" -c 'from virtlab import modes; print(",".join(modes.SECTIONS))')"
# step 4's mode: root forces live (a cell that cannot be served live fails). A non-root learner
# (the lab VM's lxd/libvirt groups, a delegated cgroup subtree) runs in auto: a cell that needs
# root replays its recording, labelled with what it needs, and run_notebooks.py --expect-live
# still fails every section with any other cell not served live (CI's learner stage does the same)
if [ "$(id -u)" = 0 ]; then NB_MODE=live; NB_AUDIENCE=root; else NB_MODE=auto; NB_AUDIENCE=learner; fi
live_notebooks() {  # step 4: every cell must run, every section be served live (the README's table)
  # two at a time, longest first by the committed tally (each episode's demos and checks use
  # names of their own; every notebook's cleanup is scoped to what it made)
  # shellcheck disable=SC2086
  env VIRTLAB_MODE="$NB_MODE" VIRTLAB_BENCH_REUSE="$SCRATCH/bench/bench-quick" VIRTLAB_BOOTEXP_REPEAT=1 \
    "$BIN/python" tools/run_notebooks.py --audience "${VIRTLAB_AUDIENCE:-$NB_AUDIENCE}" --jobs 2 \
    --longest-first docs/audiences/root.json \
    --expect-live "$EXPECT_LIVE" --out "build/audiences/${VIRTLAB_AUDIENCE:-$NB_AUDIENCE}.json" $NOTEBOOKS
}
# (VIRTLAB_BOOTEXP_REPEAT=1: notebook 08's start-up experiment boots each guest once — the cell
# is checked to run live; CI's bootexp stage makes the three-boot recording)

STEP3=
if [ "$LIVE_NOTEBOOKS" = 1 ]; then
  # Every section is live here (a provisioned lab VM, CI); tests/unit/test_suite_layout.py keeps
  # the marks and this order. First the live tests marked `hostwide`, with nothing beside them:
  # a root `virtlab cleanup` (every course resource of the caller's), a daemon killed, or a
  # whole-machine CPU share measured.
  say "2/4 live tests that run host-wide, alone (VIRTLAB_REQUIRE_LIVE=${VIRTLAB_REQUIRE_LIVE:-0})"
  run "$BIN/pytest" tests/live -m hostwide -p no:cacheprovider -q
  # Step 3 from here on, at a lower CPU priority: it makes no daemon resources, its names are
  # its own and it has its own temp folder.
  ( renice -n 10 -p "$BASHPID" >/dev/null 2>&1; TMPDIR="$SCRATCH/tmp" no_daemon_tests ) \
    > "$SCRATCH/step3.log" 2>&1 &
  STEP3=$!
  # Then those marked `serial` (the lessons' fixed names, sweeps, whole-project comparisons),
  # beside step 3 only. The live benchmark test among them leaves its
  # checked quick run in $SCRATCH/bench/bench-quick: notebook 08 shows that run
  # (bench.reused_run says how) instead of booting the same VMs again.
  say "2/4 live tests marked serial (beside step 3 only)"
  mkdir -p "$SCRATCH/tmp2" "$SCRATCH/tmp4"
  TMPDIR="$SCRATCH/tmp2" run env VIRTLAB_BENCH_DIR="$SCRATCH/bench" "$BIN/pytest" tests/live \
    -m "serial and not hostwide" -p no:cacheprovider -q --durations=5
  # Then the other live tests (each makes and removes names of its own run only), in
  # streams of whole modules (LIVE_STREAMS), beside the live notebooks (their cleanups are scoped to what they
  # made). The live streams wait on daemons and guests more than they compute: measured alone,
  # each kept 0.7 of this host's 2 cores busy. Each stream has its own temp folder.
  say "2/4 the other live tests (module streams), 4/4 the live notebooks (two at a time), side by side (and step 3)"
  IGNORE=() PIDS=() n=0
  IFS='|' read -r -a GROUPS_ <<< "$LIVE_STREAMS"
  for g in "${GROUPS_[@]}"; do
    n=$((n + 1))
    mkdir -p "$SCRATCH/tmp2s$n"
    # shellcheck disable=SC2086
    ( TMPDIR="$SCRATCH/tmp2s$n" "$BIN/pytest" $(printf 'tests/live/%s ' $g) \
        -m "not serial and not hostwide" -p no:cacheprovider -q --durations=5 \
        || echo "[test] FAILED: live tests (stream $n: $g)" ) > "$SCRATCH/step2s$n.log" 2>&1 &
    PIDS+=($!)
    for m in $g; do IGNORE+=(--ignore "tests/live/$m"); done
  done
  n=$((n + 1))
  ( TMPDIR="$SCRATCH/tmp2" "$BIN/pytest" tests/live "${IGNORE[@]}" -m "not serial and not hostwide" \
      -p no:cacheprovider -q --durations=8 || echo "[test] FAILED: live tests (stream $n: the other modules)" ) \
    > "$SCRATCH/step2s$n.log" 2>&1 &
  PIDS+=($!)
  say "4/4 notebooks, live against the real services (VIRTLAB_MODE=$NB_MODE), as $(id -un)"
  TMPDIR="$SCRATCH/tmp4" run live_notebooks
  wait "${PIDS[@]}"
  for i in $(seq 1 "$n"); do
    say "2/4 the other live tests, stream $i of $n (ran beside step 4):"
    cat "$SCRATCH/step2s$i.log"
    grep -q '^\[test\] FAILED' "$SCRATCH/step2s$i.log" && fail=1
  done
else
  if [ "$BESIDE_STEP2" = 1 ]; then
    say "3/4 no-daemon tests, beside step 2: no LXD, Incus or libvirt here (log: shown when they end)"
    ( TMPDIR="$SCRATCH/tmp" no_daemon_tests ) > "$SCRATCH/step3.log" 2>&1 &
    STEP3=$!
  fi
  say "2/4 live tests (VIRTLAB_REQUIRE_LIVE=${VIRTLAB_REQUIRE_LIVE:-0})"
  run "$BIN/pytest" tests/live -p no:cacheprovider -q --durations=15
  if [ "$BESIDE_STEP2" = 0 ]; then
    say "3/4 no-daemon tests"
    ( TMPDIR="$SCRATCH/tmp" no_daemon_tests ) || fail=1
  fi
  say "4/4 notebooks, live against the real services (VIRTLAB_MODE=live), as $(id -un)"
  echo "[test] skipped: this machine cannot run every section live: $("$BIN/python" -c 'from virtlab import modes; print("; ".join(f"{k}: {v}" for k, v in modes.live_gaps().items()))' 2>/dev/null)"
  echo "[test] On a lab VM: sudo make provision, then make test."
fi
if [ -n "$STEP3" ]; then
  wait "$STEP3" || fail=1
  say "3/4 (ran beside step $([ "$LIVE_NOTEBOOKS" = 1 ] && echo "2's serial part and steps 2 and 4" || echo 2)):"
  cat "$SCRATCH/step3.log"
fi

say "after everything: nothing of the course's may be left on the host"
run "$BIN/pytest" tests/unit/test_zz_leftovers.py -p no:cacheprovider -q

[ "$fail" = 0 ] && say "all passed" || say "SOME STEPS FAILED (see above)"
exit "$fail"
