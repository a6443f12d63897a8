# shellcheck shell=bash
# Classroom part of provision.sh (sourced; only with --classroom): a whole class on one host.
# See docs/classroom.md. Idempotent.
#
# - learner accounts (--learners a,b,...; created if missing, home 0700, NO lxd/libvirt/incus/kvm
#   group: those are root-equivalent), passwords from $CLASSROOM_PASSWORDS_FILE (user:password
#   lines, fed to chpasswd on stdin) when given
# - per learner: a delegated cgroup subtree with memory/pids (40-learner.sh) + a CPU quota;
#   a restricted LXD project with limits + a restricted client certificate (virtlab.classroom)
# - /opt/virtlab-classroom: a venv from the system Python with JupyterHub, JupyterLab and the
#   course package (learners cannot use an interpreter under /root), configurable-http-proxy
#   from npm
# - starts the gate and the hub (labs/classroom/classroom.sh start)
[ "${CLASSROOM:-0}" = 1 ] || { step "not a classroom (--classroom): nothing to do"; return 0; }
CLASSROOM_DIR="${VIRTLAB_CLASSROOM_DIR:-/opt/virtlab-classroom}"
CLASSROOM_STATE="${VIRTLAB_CLASSROOM_STATE:-/var/lib/virtlab-classroom}"
# per-learner limits (override in the environment)
CL_INSTANCES="${CL_INSTANCES:-3}"; CL_MEMORY="${CL_MEMORY:-768MiB}"; CL_CPU="${CL_CPU:-1}"
CL_PROCESSES="${CL_PROCESSES:-1000}"; CL_DISK="${CL_DISK:-2GiB}"
CL_LXD_CPU="${CL_LXD_CPU:-$CL_INSTANCES}"  # sum of the containers' limits.cpu (1 each by default)
LEARNER_MEMORY="${LEARNER_MEMORY:-2G}"; LEARNER_PIDS="${LEARNER_PIDS:-1024}"

apt_install python3-venv python3-dev gcc pkg-config libvirt-dev libpam0g
# node + npm for the hub's proxy: Debian's packages unless a node is installed already
command -v npm >/dev/null || apt_install nodejs npm
mkdir -p "$CLASSROOM_DIR" "$CLASSROOM_STATE"; chmod 700 "$CLASSROOM_STATE"
if [ ! -x "$CLASSROOM_DIR/venv/bin/jupyterhub" ] || [ "$REPO/pyproject.toml" -nt "$CLASSROOM_DIR/venv/.virtlab-stamp" ] \
    || [ -n "$(find "$REPO/src/virtlab" -newer "$CLASSROOM_DIR/venv/.virtlab-stamp" -name '*.py' 2>/dev/null | head -1)" ]; then
  step "classroom venv ($CLASSROOM_DIR/venv): JupyterHub, JupyterLab, the course package"
  [ -x "$CLASSROOM_DIR/venv/bin/python" ] || /usr/bin/python3 -m venv "$CLASSROOM_DIR/venv"
  "$CLASSROOM_DIR/venv/bin/pip" install -q --progress-bar off "$REPO[hub,libvirt]" >/dev/null
  touch "$CLASSROOM_DIR/venv/.virtlab-stamp"
  CL_UPDATED=1
fi
# every learner's server would pay 1.3 s of CPU and ~15 MiB for a checker nothing uses
bash "$REPO/tools/slim_env.sh" "$CLASSROOM_DIR/venv/bin/python"
if [ ! -x "$CLASSROOM_DIR/node/node_modules/.bin/configurable-http-proxy" ]; then
  step "configurable-http-proxy (npm)"
  mkdir -p "$CLASSROOM_DIR/node"
  (cd "$CLASSROOM_DIR/node" && npm install --no-audit --no-fund --loglevel=error configurable-http-proxy >/dev/null)
fi

IFS=',' read -r -a CL_USERS <<< "${CLASSROOM_LEARNERS:-}"
[ ${#CL_USERS[@]} -gt 0 ] || die "--classroom needs --learners NAME,NAME,..."
for u in "${CL_USERS[@]}"; do
  if ! id "$u" >/dev/null 2>&1; then
    step "creating learner account $u"
    useradd -m -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$u"
  fi
  chmod 700 "$(getent passwd "$u" | cut -d: -f6)"  # learners do not read each other's files
  for g in lxd libvirt incus-admin incus kvm; do   # root-equivalent groups: never for a learner
    if id -nG "$u" | tr ' ' '\n' | grep -qx "$g"; then gpasswd -d "$u" "$g" >/dev/null; fi
  done
  LEARNER="$u"
  # shellcheck source=40-learner.sh
  . "$HERE/provision.d/40-learner.sh"
  # kvm: 40-learner adds the group; a classroom learner's VMs are TCG under qemu:///session
  if id -nG "$u" | tr ' ' '\n' | grep -qx kvm; then gpasswd -d "$u" kvm >/dev/null; fi
  for cpu in /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpu; do
    d="$cpu/virtlab-learners/$u"
    if [ -e "$d/cpu.cfs_quota_us" ]; then
      echo 100000 > "$d/cpu.cfs_period_us"; echo $(( CL_CPU * 100000 )) > "$d/cpu.cfs_quota_us"; break
    fi
  done
  [ -e "/sys/fs/cgroup/virtlab-learners/$u/cpu.max" ] && echo "$(( CL_CPU * 100000 )) 100000" > "/sys/fs/cgroup/virtlab-learners/$u/cpu.max"
  step "LXD project for $u (instances $CL_INSTANCES, memory $CL_MEMORY, cpu $CL_LXD_CPU, processes $CL_PROCESSES, disk $CL_DISK)"
  "$CLASSROOM_DIR/venv/bin/python" -m virtlab.classroom setup-learner "$u" --instances "$CL_INSTANCES" \
    --memory "$CL_MEMORY" --cpu "$CL_LXD_CPU" --processes "$CL_PROCESSES" --disk "$CL_DISK" >/dev/null
done
LEARNER=""
if [ -n "${CLASSROOM_PASSWORDS_FILE:-}" ]; then chpasswd < "$CLASSROOM_PASSWORDS_FILE"; fi
(IFS=','; echo "${CL_USERS[*]}") > "$CLASSROOM_STATE/learners"
if [ "${CL_UPDATED:-0}" = 1 ]; then  # a running gate would go on with the old code
  step "the course package was (re)installed: (re)starting the LXD gate on it"
  VIRTLAB_CLASSROOM_VENV="$CLASSROOM_DIR/venv" "$REPO/labs/classroom/classroom.sh" restart-gate
fi
VIRTLAB_CLASSROOM_VENV="$CLASSROOM_DIR/venv" "$REPO/labs/classroom/classroom.sh" start
