#!/usr/bin/env bash
# Run a command as a machine that was never provisioned would: in a private mount namespace
# (nothing changes for the rest of the host), with the lab services' sockets and the lab tools
# hidden. Root only (it mounts); the command may drop to another user itself (runuser).
#
#   tools/masked.sh [--no-busybox] [--no-kvm] -- COMMAND...
#
# Hidden: LXD/Incus/libvirt sockets and the classroom's state (an empty tmpfs over their run/state
# folders), QEMU,
# newuidmap/newgidmap, lxc/lxd/incus/virsh/libvirtd, chromium; with --no-busybox the static
# busybox too (set-up must then fetch its own), with --no-kvm /dev/kvm (as on Binder).
set -euo pipefail
if [ "${VIRTLAB_MASKED:-0}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "masked.sh: needs root (it makes a private mount namespace)" >&2; exit 2; }
  exec unshare --mount --propagation private -- env VIRTLAB_MASKED=1 "$0" "$@"
fi
no_busybox=0; no_kvm=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-busybox) no_busybox=1 ;;
    --no-kvm) no_kvm=1 ;;
    --) shift; break ;;
    *) break ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "usage: $0 [--no-busybox] [--no-kvm] -- COMMAND..." >&2; exit 2; }
for d in /var/lib/lxd /var/snap/lxd/common/lxd /var/lib/incus /run/libvirt /var/run/libvirt \
    /var/lib/virtlab-classroom /run/virtlab-classroom; do
  [ -d "$d" ] && ! [ -L "$d" ] && mount -t tmpfs -o size=1m,mode=0755 vl-masked "$d"
done
tools=(qemu-system-x86_64 qemu-system-i386 newuidmap newgidmap lxc lxd incus virsh libvirtd chromium)
[ "$no_busybox" = 1 ] && tools+=(busybox)
for t in "${tools[@]}"; do
  for p in /usr/bin/$t /usr/sbin/$t /bin/$t /sbin/$t /usr/local/bin/$t; do
    # /usr/bin and /bin may be one folder: mask each real file once
    if [ -e "$p" ] && ! grep -q " $(readlink -f "$p") " /proc/self/mountinfo; then
      mount --bind /dev/null "$(readlink -f "$p")" 2>/dev/null || true
    fi
  done
done
[ "$no_kvm" = 1 ] && [ -e /dev/kvm ] && mount --bind /dev/null /dev/kvm
exec "$@"
