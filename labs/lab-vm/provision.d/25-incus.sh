# shellcheck shell=bash
# Incus part of provision.sh (sourced; runs only with `provision.sh --incus`). Incus is the
# community fork of LXD (2023); the course drives either through the same code (virtlab.lxd).
# Uses step/die/wait_for/apt_install/has_systemd, $OFFLINE, $INCUS, $LEARNER, $REPO, $HERE.
#
# 1. install `incus-base` (daemon for containers + the `incus` CLI; NOT the `incus` meta-package,
#    which pulls QEMU >= 8 for Incus VMs): Debian 12 from bookworm-backports (added as a deb822
#    source signed by the Debian archive keyring), Debian 13+ and others from their main suite
# 2. its own subordinate uid/gid range (root:1100000000:1000000000), distinct from LXD's
#    ranges (root:100000:1000000001 from 20-lxd.sh, plus what Debian's lxd package may append
#    after it, up to ~1.01e9) — both daemons read root's ranges from /etc/subuid, so by default
#    their containers would share host uids. incusd reads its range from /etc/virtlab-incus/
#    subuid,subgid bind-mounted over /etc/subuid,/etc/subgid in its own mount namespace
#    (incus-daemon.sh; with systemd, a drop-in with BindReadOnlyPaths=)
# 3. start it: systemd where present, else incus-daemon.sh (with --offline inside the persistent
#    network namespace virtlab-incus)
# 4. `incus admin init --preseed`: a dir storage pool, no managed network — only if not yet done
# 5. --offline: proxies on a closed loopback port, no image auto-update
# 6. the course images (`VIRTLAB_CONTAINER_DAEMON=incus virtlab images build --only lxd`)
# 7. add the learner to group incus-admin
[ "${INCUS:-0}" = 1 ] || { step "Incus not requested (provision.sh --incus): skipped"; return 0; }

INCUS_SUBID="root:1100000000:1000000000"
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
osid="$(. /etc/os-release && echo "${ID:-}")"

# LXD's range first (as 20-lxd.sh adds it): Incus's package would otherwise claim root's entry
for f in /etc/subuid /etc/subgid; do
  grep -q '^root:' "$f" 2>/dev/null || { step "adding root:100000:1000000001 to $f"; echo "root:100000:1000000001" >> "$f"; }
done

if ! dpkg-query -W -f='${Status}' incus-base 2>/dev/null | grep -q 'ok installed'; then
  if [ "$osid" = debian ] && [ "$codename" = bookworm ]; then
    src=/etc/apt/sources.list.d/virtlab-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      mirror="$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | grep -v security | head -n1 | awk '{print $2}')"
      step "adding bookworm-backports ($src) for incus-base"
      cat > "$src" <<SRC
# added by virtlab labs/lab-vm/provision.d/25-incus.sh: Incus (incus-base) for Debian 12
Types: deb
URIs: ${mirror:-http://deb.debian.org/debian}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    apt_install uidmap lxcfs btrfs-progs   # from bookworm itself (btrfs: episode 04's CoW pool)
    step "apt-get update (backports)"; apt-get update -q >/dev/null
    step "installing incus-base from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      incus-base/bookworm-backports >/dev/null || die "installing incus-base from bookworm-backports failed"
  else
    apt_install incus-base uidmap lxcfs btrfs-progs
  fi
fi
INCUSD="$(command -v incusd || echo /usr/libexec/incus/incusd)"
[ -x "$INCUSD" ] || die "incusd not found after installing incus-base"
export INCUS_DIR=/var/lib/incus

mkdir -p /etc/virtlab-incus
for f in subuid subgid; do
  if [ "$(cat /etc/virtlab-incus/$f 2>/dev/null)" != "$INCUS_SUBID" ]; then
    step "Incus's own subordinate ids: $INCUS_SUBID (/etc/virtlab-incus/$f)"
    echo "$INCUS_SUBID" > "/etc/virtlab-incus/$f"
  fi
done
if has_systemd; then
  mkdir -p /etc/systemd/system/incus.service.d
  printf '[Service]\nBindReadOnlyPaths=/etc/virtlab-incus/subuid:/etc/subuid /etc/virtlab-incus/subgid:/etc/subgid\n' \
    > /etc/systemd/system/incus.service.d/virtlab-idmap.conf
  systemctl daemon-reload
fi

if [ -S "$INCUS_DIR/unix.socket" ] && timeout 5 "$INCUSD" waitready --timeout=2 >/dev/null 2>&1; then
  step "Incus already running"
else
  step "starting Incus"
  if [ "$OFFLINE" = 1 ]; then "$HERE/incus-daemon.sh" start --offline; else "$HERE/incus-daemon.sh" start; fi
fi

if [ -z "$(incus storage list --format csv 2>/dev/null)" ]; then
  step "incus admin init --preseed (dir storage pool, no managed network)"
  incus admin init --preseed <<'YAML'
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
YAML
else
  step "Incus already initialised (storage: $(incus storage list --format csv | cut -d, -f1 | tr '\n' ' '))"
fi

if [ "$OFFLINE" = 1 ]; then
  for kv in core.proxy_http=http://127.0.0.1:9 core.proxy_https=http://127.0.0.1:9 images.auto_update_interval=0; do
    k="${kv%%=*}"; v="${kv#*=}"
    [ "$(incus config get "$k")" = "$v" ] || incus config set "$k" "$v"
  done
fi

if [ -x "$REPO/.venv/bin/python" ] && "$REPO/.venv/bin/python" -c 'import pylxd' 2>/dev/null; then
  VL_PY=("$REPO/.venv/bin/python")
else
  # Debian's python3-pylxd (2.2.x) has no instances manager; virtlab only uses its raw API
  apt_install python3-pylxd
  VL_PY=(env "PYTHONPATH=$REPO/src" /usr/bin/python3)
fi
step "course images in Incus"
VIRTLAB_CONTAINER_DAEMON=incus "${VL_PY[@]}" -m virtlab.cli images build --only lxd \
  || die "building the course images in Incus failed"

if [ -n "${LEARNER:-}" ] && id "$LEARNER" >/dev/null 2>&1 && ! id -nG "$LEARNER" | tr ' ' '\n' | grep -qx incus-admin; then
  step "adding $LEARNER to group incus-admin (log in again to use it)"
  usermod -aG incus-admin "$LEARNER"
fi
