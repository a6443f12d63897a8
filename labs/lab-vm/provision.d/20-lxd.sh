# LXD part of provision.sh (sourced; uses step/die/wait_for/apt_install/has_systemd, $OFFLINE,
# $LEARNER, $REPO, $HERE from common.sh and provision.sh).
#
# 1. install LXD (Debian 12: the `lxd` package; Ubuntu: the snap, if that is what is there)
# 2. start it: systemd where present, else by hand via lxd-daemon.sh (detached, survives this
#    script); with --offline inside an empty network namespace
# 3. `lxd init --preseed` with a dir storage pool and no managed network — only if not yet done
# 4. --offline: core.proxy_http/https on loopback and no image auto-update, so LXD never calls out
# 5. build + import the course images offline (`virtlab images build --only lxd`); with
#    VIRTLAB_LXD_DEBIAN=1 also the optional Debian image (debootstrap, ~1 min, Debian mirror)
# 6. add the learner to group lxd
# A second run finds everything in place and takes a few seconds.

if [ -S /var/snap/lxd/common/lxd/unix.socket ] && ! command -v /usr/bin/lxd >/dev/null; then
  step "LXD from the snap is present: using it"
  export LXD_DIR=/var/snap/lxd/common/lxd
else
  # uidmap: newuidmap/newgidmap; lxcfs: container-sized /proc/meminfo etc.
  # btrfs-progs: the copy-on-write storage pool episode 04 measures (on a loop file LXD makes)
  apt_install lxd lxd-client lxcfs uidmap python3 btrfs-progs
  export LXD_DIR=/var/lib/lxd
fi
getent group lxd >/dev/null || groupadd --system lxd

# root needs a subordinate id range for unprivileged containers (Debian's package adds one)
for f in /etc/subuid /etc/subgid; do
  grep -q '^root:' "$f" 2>/dev/null || { step "adding root:100000:1000000001 to $f"; echo "root:100000:1000000001" >> "$f"; }
done

if [ -S "$LXD_DIR/unix.socket" ] && timeout 5 lxd waitready --timeout=2 >/dev/null 2>&1; then
  step "LXD already running"
else
  step "starting LXD"
  if [ "$OFFLINE" = 1 ]; then "$HERE/lxd-daemon.sh" start --offline; else "$HERE/lxd-daemon.sh" start; fi
fi

if [ -z "$(lxc storage list --format csv 2>/dev/null)" ]; then
  step "lxd init --preseed (dir storage pool, no managed network)"
  lxd init --preseed <<'EOF'
config:
  images.auto_update_interval: "0"
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
EOF
else
  step "LXD already initialised (storage: $(lxc storage list --format csv | cut -d, -f1 | tr '\n' ' '))"
fi

if [ "$OFFLINE" = 1 ]; then
  # nothing may leave the machine: proxies to a closed loopback port, no image auto-updates
  for kv in core.proxy_http=http://127.0.0.1:9 core.proxy_https=http://127.0.0.1:9 images.auto_update_interval=0; do
    k="${kv%%=*}"; v="${kv#*=}"
    [ "$(lxc config get "$k")" = "$v" ] || lxc config set "$k" "$v"
  done
fi

# the course images: built by the package, so `virtlab images build --only lxd` does the same
if [ -x "$REPO/.venv/bin/python" ] && "$REPO/.venv/bin/python" -c 'import pylxd' 2>/dev/null; then
  VL_PY=("$REPO/.venv/bin/python")
else
  # before `make lab` made the venv: Debian's python3 + python3-pylxd run the same code
  apt_install python3-pylxd
  VL_PY=(env "PYTHONPATH=$REPO/src" /usr/bin/python3)
fi
step "course LXD images"
"${VL_PY[@]}" -m virtlab.cli images build --only lxd || die "building the course LXD images failed"

if [ -n "${LEARNER:-}" ] && id "$LEARNER" >/dev/null 2>&1 && ! id -nG "$LEARNER" | tr ' ' '\n' | grep -qx lxd; then
  step "adding $LEARNER to group lxd (log in again to use it)"
  usermod -aG lxd "$LEARNER"
fi
