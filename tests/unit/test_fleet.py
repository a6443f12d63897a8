"""Fleet: per-learner NoCloud seeds and libvirt domains (defined in libvirt's test driver).

Not tested here (no cloud image can be fetched on this machine): booting the domains, cloud-init
consuming the seed, the provisioning inside the VM. See labs/fleet/README.md.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from virtlab import LIBVIRT_METADATA_NS, OWNER_VALUE, fleet

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx0aWH7nS2nZxD9W1Hk0n8mI8d7oJ1c6fM6sJX5A5Yp ada@laptop"
KEY_B = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@pc"
ROSTER = f"# login,key\nada,{KEY_A}\n\nbob_k,{KEY_B}\ncyd,{KEY_A}\n"


def test_roster_is_parsed_and_validated():
    r = fleet.read_roster(ROSTER)
    assert [x.login for x in r] == ["ada", "bob_k", "cyd"]
    assert [x.domain for x in r] == ["vl-lab-ada", "vl-lab-bob-k", "vl-lab-cyd"]
    for bad in (f"Ada,{KEY_A}", "ada,not-a-key", f"ada,{KEY_A}\nada,{KEY_B}", f"root,{KEY_A}",
                "", f"ada,{KEY_A},extra", f"ada,{KEY_A}\nrm -rf /,{KEY_B}"):
        with pytest.raises(ValueError):
            fleet.read_roster(bad)


def test_user_data_is_the_lab_vm_with_the_learners_account():
    ln = fleet.read_roster(ROSTER)[1]
    text = fleet.user_data(ln)
    assert text.startswith("#cloud-config\n")
    cfg = yaml.safe_load(text)
    template = yaml.safe_load(fleet.USER_DATA.read_text())
    assert cfg["users"][0]["name"] == "bob_k"
    assert cfg["users"][0]["ssh_authorized_keys"] == [KEY_B]
    assert cfg["hostname"] == "vl-lab-bob-k"
    flat = yaml.safe_dump(cfg)
    assert "learner" not in flat.replace("learner@", "")  # every account/path use swapped
    assert ["bash", "/home/bob_k/course/labs/lab-vm/provision.sh", "--user", "bob_k"] in cfg["runcmd"]
    # everything else is the lab VM's own configuration
    assert cfg["packages"] == template["packages"]
    assert cfg["write_files"] == fleet._swap(template["write_files"], "learner", "bob_k")
    assert "bob_k@<vm>" in cfg["write_files"][0]["content"]
    assert len(cfg["runcmd"]) == len(template["runcmd"])


def test_build_writes_seeds_and_valid_domains(tmp_path: Path):
    pycdlib = pytest.importorskip("pycdlib")
    roster = fleet.read_roster(ROSTER)
    rows = fleet.build(roster, tmp_path / "fleet", image=tmp_path / "base.qcow2", memory_mib=4096, vcpus=2)
    assert [r["login"] for r in rows] == ["ada", "bob_k", "cyd"]
    ids = set()
    for r, ln in zip(rows, roster, strict=True):
        d = Path(r["dir"])
        meta = yaml.safe_load((d / "meta-data").read_text())
        ids.add(meta["instance-id"])
        iso = pycdlib.PyCdlib()
        iso.open(str(d / "seed.iso"))
        try:
            assert iso.pvd.volume_identifier.decode().strip() == "cidata"
            for name in ("user-data", "meta-data"):
                buf = __import__("io").BytesIO()
                iso.get_file_from_iso_fp(buf, rr_path=f"/{name}")
                assert buf.getvalue().decode() == (d / name).read_text()
        finally:
            iso.close()
        root = ET.fromstring((d / "domain.xml").read_text())
        assert root.get("type") == "kvm" and root.findtext("name") == ln.domain
        assert root.find("memory").text == "4096" and root.find("memory").get("unit") == "MiB"
        assert root.findtext("vcpu") == "2"
        assert root.find(f"metadata/{{{LIBVIRT_METADATA_NS}}}owner").text == OWNER_VALUE
        srcs = [e.get("file") for e in root.iter("source") if e.get("file")]
        assert srcs == [str((d / "disk.qcow2").resolve()), str((d / "seed.iso").resolve())]
        assert root.find("cpu").get("mode") == "host-passthrough"
    assert len(ids) == 3


def test_domains_define_in_libvirts_test_driver(tmp_path: Path):
    libvirt = pytest.importorskip("libvirt")
    libvirt.registerErrorHandler(lambda *_: None, None)
    roster = fleet.read_roster(ROSTER)
    conn = libvirt.open("test:///default")
    try:
        for ln in roster:
            xml = fleet.domain_xml(ln, disk=tmp_path / "d.qcow2", seed=tmp_path / "s.iso", domain_type="test")
            dom = conn.defineXML(xml)
            try:
                assert dom.name() == ln.domain
                assert dom.info()[1] == 4096 * 1024 and dom.info()[3] == 2
                back = ET.fromstring(dom.XMLDesc(0))
                assert back.find("devices/disk[@device='cdrom']/source").get("file") == str(tmp_path / "s.iso")
                assert back.find("devices/interface/source").get("network") == "default"
            finally:
                dom.undefine()
    finally:
        conn.close()


def test_bad_sizes_refused(tmp_path: Path):
    ln = fleet.read_roster(ROSTER)[0]
    with pytest.raises(ValueError):
        fleet.domain_xml(ln, disk=tmp_path / "d", seed=tmp_path / "s", memory_mib=256)
    with pytest.raises(ValueError):
        fleet.domain_xml(ln, disk=tmp_path / "d", seed=tmp_path / "s", domain_type="xen")
    with pytest.raises(ValueError):
        fleet.build([ln], tmp_path, image=tmp_path / "x", disk_gib=1)
