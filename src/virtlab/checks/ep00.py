"""Self-checks for episode 00 (start here)."""

from __future__ import annotations

from virtlab import modes, probe
from virtlab.checks import verdict


def check_accelerator(answer: str | None) -> bool:
    """Exercise 1: which accelerator will libvirt guests use on *this* machine?"""
    if answer is None:
        print("type your answer between the brackets: \"kvm\" or \"tcg\"")
        return False
    acc = probe.vm_accelerator()
    truth = acc.name
    ok = str(answer).strip().lower() == truth
    return verdict(ok, f"yes: libvirt guests here use {truth.upper()} — {acc.reason}",
                   "not what this machine says — look at the rows '/dev/kvm', 'vmx/svm CPU flags' "
                   "and 'libvirt guests use' in the table above")


def check_embedded_lxd(answer: str | None) -> bool:
    """Exercise 2: which mode does VIRTLAB_MODE=embedded pick for the LXD section?"""
    if answer is None:
        print("type your answer instead of None: \"live\", \"embedded\" or \"recorded\"")
        return False
    truth = modes.resolve("lxd", "embedded").mode
    ok = str(answer).strip().lower() == truth
    return verdict(ok, f"yes: '{truth}' — LXD is a daemon, and embedded mode never uses one",
                   "no — embedded means 'no daemons, no root'; does LXD have a daemon-free form?")
