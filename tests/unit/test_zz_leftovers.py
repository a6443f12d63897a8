"""Runs last (file name): after the whole suite, nothing of the course's is left on the host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from virtlab import PREFIX, probe


def test_no_course_processes_left_on_the_host():
    """The host's processes, not only what the daemons list: an LXC monitor or QEMU guest of a
    course instance that a daemon lost (e.g. restarted in another network namespace) counts."""
    from virtlab import orphans

    left = orphans.course_processes()
    assert not left, f"course processes still running on the host: {left}"


def test_no_course_cgroups_left():
    cg = probe.cgroups(refresh=True)
    roots = {Path(m) for m in cg.v1_controllers.values()} | ({Path(cg.v2_mount)} if cg.v2_mount else set())
    left = [str(p) for root in roots for p in root.rglob(f"{PREFIX}*") if p.is_dir()]
    assert not left, f"course cgroups left behind: {left}"


def test_no_course_netns_or_links_left():
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    assert not [n for n in ns.split() if n.startswith(PREFIX)], ns
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=10).stdout
    left = [ln.split(":")[1].strip() for ln in links.splitlines() if ln.split(":")[1].strip().startswith(PREFIX)]
    assert not left, f"course network links left behind: {left}"


def test_no_course_lxd_instances_left():
    info = probe.lxd(refresh=True)
    if not info.reachable:
        pytest.skip("no LXD here")
    import pylxd

    client = pylxd.Client(endpoint=info.socket, timeout=10)
    left = [i.name for i in client.instances.all() if i.name.startswith(PREFIX)]
    assert not left, f"course LXD instances left behind: {left}"


def test_no_course_libvirt_domains_left():
    if not probe.libvirt_info(refresh=True).uris["qemu:///system"].get("ok"):
        pytest.skip("no libvirtd here")
    import libvirt

    conn = libvirt.open("qemu:///system")
    try:
        left = [d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX)]
    finally:
        conn.close()
    assert not left, f"course libvirt domains left behind: {left}"
