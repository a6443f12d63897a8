# shellcheck shell=bash
# libvirt + QEMU part of the lab provisioning (sourced by provision.sh; uses step/die/wait_for/
# apt_install/has_systemd and $OFFLINE, $LEARNER, $REPO from provision.d/common.sh).
#
# 1. install libvirt's daemons, QEMU, and what libvirt-python needs to build (libvirt-dev, gcc,
#    pkg-config); 2. keep libvirt's default NAT network off (the course needs no bridge, no NAT);
# 3. start virtlogd + libvirtd (systemd, or by hand via labs/lab-vm/libvirt-daemon.sh);
# 4. build the tiny course VM offline (kernel + busybox initramfs, readable by libvirt-qemu) with
#    the system python3 and the stdlib only (the course venv may not exist yet): the
#    distribution's kernel ("stock") and the course's minimal kernel, compiled from the
#    distribution's kernel source (linux-source) with virtlab/data/guestkernel.config and cached
#    in /var/cache/virtlab/kernel/<key> (first build ~5 min on 2 cores: 282 s here; later runs: instant).
#    VIRTLAB_MINIMAL_KERNEL=0 skips it (the course VM then boots the stock kernel);
# 5. add the learner to the libvirt group. Idempotent: a second run changes nothing.

# debootstrap: episode 08's optional Debian/systemd disk (`virtlab images build --only bootdisk`)
apt_install libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils \
  libvirt-dev pkg-config gcc python3 python3-dev busybox-static cpio debootstrap
# the minimal course kernel: the distribution's kernel source and what building it needs
if [ "${VIRTLAB_MINIMAL_KERNEL:-1}" != 0 ]; then
  apt_install linux-source make bc bison flex libelf-dev xz-utils bzip2
fi

# Without udev (containers, CI) /dev/kvm stays root:root 0600. libvirt then probes QEMU with KVM,
# later finds KVM "not available now" for its qemu user, throws its capability cache away and
# re-probes on every define (~45 s each here). Give it the ownership udev would (kvm, 0660).
if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
  if [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
    step "/dev/kvm: group kvm, mode 0660 (as udev's rule would set it)"
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  fi
fi

# Group access for the learner. libvirt's default for non-root clients is polkit over the system
# D-Bus; a host without a system bus (no systemd: CI, containers) answers them "Unable to get
# system bus connection". There, let the socket's group decide: libvirt group, mode 0770, no
# further auth. (Membership of `libvirt` is root-equivalent either way: one learner per VM.)
LIBVIRTD_CONF=/etc/libvirt/libvirtd.conf
LIBVIRT_CONF_CHANGED=0
if [ ! -S /run/dbus/system_bus_socket ] && [ -f "$LIBVIRTD_CONF" ]; then
  for kv in 'unix_sock_group="libvirt"' 'unix_sock_rw_perms="0770"' 'auth_unix_rw="none"'; do
    k="${kv%%=*}"
    if ! grep -qx "$k = ${kv#*=}" "$LIBVIRTD_CONF"; then
      sed -i "/^#\?$k *=/d" "$LIBVIRTD_CONF"
      echo "$k = ${kv#*=}" >> "$LIBVIRTD_CONF"
      LIBVIRT_CONF_CHANGED=1
    fi
  done
  [ "$LIBVIRT_CONF_CHANGED" = 1 ] && step "libvirtd: socket group libvirt (0770), no polkit (no system D-Bus here)"
fi

# libvirt's "default" network would create virbr0 + dnsmasq (NAT to the outside): keep it off.
rm -f /etc/libvirt/qemu/networks/autostart/default.xml

if has_systemd; then
  step "starting libvirtd (systemd)"
  systemctl enable --now virtlogd.socket libvirtd.socket >/dev/null 2>&1 || true
  systemctl start libvirtd || die "systemctl start libvirtd failed (journalctl -u libvirtd)"
  wait_for 30 "libvirtd socket" test -S /run/libvirt/libvirt-sock
else
  # tini: a subreaper for libvirtd's QEMUs (libvirt-daemon.sh says why: VM stops 1.2-2 s -> ms)
  apt_install tini || step "tini could not be installed: libvirtd starts as before (PID 1 reaps its QEMUs)"
  if [ "$LIBVIRT_CONF_CHANGED" = 1 ] && "$HERE/libvirt-daemon.sh" status >/dev/null 2>&1; then
    step "restarting libvirtd (its configuration changed)"; "$HERE/libvirt-daemon.sh" stop
  elif "$HERE/libvirt-daemon.sh" status >/dev/null 2>&1 && ! "$HERE/libvirt-daemon.sh" reaped; then
    step "restarting libvirtd under tini (its QEMUs were left for PID 1 to reap)"
    "$HERE/libvirt-daemon.sh" stop
  fi
  step "starting libvirtd by hand (no systemd)"
  "$HERE/libvirt-daemon.sh" start || die "libvirtd did not start (see /var/log/libvirt/libvirtd.log)"
fi

# if the default network is running (e.g. a distro autostarted it), stop it; leave it defined
if timeout 30 virsh -q -c qemu:///system net-info default 2>/dev/null | grep -Eq '^Active: +yes'; then
  step "stopping libvirt's default NAT network"
  timeout 30 virsh -q -c qemu:///system net-destroy default >/dev/null
fi

step "building the tiny course VM (kernel + busybox initramfs) offline"
PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}" python3 -c \
  'import sys; from virtlab import virt; [print("  " + p) for p in virt.build_images(force=False)]' \
  || die "building the course VM failed (run: PYTHONPATH=$REPO/src python3 -m virtlab.cli images build --only vm)"

# learners' snapshot disks: their homes may be closed to QEMU's user, so a shared sticky folder
install -d -m 1777 /var/lib/virtlab/disks

if [ -n "${LEARNER:-}" ] && id "$LEARNER" >/dev/null 2>&1; then
  if ! id -nG "$LEARNER" | tr ' ' '\n' | grep -qx libvirt; then
    step "adding $LEARNER to the libvirt group (log in again to use it)"
    usermod -aG libvirt "$LEARNER"
  fi
fi
