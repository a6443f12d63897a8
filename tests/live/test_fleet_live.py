"""A fleet domain starts under the real libvirt + QEMU (TCG; no cloud image: firmware only)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from virtlab import fleet, virt


def test_fleet_domain_starts_on_qemu_system(need):
    need("libvirt")
    pytest.importorskip("pycdlib")
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img missing")
    libvirt = virt._libvirt()
    ln = fleet.Learner("fleettest", "ssh-ed25519 AAAAC3Nza test@ci")
    # qemu runs as libvirt-qemu: the files must be reachable by it (pytest's tmp_path is not)
    with tempfile.TemporaryDirectory(prefix="vl-fleet-") as tmp:
        d = Path(tmp)
        d.chmod(0o755)
        fleet.seed_iso(d / "seed.iso", {"user-data": fleet.user_data(ln), "meta-data": fleet.meta_data(ln)})
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(d / "disk.qcow2"), "20G"],
                       check=True, timeout=30)
        for f in d.iterdir():
            f.chmod(0o644)
        xml = fleet.domain_xml(ln, disk=d / "disk.qcow2", seed=d / "seed.iso", domain_type="qemu",
                               network=None)
        conn = libvirt.open(virt.SYSTEM_URI)
        dom = None
        try:
            dom = conn.defineXML(xml)
            dom.create()
            assert virt.state_name(dom) == "running"
            assert virt.is_course_domain(dom)
            assert dom.info()[1] == 4096 * 1024 and dom.info()[3] == 2
        finally:
            if dom is not None:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            conn.close()
