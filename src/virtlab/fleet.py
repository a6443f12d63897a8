"""One lab VM per learner: cloud-init NoCloud seeds and libvirt domains for a class.

From a roster (``login,ssh-public-key`` per line) and a cloud image this writes, per learner::

    <out>/<login>/user-data     labs/lab-vm/user-data.yaml with the learner's account and key
    <out>/<login>/meta-data     instance-id + hostname (NoCloud)
    <out>/<login>/seed.iso      both files on an ISO 9660 volume labelled "cidata" (pycdlib)
    <out>/<login>/domain.xml    the libvirt domain: qcow2 overlay on the image, seed as CD-ROM

and, with ``--define URI``, defines the domains (``--start`` boots them). Overlay disks are
made with ``qemu-img`` only when ``--disks`` is given (they need the base image).

    python -m virtlab.fleet roster.csv --image debian-12-genericcloud-amd64.qcow2 --out fleet/

Each domain is named ``vl-lab-<login>`` and carries the course's ownership metadata, so
``virtlab cleanup`` on the class host would remove them — never run it there while a class is
working. The guide is ``labs/fleet/README.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtlab import LIBVIRT_METADATA_NS, OWNER_VALUE
from virtlab.grading import check_learner
from virtlab.safety import check_int, course_name

ROOT = Path(__file__).resolve().parents[2]
USER_DATA = ROOT / "labs" / "lab-vm" / "user-data.yaml"
TEMPLATE_USER = "learner"
_KEY_RE = re.compile(r"(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n]*)?")
#: what the lab VM needs (labs/lab-vm/README.md): 2 vCPUs, 4 GiB, 20 GB
DEFAULT_MEMORY_MIB, DEFAULT_VCPUS, DEFAULT_DISK_GIB = 4096, 2, 20


@dataclass(frozen=True)
class Learner:
    login: str
    ssh_key: str

    @property
    def domain(self) -> str:
        return course_name(f"lab-{self.login.replace('_', '-')}")


def read_roster(text: str) -> list[Learner]:
    """Parse ``login,ssh-key`` lines (``#`` comments and blank lines ignored); all validated."""
    out: list[Learner] = []
    seen: set[str] = set()
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2:
            raise ValueError(f"roster line {n}: write 'login,ssh-public-key', got {len(row)} fields")
        login, key = row[0].strip(), row[1].strip()
        check_learner(login)
        if login == "root" or login in seen:
            raise ValueError(f"roster line {n}: login {login!r} is reserved or given twice")
        if not _KEY_RE.fullmatch(key):
            raise ValueError(f"roster line {n}: {key[:30]!r}... is not an SSH public key line")
        seen.add(login)
        out.append(Learner(login, key))
    if not out:
        raise ValueError("the roster names no learner")
    return out


def _swap(value: Any, old: str, new: str) -> Any:
    """Replace the template account in strings of a cloud-config tree (paths, commands)."""
    if isinstance(value, str):
        return re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, value)
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    return value


def user_data(learner: Learner, template: str | None = None) -> str:
    """The learner's cloud-config: the lab VM's, with their account and key instead of the
    template's ``learner``."""
    import yaml

    text = USER_DATA.read_text() if template is None else template
    cfg = yaml.safe_load(text)
    users = cfg.get("users") or []
    if not users or users[0].get("name") != TEMPLATE_USER:
        raise ValueError(f"the template's first user must be {TEMPLATE_USER!r}")
    cfg = _swap(cfg, TEMPLATE_USER, learner.login)
    cfg["users"][0]["ssh_authorized_keys"] = [learner.ssh_key]
    cfg["hostname"] = learner.domain
    return "#cloud-config\n" + yaml.safe_dump(cfg, sort_keys=False, width=1000)


def meta_data(learner: Learner) -> str:
    return f"instance-id: {learner.domain}\nlocal-hostname: {learner.domain}\n"


def seed_iso(path: Path, files: dict[str, str]) -> Path:
    """A NoCloud seed: an ISO 9660 + Joliet + Rock Ridge volume labelled ``cidata``."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="cidata")
    for i, (name, content) in enumerate(sorted(files.items())):
        data = content.encode()
        iso.add_fp(io.BytesIO(data), len(data), f"/F{i}.;1", rr_name=name, joliet_path=f"/{name}")
    iso.write(str(path))
    iso.close()
    return path


def domain_xml(learner: Learner, *, disk: Path, seed: Path, memory_mib: int = DEFAULT_MEMORY_MIB,
               vcpus: int = DEFAULT_VCPUS, domain_type: str = "kvm", network: str | None = "default",
               bridge: str | None = None) -> str:
    """The learner's domain (ElementTree): qcow2 disk, seed CD-ROM, one NIC (``bridge``, else
    libvirt ``network``; neither: no NIC), serial console."""
    check_int(memory_mib, minimum=1024, maximum=65536, what="memory (MiB)")
    check_int(vcpus, minimum=1, maximum=64, what="vCPUs")
    if domain_type not in ("kvm", "qemu", "test"):
        raise ValueError("domain_type must be 'kvm', 'qemu' (TCG) or 'test'")
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = learner.domain
    ET.SubElement(dom, "description").text = f"lab VM of {learner.login} (Containers vs. VMs)"
    meta = ET.SubElement(dom, "metadata")
    ET.SubElement(meta, f"{{{LIBVIRT_METADATA_NS}}}owner").text = OWNER_VALUE
    ET.SubElement(dom, "memory", unit="MiB").text = str(memory_mib)
    ET.SubElement(dom, "vcpu").text = str(vcpus)
    os_el = ET.SubElement(dom, "os")
    t = ET.SubElement(os_el, "type", arch="x86_64")
    if domain_type != "test":
        t.set("machine", "q35")
    t.text = "hvm"
    ET.SubElement(os_el, "boot", dev="hd")
    if domain_type == "kvm":
        ET.SubElement(dom, "cpu", mode="host-passthrough")  # nested VT-x for the course's VMs
    feats = ET.SubElement(dom, "features")
    ET.SubElement(feats, "acpi")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"
    devs = ET.SubElement(dom, "devices")
    d = ET.SubElement(devs, "disk", type="file", device="disk")
    if domain_type != "test":
        ET.SubElement(d, "driver", name="qemu", type="qcow2")
    ET.SubElement(d, "source", file=str(disk))
    ET.SubElement(d, "target", dev="vda", bus="virtio")
    cd = ET.SubElement(devs, "disk", type="file", device="cdrom")
    if domain_type != "test":
        ET.SubElement(cd, "driver", name="qemu", type="raw")
    ET.SubElement(cd, "source", file=str(seed))
    ET.SubElement(cd, "target", dev="sda", bus="sata")
    ET.SubElement(cd, "readonly")
    if bridge:
        nic = ET.SubElement(devs, "interface", type="bridge")
        ET.SubElement(nic, "source", bridge=bridge)
        ET.SubElement(nic, "model", type="virtio")
    elif network:
        nic = ET.SubElement(devs, "interface", type="network")
        ET.SubElement(nic, "source", network=network)
        ET.SubElement(nic, "model", type="virtio")
    if domain_type != "test":
        ser = ET.SubElement(devs, "serial", type="pty")
        ET.SubElement(ser, "target", port="0")
        con = ET.SubElement(devs, "console", type="pty")
        ET.SubElement(con, "target", type="serial", port="0")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


def make_overlay(base: Path, overlay: Path, size_gib: int) -> None:
    """A qcow2 overlay backed by the (read-only) cloud image, grown to ``size_gib``."""
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise RuntimeError("qemu-img is needed for the overlay disks (Debian: apt-get install qemu-utils)")
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base.resolve()),
                    str(overlay), f"{size_gib}G"], check=True, capture_output=True, timeout=60)


def build(roster: list[Learner], out: Path, *, image: Path, memory_mib: int = DEFAULT_MEMORY_MIB,
          vcpus: int = DEFAULT_VCPUS, disk_gib: int = DEFAULT_DISK_GIB, domain_type: str = "kvm",
          network: str = "default", bridge: str | None = None, disks: bool = False,
          iso: bool = True) -> list[dict[str, Any]]:
    """Write every learner's seed and domain XML under ``out``; returns one row per learner."""
    check_int(disk_gib, minimum=10, maximum=500, what="disk (GiB)")
    rows = []
    for ln in roster:
        d = out / ln.login
        d.mkdir(parents=True, exist_ok=True)
        files = {"user-data": user_data(ln), "meta-data": meta_data(ln)}
        for name, content in files.items():
            (d / name).write_text(content)
        seed = d / "seed.iso"
        if iso:
            seed_iso(seed, files)
        disk = d / "disk.qcow2"
        if disks:
            make_overlay(image, disk, disk_gib)
        xml = domain_xml(ln, disk=disk.resolve(), seed=seed.resolve(), memory_mib=memory_mib,
                         vcpus=vcpus, domain_type=domain_type, network=network, bridge=bridge)
        (d / "domain.xml").write_text(xml)
        rows.append({"login": ln.login, "domain": ln.domain, "dir": str(d)})
    return rows


def define(rows: list[dict[str, Any]], uri: str, *, start: bool = False) -> list[str]:
    """Define (and optionally start) the domains on ``uri``; returns their names."""
    import libvirt

    conn = libvirt.open(uri)
    done = []
    try:
        for r in rows:
            dom = conn.defineXML((Path(r["dir"]) / "domain.xml").read_text())
            if start:
                dom.create()
            done.append(dom.name())
    finally:
        conn.close()
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m virtlab.fleet", description=__doc__.split("\n")[0])
    ap.add_argument("roster", type=Path, help="CSV: login,ssh-public-key")
    ap.add_argument("--image", type=Path, required=True, help="the cloud image (qcow2) to back the disks")
    ap.add_argument("--out", type=Path, default=Path("fleet"))
    ap.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MIB, help="MiB per VM (default 4096)")
    ap.add_argument("--vcpus", type=int, default=DEFAULT_VCPUS)
    ap.add_argument("--disk", type=int, default=DEFAULT_DISK_GIB, help="GiB per overlay disk")
    ap.add_argument("--type", default="kvm", choices=("kvm", "qemu"), help="qemu = TCG (no nested VT-x)")
    ap.add_argument("--network", default="default")
    ap.add_argument("--bridge")
    ap.add_argument("--disks", action="store_true", help="create the qcow2 overlays (needs qemu-img)")
    ap.add_argument("--define", metavar="URI", help="define the domains on this libvirt URI")
    ap.add_argument("--start", action="store_true")
    args = ap.parse_args(argv)
    roster = read_roster(args.roster.read_text())
    rows = build(roster, args.out, image=args.image, memory_mib=args.memory, vcpus=args.vcpus,
                 disk_gib=args.disk, domain_type=args.type, network=args.network,
                 bridge=args.bridge, disks=args.disks)
    for r in rows:
        print(f"{r['login']}: {r['dir']} ({r['domain']})")
    if args.define:
        print("defined: " + ", ".join(define(rows, args.define, start=args.start)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
