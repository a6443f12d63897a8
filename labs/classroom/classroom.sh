#!/usr/bin/env bash
# Start/stop the classroom services on a host provisioned with `provision.sh --classroom`:
# the LXD gate (root; learners reach their own restricted project through it) and JupyterHub
# with its proxy on 127.0.0.1. No systemd needed: detached processes with pid files.
#
#   sudo labs/classroom/classroom.sh start|stop|status|restart-gate
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${VIRTLAB_CLASSROOM_STATE:-/var/lib/virtlab-classroom}"
VENV="${VIRTLAB_CLASSROOM_VENV:-/opt/virtlab-classroom/venv}"
RUN=/run/virtlab-classroom
mkdir -p "$RUN" "$STATE"; chmod 700 "$STATE"
LEARNERS="$(cat "$STATE/learners" 2>/dev/null || true)"
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # wait_for SECONDS WHAT CMD...
  local end=$(( $(date +%s) + $1 )) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { echo "classroom: $what did not come up (see $STATE/*.log)" >&2; exit 1; }
    sleep 0.2
  done
}
# daemon PIDFILE LOG CMD...: detached, in its own session, with no inherited descriptor beyond
# 0-2 (a caller's `flock FILE cmd` lock fd would otherwise be held for the daemon's lifetime)
daemon() {
  local pidfile="$1" log="$2"; shift 2
  "$VENV/bin/python" - "$pidfile" "$log" "$@" <<'PY'
import os, subprocess, sys
pidfile, log, *cmd = sys.argv[1:]
with open(log, "ab") as out, open(os.devnull, "rb") as null:
    p = subprocess.Popen(cmd, stdin=null, stdout=out, stderr=out, close_fds=True,
                         start_new_session=True)
open(pidfile, "w").write(f"{p.pid}\n")
PY
}
start_gate() {
  cd "$STATE"  # the gate and the hub outlive the folder they were started from (a CI clone)
  if ! alive "$RUN/gate.pid"; then
    daemon "$RUN/gate.pid" "$STATE/gate.log" "$VENV/bin/python" -m virtlab.classroom gate
  fi
  wait_for 10 "the LXD gate" test -S "$RUN/lxd/unix.socket"
}
case "${1:-}" in
  start)
    start_gate
    if ! alive "$RUN/hub.pid"; then
      VIRTLAB_CLASSROOM_LEARNERS="$LEARNERS" daemon "$RUN/hub.pid" "$STATE/hub.log" \
        "$VENV/bin/jupyterhub" -f "$HERE/jupyterhub_config.py"
    fi
    wait_for 60 "JupyterHub" "$VENV/bin/python" -c \
      "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${VIRTLAB_CLASSROOM_PORT:-8000}/hub/api/', timeout=2)"
    echo "classroom: hub on http://127.0.0.1:${VIRTLAB_CLASSROOM_PORT:-8000}/ for: ${LEARNERS:-nobody}" ;;
  restart-gate)  # after the course package was updated: the gate runs its code (the hub and
    # the learners' servers keep running; an LXD call in flight through the gate is cut)
    if alive "$RUN/gate.pid"; then
      pid="$(cat "$RUN/gate.pid")"; kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$RUN/gate.pid" "$RUN/lxd/unix.socket"
    start_gate
    echo "classroom: gate restarted (pid $(cat "$RUN/gate.pid"))" ;;
  stop)
    for p in hub gate; do
      if alive "$RUN/$p.pid"; then kill "$(cat "$RUN/$p.pid")"; fi
      rm -f "$RUN/$p.pid"
    done
    # the hub stops its proxy; learners' servers are stopped by the hub on shutdown (cleanup_servers)
    echo "classroom: stopped" ;;
  status)
    for p in gate hub; do
      if alive "$RUN/$p.pid"; then echo "$p: running (pid $(cat "$RUN/$p.pid"))"; else echo "$p: stopped"; fi
    done ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
