#!/usr/bin/env bash
# Start / stop / query libvirt's daemons by hand on a machine without systemd (CI, containers).
# With systemd, use `systemctl start libvirtd` instead; provision.d/30-libvirt.sh picks for you.
#
#   labs/lab-vm/libvirt-daemon.sh start    # virtlogd + libvirtd, detached, logging to /var/log/libvirt/
#   labs/lab-vm/libvirt-daemon.sh status   # exit 0 when libvirtd answers on its socket
#   labs/lab-vm/libvirt-daemon.sh stop     # only the daemons this script started (pid files)
#   labs/lab-vm/libvirt-daemon.sh reaped   # exit 0 when libvirtd runs under tini (see start)
#
# Idempotent: `start` does nothing when the daemons already run. Every wait has a deadline.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=provision.d/common.sh
. "$HERE/provision.d/common.sh"
SOCK=/run/libvirt/libvirt-sock
LOGDIR=/var/log/libvirt
LIBVIRTD_PID=/run/libvirtd.pid
VIRTLOGD_PID=/run/virtlogd.pid
DEADLINE="${LIBVIRT_START_DEADLINE:-30}"

say() { printf '[libvirt-daemon] %s\n' "$*"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# libvirtd runs under tini (see start), so its QEMUs are reaped at once
reaped() {
  alive "$LIBVIRTD_PID" || return 1
  local ppid; ppid="$(awk '/^PPid:/ {print $2}' "/proc/$(cat "$LIBVIRTD_PID")/status" 2>/dev/null)"
  [ -n "$ppid" ] && [ "$(cat "/proc/$ppid/comm" 2>/dev/null)" = tini ]
}
answers() { [ -S "$SOCK" ] && timeout 20 virsh -q -c qemu:///system version >/dev/null 2>&1; }

start() {
  # a daemon outlives the folder it was started from (a CI clone, a learner's checkout): run it
  # from / — LXD's rsync fails with "getcwd(): No such file or directory" once that folder is gone
  cd /
  mkdir -p "$LOGDIR" /run/libvirt
  if ! alive "$VIRTLOGD_PID"; then
    say "starting virtlogd (log: $LOGDIR/virtlogd.log)"
    LIBVIRT_LOG_OUTPUTS="3:file:$LOGDIR/virtlogd.log" setsid virtlogd --daemon --pid-file "$VIRTLOGD_PID" \
      </dev/null >>"$LOGDIR/virtlogd.log" 2>&1
    wait_for "$DEADLINE" "virtlogd (see $LOGDIR/)" alive "$VIRTLOGD_PID"
  fi
  if ! alive "$LIBVIRTD_PID"; then
    if command -v tini >/dev/null; then
      # libvirtd double-forks each QEMU, which then belongs to the nearest subreaper, else to
      # PID 1. Without systemd, PID 1 may reap late (measured on CI's machines: 1.3-1.8 s) and
      # libvirt's destroy waits for the zombie to go: every VM stop took 1.2-2 s. Under
      # `tini -s` (a subreaper that reaps at once) libvirtd runs in the foreground.
      say "starting libvirtd under tini, a subreaper (log: $LOGDIR/libvirtd.log)"
      LIBVIRT_LOG_OUTPUTS="3:file:$LOGDIR/libvirtd.log" setsid tini -s -- libvirtd --pid-file \
        "$LIBVIRTD_PID" </dev/null >>"$LOGDIR/libvirtd.log" 2>&1 &
    else
      say "starting libvirtd (log: $LOGDIR/libvirtd.log; no tini: QEMU is reaped by PID 1)"
      LIBVIRT_LOG_OUTPUTS="3:file:$LOGDIR/libvirtd.log" setsid libvirtd --daemon --pid-file "$LIBVIRTD_PID" \
        </dev/null >>"$LOGDIR/libvirtd.log" 2>&1
    fi
  fi
  wait_for "$DEADLINE" "libvirtd socket $SOCK (see $LOGDIR/)" test -S "$SOCK"
  # the first qemu:///system connection probes QEMU's capabilities (several seconds, cached after)
  wait_for 120 "libvirtd answering on qemu:///system (see $LOGDIR/)" answers
  say "libvirtd is up (pid $(cat "$LIBVIRTD_PID"))"
}

stop() {
  local f
  for f in "$LIBVIRTD_PID" "$VIRTLOGD_PID"; do
    if alive "$f"; then
      say "stopping $(basename "$f" .pid)"; kill "$(cat "$f")"
      ( wait_for 20 "$(basename "$f" .pid) exit" bash -c "! kill -0 $(cat "$f") 2>/dev/null" ) || true
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers; then say "libvirtd answers on $SOCK"; else say "libvirtd is not running"; exit 3; fi ;;
  reaped) reaped ;;
  *) echo "usage: $0 start|stop|status|reaped" >&2; exit 2 ;;
esac
