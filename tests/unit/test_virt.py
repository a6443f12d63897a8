"""virtlab.virt without a daemon: the domain spec, its XML, the initramfs builder, and the whole
API against libvirt's in-process test driver (test:///default)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtlab import LIBVIRT_METADATA_NS, OWNER_VALUE, virt

libvirt = pytest.importorskip("libvirt")

NS = {"vl": LIBVIRT_METADATA_NS}


def test_spec_renders_course_domain_xml():
    spec = virt.DomainSpec(name="web", memory="96MiB", vcpus=2, kernel="/k", initrd="/i",
                           serial_log="/var/log/x.log")
    root = ET.fromstring(spec.to_xml())
    assert root.get("type") == "qemu"
    assert root.findtext("name") == "vl-web"
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "96"
    assert root.findtext("vcpu") == "2"
    assert root.findtext("os/kernel") == "/k" and root.findtext("os/initrd") == "/i"
    assert root.find("metadata/vl:owner", NS).text == OWNER_VALUE
    assert root.find("devices/panic").get("model") == "isa"
    assert root.find("devices/serial/log").get("file") == "/var/log/x.log"
    assert root.findtext("on_crash") == "preserve"
    pci = root.find("devices/controller[@model='pci-root']")  # no ACPI hotplug on the root bus
    assert pci.get("index") == "0" and pci.find("target").get("hotplug") == "off"


def test_test_driver_xml_has_no_qemu_devices():
    root = ET.fromstring(virt.DomainSpec(name="t").to_xml(domain_type="test"))
    assert root.get("type") == "test" and root.find("devices/serial") is None
    assert root.find("devices/controller") is None
    q35 = ET.fromstring(virt.DomainSpec(name="t").to_xml(machine="q35"))
    assert q35.find("devices/controller[@model='pci-root']") is None  # an i440fx-only option


@pytest.mark.parametrize("kwargs", [
    {"memory": 16}, {"memory": 100_000}, {"memory": "1TiB"}, {"memory": "lots"}, {"memory": -5},
    {"memory": True}, {"vcpus": 0}, {"vcpus": 99}, {"vcpus": 1.5}, {"name": "Bad Name"},
    {"name": "x" * 60}, {"kernel": "relative/path"}, {"cmdline": "a\nb"}, {"initrd": "/a\0b"},
])
def test_invalid_specs_are_rejected(kwargs):
    with pytest.raises(ValueError):
        virt.DomainSpec(**{"name": "ok", **kwargs})


xml_text = st.text(alphabet=st.sampled_from(list("<>&'\"]]>/=!-?a b")), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(path_tail=xml_text, cmd=xml_text, desc=xml_text)
def test_xml_metacharacters_never_inject(path_tail, cmd, desc):
    """Whatever text lands in the spec comes back as text: no new elements or attributes."""
    kernel = "/boot/" + path_tail
    spec = virt.DomainSpec(name="inj", kernel=kernel, initrd=kernel, cmdline=cmd,
                           description=desc, serial_log=kernel)
    root = ET.fromstring(spec.to_xml())
    assert root.findtext("os/kernel") == kernel
    assert root.findtext("os/cmdline") == cmd
    assert root.findtext("description") == desc
    assert root.find("devices/serial/log").get("file") == kernel
    assert [c.tag for c in root.find("os")] == ["type", "kernel", "initrd", "cmdline"]
    assert len(root.findall(".//domain")) == 0 and len(root.findall("name")) == 1


@settings(max_examples=100, deadline=None)
@given(name=st.text(max_size=50))
def test_names_are_course_names_or_rejected(name):
    try:
        spec = virt.DomainSpec(name=name)
    except ValueError:
        return
    assert spec.name.startswith("vl-") and all(c.isalnum() or c == "-" for c in spec.name)


@settings(max_examples=60, deadline=None)
@given(memory=st.one_of(st.integers(-10**6, 31), st.integers(4097, 10**9)),
       vcpus=st.integers(-5, 100))
def test_bad_memory_or_vcpus_never_reach_libvirt(memory, vcpus):
    def boom(*_a, **_k):
        raise AssertionError("libvirt was called")

    with pytest.MonkeyPatch.context() as mp:
        for mod in (virt, virt.guest, virt.conn):  # the package and where vm() looks it up
            mp.setattr(mod, "connect", boom)
        mp.setattr(libvirt, "open", boom)
        with pytest.raises(ValueError), virt.vm(name="bad", memory=memory, vcpus=vcpus,
                                                 uri="test:///default"):
            pass
        with pytest.raises(ValueError):
            virt.define_domain(virt.DomainSpec(name="bad", memory=96, vcpus=vcpus + 100),
                               uri="test:///default")


def test_accelerator_rule():
    assert virt.accelerator_for(True, True) == "kvm"
    assert virt.accelerator_for(True, False) == "tcg"
    assert virt.accelerator_for(False, True) == "tcg"
    assert virt.accelerator_for(False, False) == "tcg"
    a = virt.accelerator()
    assert a.name in ("kvm", "tcg") and a.reason


def test_extract_vmlinux_finds_the_elf_in_a_compressed_blob():
    elf = b"\x7fELF" + bytes(range(256)) * 20
    blob = b"MZ setup code" * 50 + gzip.compress(elf) + b"trailer"
    assert virt.extract_vmlinux(blob) == elf
    assert virt.extract_vmlinux(b"no kernel here") is None


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs cpio to read the archive back")
def test_initramfs_is_a_valid_newc_archive(tmp_path):
    from virtlab.rootfs import busybox_path

    try:
        bb = busybox_path()
    except Exception as err:  # noqa: BLE001
        pytest.skip(str(err))
    out = virt.build_initramfs(tmp_path / virt.INITRAMFS_NAME, busybox=bb,
                               modules={"pvpanic.ko": b"x"})
    raw = out.read_bytes()
    assert raw[:6] == b"070701"  # not compressed: the guest kernel need not gunzip it under TCG
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True,
                             check=True, timeout=30).stdout.decode().split()
    assert {"init", "bin/busybox", "bin/sh", "lib/modules/pvpanic.ko", "etc/fstab"} <= set(listing)
    init = subprocess.run(["cpio", "-i", "--to-stdout", "--quiet", "init"], input=raw,
                          capture_output=True, check=True, timeout=30).stdout.decode()
    assert virt.MARKER in init and "mount -a" in init
    fstab = subprocess.run(["cpio", "-i", "--to-stdout", "--quiet", "etc/fstab"], input=raw,
                           capture_output=True, check=True, timeout=30).stdout.decode()
    assert [ln.split()[1] for ln in fstab.splitlines()] == ["/proc", "/sys", "/dev"]
    # the modules can be read back (a new /init is packed with them, nothing fetched again),
    # from a gzip'd archive too (lab VMs provisioned before the initramfs was left uncompressed)
    assert virt.initramfs_modules(out) == {"pvpanic.ko": b"x"}
    gz = virt.build_initramfs(tmp_path / "old.cpio.gz", busybox=bb, modules={"pvpanic.ko": b"y"},
                              compress=True)
    assert gz.read_bytes()[:2] == b"\x1f\x8b" and gzip.decompress(gz.read_bytes())[:6] == b"070701"
    assert virt.initramfs_modules(gz) == {"pvpanic.ko": b"y"}


def test_init_runs_few_processes_before_its_marker():
    """Under TCG each process costs ~10 ms of boot: before the marker, /init runs only
    `mount -a`, `stty` and (stock kernel only) insmod; the marker's facts come from builtins."""
    before = "\n".join(ln.split("  #")[0] for ln in virt.INIT_SCRIPT.split("VIRTLAB-READY")[0]
                       .splitlines() if not ln.startswith("# "))
    # no command substitution (a fork each); $(( )) is the shell's own arithmetic
    assert not re.search(r"\$\((?!\()", before) and "`" not in before
    commands = {ln.split()[0] for ln in before.splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")}
    assert commands <= {"#!/bin/sh", "export", "mount", "echo", "if", "for", "[", "done", "fi",
                        "stty", "read", "case", "panic=no", "cpus=0", "while"}, commands
    # the pvpanic field says a driver is *bound* to a device, not merely that the driver exists
    assert "pvpanic-mmio/QEMU0001:*" in before and "pvpanic-pci/0000:*" in before


def test_initramfs_modules_refuses_what_is_not_newc(tmp_path):
    bad = tmp_path / "x.gz"
    bad.write_bytes(gzip.compress(b"not a cpio archive" * 10))
    with pytest.raises(virt.VirtError, match="newc"):
        virt.initramfs_modules(bad)


def test_missing_images_say_how_to_build(patch_pkg, tmp_path):
    patch_pkg(virt, "vm_dirs", lambda: [tmp_path])
    with pytest.raises(virt.MissingImage, match="virtlab images build"):
        virt.artefacts()


# --------------------------------------------------------------------------- test:///default
@pytest.fixture
def tag():
    t = "vl-u" + uuid.uuid4().hex[:6]
    yield t
    virt.cleanup(("test:///default",), prefix=t)


def test_vm_on_test_driver_runs_and_is_removed(tag):
    with virt.vm(name=f"{tag}-a", memory=96, uri="test:///default") as g:
        assert g.embedded and g.state()[0] == "running"
        assert virt.is_course_domain(g.dom)
        facts = virt.domain_facts(f"{tag}-a", uri="test:///default")
        assert facts["memory_mib"] == 96 and facts["owner"] == OWNER_VALUE
        r = g.save_restore()
        assert r["state_between"] == "shutoff" and r["state_after"] == "running"
        g.snapshot("s1")
        assert g.snapshots() == ["vl-s1"]
        g.revert("vl-s1")
        with pytest.raises(virt.VirtError):
            g.run("true")
    assert virt.domain_facts(f"{tag}-a", uri="test:///default") is None


def test_duplicate_name_is_refused_before_creating(tag):
    virt.define_domain(virt.DomainSpec(name=f"{tag}-dup"), uri="test:///default")
    with pytest.raises(ValueError, match="already exists"), \
            virt.vm(name=f"{tag}-dup", uri="test:///default"):
        pass
    assert virt.domain_facts(f"{tag}-dup", uri="test:///default") is not None


def test_cleanup_spares_domains_the_course_did_not_create(tag):
    conn = libvirt.open("test:///default")
    foreign = ET.fromstring(virt.DomainSpec(name=f"{tag}-foreign").to_xml(domain_type="test"))
    foreign.remove(foreign.find("metadata"))  # right prefix, but no course metadata
    conn.defineXML(ET.tostring(foreign, encoding="unicode"))
    virt.define_domain(virt.DomainSpec(name=f"{tag}-mine"), uri="test:///default")
    try:
        removed = virt.cleanup(("test:///default",), prefix=tag)
        names = {d.name() for d in conn.listAllDomains()}
        assert f"{tag}-foreign" in names and "test" in names  # "test" ships with the driver
        assert f"{tag}-mine" not in names
        assert any(f"{tag}-mine" in r for r in removed)
        with pytest.raises(ValueError, match="not created by the course"):
            virt.undefine_domain(f"{tag}-foreign", uri="test:///default")
    finally:
        conn.lookupByName(f"{tag}-foreign").undefine()


def test_cleanup_prefix_must_be_a_course_prefix():
    with pytest.raises(ValueError):
        virt.cleanup(("test:///default",), prefix="prod-")


def test_embedded_demos_are_deterministic(monkeypatch, capsys):
    from virtlab import modes

    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    for key, show in (("libvirt.lifecycle", virt.show_lifecycle),
                      ("libvirt.save", virt.show_save_restore),
                      ("libvirt.snapshot", virt.show_snapshot)):
        r = modes.run(key, quiet=True)
        assert r.backend.mode == "embedded"
        show(r)
    out = capsys.readouterr().out
    assert "vl-demo-life" in out and "suspend()                -> paused" in out
    assert "undefine()               -> gone" in out and "vl-before" in out
    # the demos with no embedded form replay their recordings, labelled as such
    for key, show in (("libvirt.boot", virt.show_boot), ("libvirt.crash", virt.show_crash)):
        r = modes.run(key)
        assert r.backend.mode == "recorded" and r.provenance["command"] == f"virtlab record {key}"
        show(r)
    out = capsys.readouterr().out
    assert "RECORDED, not live" in out and "crashed" in out and "a kernel of its own" in out


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members:
        head = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        out += head + data + (b"\n" if len(data) % 2 else b"")
    return out


def _fake_kernel_deb(tmp_path, elf: bytes):
    import io
    import tarfile

    bz = b"setup" * 100 + gzip.compress(elf) + b"tail"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in (("./boot/vmlinuz-9.9.9-test", bz),
                           ("./lib/modules/9.9.9-test/kernel/drivers/misc/pvpanic/pvpanic-mmio.ko", b"mod")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    deb = tmp_path / "linux-image-9.9.9-test_1_amd64.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", b""), ("data.tar.xz", buf.getvalue())]))
    return deb, bz


def test_kernel_is_taken_from_a_deb_without_dpkg(tmp_path):
    elf = b"\x7fELF" + b"k" * 1000
    deb, bz = _fake_kernel_deb(tmp_path, elf)
    release, vmlinuz, mods = virt._kernel_from_deb(deb)
    assert release == "9.9.9-test" and vmlinuz == bz and mods == {"pvpanic-mmio.ko": b"mod"}


def test_build_images_is_offline_idempotent_and_readable(tmp_path, monkeypatch, patch_pkg):
    from virtlab.rootfs import busybox_path

    try:
        busybox_path()
    except Exception as err:  # noqa: BLE001
        pytest.skip(str(err))
    elf = b"\x7fELF" + b"k" * 1000
    deb, bz = _fake_kernel_deb(tmp_path, elf)
    monkeypatch.setenv("VIRTLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VIRTLAB_VM_DIR", str(tmp_path / "data" / "vm"))
    patch_pkg(virt, "_host_kernel", lambda: None)
    calls = []

    def fake_download(workdir):
        calls.append(workdir)
        target = workdir / deb.name
        target.write_bytes(deb.read_bytes())
        return target

    patch_pkg(virt, "_download_kernel", fake_download)
    monkeypatch.setenv("VIRTLAB_MINIMAL_KERNEL", "0")  # test_guestkernel covers the minimal one
    monkeypatch.delenv("VIRTLAB_GUEST_KERNEL", raising=False)
    first = virt.build_images()
    a = virt.artefacts()
    assert [str(a.kernel), str(a.initrd)] == first[:2] and "stock kernel" in first[2]
    assert a.kernel.read_bytes() == elf and a.release == "9.9.9-test" and a.pvpanic
    assert all(p.stat().st_mode & 0o004 for p in a.directory.iterdir())  # QEMU's user may read
    assert virt.build_images() == first and len(calls) == 1  # second run: nothing rebuilt
    manifest = a.directory / "manifest.json"
    assert json.loads(manifest.read_text())["initramfs_key"] == virt.INITRAMFS_KEY
    assert a.initrd.name == virt.INITRAMFS_NAME and a.initrd.read_bytes()[:6] == b"070701"
    # a lab VM provisioned with an older /init and layout (a gzip'd initramfs.cpio.gz): the
    # initramfs alone is rebuilt, uncompressed under the new name, modules kept, the old one gone
    m = json.loads(manifest.read_text())
    mods = virt.initramfs_modules(a.initrd)
    old = a.directory / "initramfs.cpio.gz"
    virt.build_initramfs(old, busybox=busybox_path(), modules=mods, compress=True)
    a.initrd.unlink()
    m.update(initramfs_key="older", initrd=old.name)
    manifest.write_text(json.dumps(m))
    assert virt.artefacts().initrd == old  # the old layout still boots until it is rebuilt
    kernel_before = a.kernel.stat().st_mtime_ns
    again = virt.build_images()
    assert "initramfs rebuilt" in again[2] and len(calls) == 1  # nothing downloaded
    m = json.loads(manifest.read_text())
    assert m["initramfs_key"] == virt.INITRAMFS_KEY and m["initrd"] == virt.INITRAMFS_NAME
    assert virt.artefacts().initrd == a.initrd and not old.exists()
    assert virt.initramfs_modules(a.initrd) == mods and a.kernel.stat().st_mtime_ns == kernel_before
    assert a.initrd.read_bytes()[:6] == b"070701" and a.initrd.stat().st_mode & 0o004
    virt.build_images(force=True)
    assert len(calls) == 2


def test_episode_06_domain_check_asks_libvirt(capsys):
    from virtlab.checks import ep06

    uri = "test:///default"
    virt.undefine_domain("ex1", uri=uri)
    assert not ep06.check_ex1_domain(uri)
    virt.define_domain(virt.DomainSpec(name="ex1", memory=128, vcpus=2), uri=uri)
    try:
        assert not ep06.check_ex1_domain(uri)
        assert "not 96" in capsys.readouterr().out
        virt.undefine_domain("ex1", uri=uri)
        virt.define_domain(virt.DomainSpec(name="ex1", memory="96MiB", vcpus=1), uri=uri)
        assert ep06.check_ex1_domain(uri)
    finally:
        virt.undefine_domain("ex1", uri=uri)


def test_embedded_views_fold_in_the_recorded_real_run(monkeypatch, capsys):
    """After an embedded (test-driver) run the view itself shows the recording of a real run,
    labelled RECORDED; real=False leaves it out. (Was a follow-up cell in episode 06.)"""
    from virtlab import modes

    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    for key, show in (("libvirt.lifecycle", virt.show_lifecycle),
                      ("libvirt.save", virt.show_save_restore),
                      ("libvirt.snapshot", virt.show_snapshot)):
        r = modes.run(key, quiet=True)
        has_recording = modes.recording_path(key).exists()
        show(r, real=False)
        assert "RECORDED" not in capsys.readouterr().out
        show(r)
        assert ("RECORDED, not live" in capsys.readouterr().out) == has_recording


def test_firmware_is_a_rom_loader_only_with_a_kernel(tmp_path):
    xml = virt.DomainSpec(name="fw", kernel="/k", firmware="/usr/share/qemu/qboot.rom").to_xml()
    loader = ET.fromstring(xml).find("os/loader")
    assert loader is not None and loader.text == "/usr/share/qemu/qboot.rom"
    assert loader.get("type") == "rom" and loader.get("readonly") == "yes"
    assert ET.fromstring(virt.DomainSpec(name="fw", kernel="/k").to_xml()).find("os/loader") is None
    assert ET.fromstring(virt.DomainSpec(name="fw", kernel="/k", firmware="/q").to_xml(
        domain_type="test")).find("os/loader") is None
    with pytest.raises(ValueError, match="needs a kernel"):
        virt.DomainSpec(name="fw", firmware="/usr/share/qemu/qboot.rom")
    with pytest.raises(ValueError, match="absolute path"):
        virt.DomainSpec(name="fw", kernel="/k", firmware="qboot.rom")


def test_course_firmware_is_qboot_where_installed(tmp_path, monkeypatch, patch_pkg):
    from virtlab.virt import base

    rom = tmp_path / "qboot.rom"
    monkeypatch.setattr(base, "QBOOT_ROM", rom)
    monkeypatch.delenv("VIRTLAB_FIRMWARE", raising=False)
    assert base.course_firmware() is None  # not installed: QEMU's default (SeaBIOS)
    with monkeypatch.context() as mp:
        mp.setenv("VIRTLAB_FIRMWARE", "qboot")
        with pytest.raises(virt.VirtError, match="qemu-system-data"):
            base.course_firmware()
    rom.write_bytes(b"rom")
    assert base.course_firmware() == str(rom)
    monkeypatch.setenv("VIRTLAB_FIRMWARE", "seabios")
    assert base.course_firmware() is None
    monkeypatch.setenv("VIRTLAB_FIRMWARE", "uefi")
    with pytest.raises(ValueError, match="auto, qboot or seabios"):
        base.course_firmware()


def test_vm_refuses_an_unknown_firmware_before_connecting(monkeypatch, patch_pkg):
    def no_connect(uri=None):
        raise AssertionError("connected before checking its arguments")

    patch_pkg(virt, "connect", no_connect)
    with pytest.raises(ValueError, match="firmware must be"):
        with virt.vm(name="fw", firmware="uefi"):
            pass
