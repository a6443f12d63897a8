#!/usr/bin/env bash
# Start, stop or query the Incus daemon on a machine WITHOUT systemd (CI, containers-as-lab-hosts).
# Where systemd runs, use `systemctl start|stop incus` instead (this script delegates to it).
#
#   labs/lab-vm/incus-daemon.sh start [--offline]   start it (detached, survives this script) and
#                                                   wait until it answers (deadline 30 s)
#   labs/lab-vm/incus-daemon.sh stop                SIGTERM the daemon we started: instances keep
#                                                   running; SIGKILL after 10 s
#   labs/lab-vm/incus-daemon.sh kill                SIGKILL it (simulates a crash; instances keep
#                                                   running)
#   labs/lab-vm/incus-daemon.sh restart             stop, then start the same way as last time
#   labs/lab-vm/incus-daemon.sh status              exit 0 when the daemon answers, 1 otherwise
#
# --offline runs incusd inside ONE persistent named network namespace, `virtlab-incus` (created
# on first use, re-entered on every start): Incus tries to reach its image servers, and nothing
# may leave the machine. liblxc's command socket is an abstract unix socket scoped to the network
# namespace, so a daemon restarted in a *new* namespace would no longer reach its running
# containers; re-entering the same one keeps them (shared/FACTS.md "Network namespaces and LXC").
# It is entered with `nsenter --net=`, not `ip netns exec`: the latter also remounts /sys in a new
# mount namespace, which hides the cgroup v1 hierarchies under /sys/fs/cgroup, and every memory
# or process limit then fails ("Failed to setup cgroup limits").
# Own subordinate ids: when /etc/virtlab-incus/subuid and subgid exist (provisioning writes them),
# incusd runs in a private mount namespace (slave: host mounts still propagate in) where they are
# bind-mounted over /etc/subuid and /etc/subgid — incusd takes root's range from there, and LXD
# reads the same files, so this is how Incus's containers get host ids distinct from LXD's.
# The daemon's pid is kept in /run/virtlab-incus.pid; its output goes to /var/log/virtlab-incus.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=provision.d/common.sh
. "$HERE/provision.d/common.sh"
PIDFILE=/run/virtlab-incus.pid
MODEFILE=/run/virtlab-incus.offline
LOG=/var/log/virtlab-incus.log
NETNS=virtlab-incus
IDS=/etc/virtlab-incus
INCUSD_BIN="$(command -v incusd || true)"
[ -n "$INCUSD_BIN" ] || { [ -x /usr/libexec/incus/incusd ] && INCUSD_BIN=/usr/libexec/incus/incusd; } || true
INCUS_BIN="$(command -v incus || true)"
export INCUS_DIR="${INCUS_DIR:-/var/lib/incus}"

msg() { printf '[incus-daemon] %s\n' "$*"; }
answers() { [ -S "$INCUS_DIR/unix.socket" ] && timeout 5 "$INCUSD_BIN" waitready --timeout=2 >/dev/null 2>&1; }
our_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = incusd ] || return 1
  echo "$pid"
}

start() {
  # a daemon outlives the folder it was started from (a CI clone, a learner's checkout): run it
  # from / — LXD's rsync fails with "getcwd(): No such file or directory" once that folder is gone
  cd /
  local offline="$1"
  [ -n "$INCUSD_BIN" ] || { msg "incusd is not installed (Debian: incus-base)"; exit 1; }
  if answers; then msg "already running"; return 0; fi
  if has_systemd; then
    systemctl start incus.socket incus.service
  else
    if our_pid >/dev/null; then msg "daemon process exists but does not answer yet"; else
      mkdir -p /var/log/incus "$INCUS_DIR"
      # lxcfs gives containers a /proc/meminfo that shows their own limit (optional); a killed
      # lxcfs leaves a dead FUSE mount that would make every container fail to start
      if grep -q ' /var/lib/lxcfs ' /proc/mounts && ! head -c1 /var/lib/lxcfs/proc/meminfo >/dev/null 2>&1; then
        msg "removing a dead lxcfs mount"; umount -l /var/lib/lxcfs || true
      fi
      if command -v lxcfs >/dev/null && [ -e /dev/fuse ] && ! grep -q ' /var/lib/lxcfs ' /proc/mounts; then
        mkdir -p /var/lib/lxcfs
        setsid lxcfs /var/lib/lxcfs >>"$LOG" 2>&1 </dev/null &
        wait_for 5 "lxcfs" mountpoint -q /var/lib/lxcfs || true
      fi
      local net=() ids=()
      if [ "$offline" = 1 ]; then
        # one persistent namespace, re-entered on every start (never a fresh `unshare --net`)
        [ -e "/run/netns/$NETNS" ] || ip netns add "$NETNS"
        ip -n "$NETNS" link set lo up
        net=(nsenter "--net=/run/netns/$NETNS" --)
      fi
      if [ -s "$IDS/subuid" ] && [ -s "$IDS/subgid" ]; then
        # shellcheck disable=SC2016
        ids=(unshare --mount --propagation slave -- bash -c 'mount --bind "$0/subuid" /etc/subuid &&
          mount --bind "$0/subgid" /etc/subgid && exec "$@"' "$IDS")
      fi
      echo "$offline" > "$MODEFILE"
      # bash -c writes its own pid, then execs (same pid) into [nsenter ->] [unshare ->] incusd
      # shellcheck disable=SC2016
      setsid bash -c 'echo $$ > "$0"; exec "$@"' "$PIDFILE" "${net[@]}" "${ids[@]}" "$INCUSD_BIN" \
        --group incus-admin --logfile=/var/log/incus/incusd.log >>"$LOG" 2>&1 </dev/null &
    fi
  fi
  local end=$(( $(date +%s) + 30 ))
  until answers; do
    if [ "$(date +%s)" -ge "$end" ]; then
      msg "Incus did not answer within 30 s; last lines of $LOG:"; tail -n 20 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  msg "running (INCUS_DIR=$INCUS_DIR, offline=$offline${INCUS_BIN:+, client $INCUS_BIN})"
}

stop() {
  local sig="${1:-TERM}"
  if has_systemd; then systemctl "$([ "$sig" = KILL ] && echo kill || echo stop)" incus.service; return 0; fi
  local pid
  if ! pid="$(our_pid)"; then
    if answers; then msg "Incus runs but was not started by this script: not stopping it"; exit 1; fi
    msg "not running"; return 0
  fi
  kill "-$sig" "$pid"
  local end=$(( $(date +%s) + 10 ))
  while [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = incusd ]; do
    if [ "$(date +%s)" -ge "$end" ]; then
      msg "Incus (pid $pid) still busy after 10 s: SIGKILL"; kill -KILL "$pid"; end=$(( $(date +%s) + 5 ))
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
  *) sed -n '2,28p' "$0"; exit 2 ;;
esac
