# shellcheck shell=bash
# Learner part of provision.sh (sourced): what a NON-ROOT learner needs to run every section live
# without sudo (uses step/has_systemd from common.sh and $LEARNER).
#
# - cgroups: a course subtree delegated to the learner, <hierarchy>/virtlab-learners/<user>,
#   owned by them (directory, cgroup.procs, tasks, cgroup.subtree_control), with the learner's
#   whole allowance as its limits (memory, pids), so their own course cgroups nest inside and
#   cannot starve the host. cgroup v1 / hybrid (no systemd): one subtree per v1 hierarchy, plus
#   the v2 companion. Pure cgroup v2 with systemd: systemd delegates the user's own subtree
#   (user@.service, Delegate=yes), nothing to do here.
# - /dev/kvm: group kvm (done in 30-libvirt.sh), the learner is added to it.
# Idempotent.
LEARNER_MEMORY="${LEARNER_MEMORY:-2G}"
LEARNER_PIDS="${LEARNER_PIDS:-1024}"

if [ -z "${LEARNER:-}" ] || ! id "$LEARNER" >/dev/null 2>&1; then
  step "no learner given (--user NAME): nothing to delegate"
  return 0
fi
if getent group kvm >/dev/null && ! id -nG "$LEARNER" | tr ' ' '\n' | grep -qx kvm; then
  step "adding $LEARNER to group kvm"; usermod -aG kvm "$LEARNER"
fi

delegate_dir() {  # delegate_dir DIR: make DIR and hand it (and its interface files) to the learner
  local d="$1"
  mkdir -p "$d"
  chown "$LEARNER" "$d"
  local f
  for f in cgroup.procs tasks cgroup.subtree_control cgroup.threads; do
    [ -e "$d/$f" ] && chown "$LEARNER" "$d/$f"
  done
  return 0
}

if has_systemd && [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  step "cgroup v2 with systemd: the learner's session is delegated by systemd (user@.service)"
else
  n=0
  while read -r _ mnt fstype opts _; do
    sub=""
    case "$fstype" in
      cgroup) for c in memory pids cpu cpuacct freezer; do
                case ",$opts," in *",$c,"*) sub=1 ;; esac
              done ;;
      cgroup2) sub=1 ;;
    esac
    [ -n "$sub" ] || continue
    top="$mnt/virtlab-learners"
    mkdir -p "$top"
    delegate_dir "$top/$LEARNER"
    if [ "$fstype" = cgroup2 ]; then
      # v2: controllers the parent enables become the learner's to enable below
      for c in memory pids cpu; do
        grep -qw "$c" "$mnt/cgroup.controllers" 2>/dev/null && echo "+$c" > "$top/cgroup.subtree_control" 2>/dev/null || true
      done
    fi
    case ",$opts," in
      *,memory,*) echo "$LEARNER_MEMORY" > "$top/$LEARNER/memory.limit_in_bytes" 2>/dev/null || true ;;
    esac
    case ",$opts," in
      *,pids,*) echo "$LEARNER_PIDS" > "$top/$LEARNER/pids.max" ;;
    esac
    [ "$fstype" = cgroup2 ] && [ -e "$top/$LEARNER/memory.max" ] && echo "$LEARNER_MEMORY" > "$top/$LEARNER/memory.max"
    [ "$fstype" = cgroup2 ] && [ -e "$top/$LEARNER/pids.max" ] && echo "$LEARNER_PIDS" > "$top/$LEARNER/pids.max"
    n=$((n + 1))
  done < /proc/self/mounts
  step "delegated a course cgroup subtree to $LEARNER in $n hierarchies (memory $LEARNER_MEMORY, pids $LEARNER_PIDS)"
fi
