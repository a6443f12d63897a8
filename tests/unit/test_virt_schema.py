"""Every domain XML the course generates is valid by libvirt's own RelaxNG schema.

The schema ships with libvirt (Debian/Ubuntu: package ``libvirt0``, which ``libvirt-dev`` and
``libvirt-daemon-system`` pull in), so set-up and CI have it. Skipped only where the file is
absent *and* this is not CI: a missing schema in CI is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from virtlab import virt

SCHEMA_DIR = Path("/usr/share/libvirt/schemas")
IN_CI = bool(os.environ.get("CI")) or os.environ.get("VIRTLAB_REQUIRE_LIVE") == "1"

# what virt.vm() fills in for the course VM (paths need not exist to be rendered)
KERNEL, INITRD = "/var/lib/virtlab/vm/vmlinuz", "/var/lib/virtlab/vm/initrd.img"
#: the domain specs the course builds: the tiny VM of the demos, bench's and security's guests,
#: without a panic device, with a scratch qcow2 disk (snapshots), with a serial log
COURSE_SPECS = {
    "tiny-vm": dict(name="demo-boot", memory=128, vcpus=1, kernel=KERNEL, initrd=INITRD),
    "bench": dict(name="bench-0a1b2c", memory=256, kernel=KERNEL, initrd=INITRD),
    "two-vcpus": dict(name="ex1", memory="96MiB", vcpus=2, kernel=KERNEL, initrd=INITRD),
    "no-panic-device": dict(name="quiet", kernel=KERNEL, initrd=INITRD, panic_device=False),
    "snapshot-disk": dict(name="snap", kernel=KERNEL, initrd=INITRD,
                          disk="/var/lib/virtlab/disks/vl-snap.qcow2"),
    "serial-log": dict(name="web", kernel=KERNEL, initrd=INITRD, serial_log="/var/log/x.log",
                       description="a <described> & 'quoted' guest"),
    "no-kernel": dict(name="bare"),
}


def _schema(name: str) -> etree.RelaxNG:
    path = SCHEMA_DIR / name
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing in CI: install libvirt0 (libvirt-dev pulls it in)")
        pytest.skip(f"{path} is not installed here (Debian/Ubuntu: libvirt0)")
    return etree.RelaxNG(etree.parse(str(path)))


@pytest.fixture(scope="module")
def domain_rng() -> etree.RelaxNG:
    return _schema("domain.rng")


def _check(rng: etree.RelaxNG, xml: str) -> None:
    doc = etree.fromstring(xml.encode())
    assert rng.validate(doc), f"{rng.error_log}\n{xml}"


@pytest.mark.parametrize("domain_type", ["qemu", "kvm", "test"])  # TCG, KVM, the test driver
@pytest.mark.parametrize("spec", COURSE_SPECS.values(), ids=COURSE_SPECS.keys())
def test_course_domain_xml_is_valid_by_libvirts_schema(domain_rng, spec, domain_type):
    _check(domain_rng, virt.DomainSpec(**spec).to_xml(domain_type=domain_type))


def test_the_schema_check_can_fail(domain_rng):
    """The validation is real: a device libvirt does not know is rejected."""
    xml = virt.DomainSpec(**COURSE_SPECS["tiny-vm"]).to_xml()
    bad = xml.replace('<panic model="isa">', '<panic model="no-such-model">')
    assert bad != xml
    assert not domain_rng.validate(etree.fromstring(bad.encode()))
