#!/usr/bin/env bash
# Start, stop or query the LXD daemon on a machine WITHOUT systemd (CI, containers-as-lab-hosts).
# Where systemd runs, use `systemctl start|stop lxd` instead (this script delegates to it).
#
#   labs/lab-vm/lxd-daemon.sh start [--offline]   start it (detached, survives this script) and
#                                                 wait until it answers (deadline 30 s)
#   labs/lab-vm/lxd-daemon.sh stop                SIGTERM the daemon we started: instances keep
#                                                 running (LXD's "upgrade" stop); SIGKILL after 10 s
#   labs/lab-vm/lxd-daemon.sh kill                SIGKILL it (simulates a crash; instances keep
#                                                 running; tests use it)
#   labs/lab-vm/lxd-daemon.sh restart             stop, then start the same way as last time
#   labs/lab-vm/lxd-daemon.sh status              exit 0 when the daemon answers, 1 otherwise
#
# --offline runs the daemon inside an empty network namespace: LXD tries to reach its image
# servers, and nothing may leave the machine (shared/FACTS.md). It is ONE persistent, named
# namespace (/run/netns/virtlab-lxd), re-entered on every start: liblxc's command sockets are
# abstract unix sockets, scoped to a network namespace, so a daemon restarted in a *new* one would
# lose its running containers (it would see them stopped and they would run on as orphans).
# The daemon's pid is kept in /run/virtlab-lxd.pid; its output goes to /var/log/virtlab-lxd.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=provision.d/common.sh
. "$HERE/provision.d/common.sh"
NETNS=virtlab-lxd
PIDFILE=/run/virtlab-lxd.pid
MODEFILE=/run/virtlab-lxd.offline
LOG=/var/log/virtlab-lxd.log
LXD_BIN="$(command -v lxd || true)"
export LXD_DIR="${LXD_DIR:-/var/lib/lxd}"

msg() { printf '[lxd-daemon] %s\n' "$*"; }
answers() { [ -S "$LXD_DIR/unix.socket" ] && timeout 5 "$LXD_BIN" waitready --timeout=2 >/dev/null 2>&1; }
our_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = lxd ] || return 1
  echo "$pid"
}

start() {
  # a daemon outlives the folder it was started from (a CI clone, a learner's checkout): run it
  # from / — LXD's rsync fails with "getcwd(): No such file or directory" once that folder is gone
  cd /
  local offline="$1"
  [ -n "$LXD_BIN" ] || { msg "lxd is not installed"; exit 1; }
  if answers; then msg "already running"; return 0; fi
  if has_systemd; then
    systemctl start lxd.socket lxd.service
  else
    if our_pid >/dev/null; then msg "daemon process exists but does not answer yet"; else
      mkdir -p /var/log/lxd "$LXD_DIR"
      # lxcfs gives containers a /proc/meminfo that shows their own limit (optional)
      # a killed lxcfs leaves a dead FUSE mount ("Transport endpoint is not connected"); LXD
      # would bind-mount it into every container and they would fail to start: unmount it
      if grep -q ' /var/lib/lxcfs ' /proc/mounts && ! head -c1 /var/lib/lxcfs/proc/meminfo >/dev/null 2>&1; then
        msg "removing a dead lxcfs mount"; umount -l /var/lib/lxcfs || true
      fi
      if command -v lxcfs >/dev/null && [ -e /dev/fuse ] && ! grep -q ' /var/lib/lxcfs ' /proc/mounts; then
        mkdir -p /var/lib/lxcfs
        setsid lxcfs /var/lib/lxcfs >>"$LOG" 2>&1 </dev/null &
        for _ in $(seq 1 25); do mountpoint -q /var/lib/lxcfs && break; sleep 0.2; done
      fi
      local net=()
      if [ "$offline" = 1 ]; then
        # the persistent namespace: made once, re-entered by every later start
        [ -e "/run/netns/$NETNS" ] || ip netns add "$NETNS"
        ip -n "$NETNS" link set lo up
        net=(nsenter "--net=/run/netns/$NETNS" --)
      fi
      echo "$offline" > "$MODEFILE"
      # bash -c writes its own pid and then execs (same pid) into [unshare -> ] lxd
      # shellcheck disable=SC2016
      setsid bash -c 'echo $$ > "$0"; exec "$@"' "$PIDFILE" "${net[@]}" "$LXD_BIN" --group lxd \
        --logfile=/var/log/lxd/lxd.log >>"$LOG" 2>&1 </dev/null &
    fi
  fi
  if ! ( wait_for 30 "LXD" answers ); then
    msg "LXD did not answer within 30 s; last lines of $LOG:"; tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
  msg "running (LXD_DIR=$LXD_DIR, offline=$offline$([ "$offline" = 1 ] && echo ", netns $NETNS"))"
}

stop() {
  local sig="${1:-TERM}"
  if has_systemd; then systemctl "$([ "$sig" = KILL ] && echo kill || echo stop)" lxd.service; return 0; fi
  local pid
  if ! pid="$(our_pid)"; then
    if answers; then msg "LXD runs but was not started by this script: not stopping it"; exit 1; fi
    msg "not running"; return 0
  fi
  # SIGTERM: LXD finishes running operations (up to 10 s here), then exits; instances keep running
  kill "-$sig" "$pid"
  local end=$(( $(date +%s) + 10 ))
  while [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = lxd ]; do
    if [ "$(date +%s)" -ge "$end" ]; then
      msg "LXD (pid $pid) still busy after 10 s: SIGKILL"; kill -KILL "$pid"; end=$(( $(date +%s) + 5 ))
    fi
    sleep 0.1
  done
  rm -f "$PIDFILE"
  msg "stopped"
}

case "${1:-}" in
  start) start "$([ "${2:-}" = --offline ] && echo 1 || echo 0)" ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart) stop; start "$(cat "$MODEFILE" 2>/dev/null || echo 0)" ;;
  status) if answers; then msg "running"; else msg "not running"; exit 1; fi ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
