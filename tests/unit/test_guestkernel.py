"""The minimal course kernel: its configuration holds what the course needs; the cache works."""

import json
import os

import pytest

from virtlab import guestkernel, virt

#: what the lessons and the course VM's /init rely on, and why (the fragment must keep these)
NEEDED = {
    "CONFIG_64BIT": "x86_64 guest",
    "CONFIG_PVH": "QEMU boots the ELF vmlinux through its PVH entry (no bzImage decompression)",
    "CONFIG_SERIAL_8250_CONSOLE": "console=ttyS0: the marker and every guest command",
    "CONFIG_BLK_DEV_INITRD": "the busybox initramfs",
    "CONFIG_RD_GZIP": "the initramfs is gzip'd",
    "CONFIG_BINFMT_ELF": "busybox is a static ELF",
    "CONFIG_BINFMT_SCRIPT": "/init is a shell script",
    "CONFIG_DEVTMPFS": "/init mounts devtmpfs",
    "CONFIG_PROC_FS": "/proc/uptime, /proc/cpuinfo in the marker",
    "CONFIG_MAGIC_SYSRQ": "guest.crash() writes c to /proc/sysrq-trigger",
    "CONFIG_ACPI": "poweroff, and the ISA pvpanic device is an ACPI device",
    "CONFIG_PVPANIC_MMIO": "libvirt sees a guest panic as 'crashed' (episodes 06, 07)",
    "CONFIG_PRINTK_TIME": "episode 08 reads when the kernel started /init from dmesg",
    "CONFIG_VIRTIO_BLK": "the full-system guest's root disk",
    "CONFIG_EXT4_FS": "the full-system guest's root file system",
    "CONFIG_UNIX": "systemd talks over unix sockets",
    "CONFIG_CGROUPS": "systemd",
    "CONFIG_INOTIFY_USER": "systemd",
    "CONFIG_FHANDLE": "systemd",
    "CONFIG_SMP": "DomainSpec allows up to 8 vCPUs",
}


def test_fragment_requires_what_the_course_needs():
    req = guestkernel.required_options()
    missing = {k: why for k, why in NEEDED.items() if req.get(k) != "y"}
    assert not missing, f"data/guestkernel.config lacks {missing}"
    assert req["CONFIG_LOCALVERSION"] == '"-virtlab"'


def test_missing_options_reads_a_config():
    cfg = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n"
    assert guestkernel.config_options(cfg) == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "m"}
    assert guestkernel.missing_options(cfg, {"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_C": "y",
                                             "CONFIG_D": "y"}) == [
        "CONFIG_B=y (got n)", "CONFIG_C=y (got m)", "CONFIG_D=y (got absent)"]


def test_the_built_kernel_has_every_required_option():
    """Where provisioning built it: the cached .config (the one compiled) keeps the fragment."""
    b = guestkernel.cached()
    if b is None:
        pytest.skip("no minimal kernel built here (provisioning builds it: needs linux-source)")
    assert guestkernel.missing_options(b.config.read_text()) == []
    assert b.release.endswith("-virtlab") and b.vmlinux.read_bytes()[:4] == b"\x7fELF"


def test_cache_key_follows_fragment_and_source(tmp_path):
    tb = tmp_path / "linux-source-6.1.tar.xz"
    tb.write_bytes(b"x" * 10)
    k1 = guestkernel.cache_key(tb, "CONFIG_A=y\n")
    assert k1 == guestkernel.cache_key(tb, "CONFIG_A=y\n")
    assert k1 != guestkernel.cache_key(tb, "CONFIG_A=y\nCONFIG_B=y\n")
    tb.write_bytes(b"x" * 11)
    assert k1 != guestkernel.cache_key(tb, "CONFIG_A=y\n")


def test_a_cached_build_is_found_and_not_rebuilt(tmp_path, monkeypatch):
    tb = tmp_path / "src" / "linux-source-9.9.tar.xz"
    tb.parent.mkdir()
    tb.write_bytes(b"source")
    monkeypatch.setenv("VIRTLAB_KERNEL_CACHE", str(tmp_path / "cache"))
    assert guestkernel.cached(tb) is None
    d = tmp_path / "cache" / guestkernel.cache_key(tb)
    d.mkdir(parents=True)
    (d / "vmlinux").write_bytes(b"\x7fELF")
    (d / "config").write_text("")
    (d / "build.json").write_text(json.dumps({"release": "9.9.0-virtlab", "total_s": 1.0}))
    monkeypatch.setattr(guestkernel.subprocess, "run", lambda *a, **k: pytest.fail("rebuilt"))
    b = guestkernel.build(tarball=tb)
    assert b.release == "9.9.0-virtlab" and b.vmlinux == d / "vmlinux"


def test_no_source_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(guestkernel, "SOURCE_DIRS", (tmp_path,))
    with pytest.raises(guestkernel.KernelBuildError, match="apt-get install linux-source"):
        guestkernel.build()


def test_course_vm_boots_minimal_by_default_and_keeps_stock(tmp_path, monkeypatch, patch_pkg):
    """build_images puts the minimal kernel beside the stock one and makes it the default; a
    failed build leaves the stock kernel as the default and says why."""
    from virtlab.rootfs import busybox_path

    try:
        busybox_path()
    except Exception as err:  # noqa: BLE001
        pytest.skip(str(err))
    monkeypatch.setenv("VIRTLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VIRTLAB_VM_DIR", str(tmp_path / "data" / "vm"))
    monkeypatch.delenv("VIRTLAB_GUEST_KERNEL", raising=False)
    monkeypatch.delenv("VIRTLAB_MINIMAL_KERNEL", raising=False)
    patch_pkg(virt, "_host_kernel", lambda: ("9.9.9-stock", b"\x7fELF stock", {}))
    patch_pkg(virt, "extract_vmlinux", lambda b: b)

    def broken(**_):
        raise guestkernel.KernelBuildError("no compiler today")

    monkeypatch.setattr(guestkernel, "build", broken)
    out = virt.build_images()
    assert "stock kernel" in out[-1] and "no compiler today" in out[-1]
    assert virt.artefacts().name == "stock"
    with pytest.raises(virt.MissingImage, match="no minimal kernel"):
        virt.artefacts("minimal")

    cfg = tmp_path / "config"
    cfg.write_text("")
    mini = tmp_path / "vmlinux"
    mini.write_bytes(b"\x7fELF minimal")
    monkeypatch.setattr(guestkernel, "build", lambda **_: guestkernel.Built(
        mini, cfg, {"release": "9.9.9-virtlab", "total_s": 1.0, "key": "k", "source": "s"}))
    virt.build_images()
    a = virt.artefacts()
    assert (a.name, a.release, a.kernel.read_bytes()) == ("minimal", "9.9.9-virtlab", b"\x7fELF minimal")
    assert a.min_memory_mib == guestkernel.MIN_MEMORY_MIB
    s = virt.artefacts("stock")
    assert (s.release, s.min_memory_mib) == ("9.9.9-stock", virt.COURSE_VM_MIN_MIB)
    monkeypatch.setenv("VIRTLAB_GUEST_KERNEL", "stock")
    assert virt.artefacts().name == "stock"
    assert all(os.stat(p).st_mode & 0o004 for p in a.directory.iterdir())
    with pytest.raises(ValueError, match="unknown guest kernel"):
        virt.artefacts("tiny")


def test_tb_cache_in_domain_xml():
    xml = virt.DomainSpec(name="t", tb_cache_mib=16).to_xml(domain_type="qemu")
    assert "<tb-cache unit=\"MiB\">16</tb-cache>" in xml
    assert "tb-cache" not in virt.DomainSpec(name="t", tb_cache_mib=16).to_xml(domain_type="kvm")
    assert "tb-cache" not in virt.DomainSpec(name="t").to_xml(domain_type="qemu")
    with pytest.raises(ValueError):
        virt.DomainSpec(name="t", tb_cache_mib=0)


def test_source_edits_apply_once_and_refuse_a_moved_text(tmp_path):
    """The no-poison edit (see guestkernel.SOURCE_EDITS) applies to the text as Debian's 6.1
    source has it; a source where it moved is refused with what to do, and nothing is written."""
    f = tmp_path / "arch/x86/mm/init.c"
    f.parent.mkdir(parents=True)
    before = ("\t} else {\n\t\tfree_reserved_area((void *)begin, (void *)end,\n"
              "\t\t\t\t   POISON_FREE_INITMEM, what);\n\t}\n")
    f.write_text(before)
    assert guestkernel.apply_source_edits(tmp_path) == ["arch/x86/mm/init.c"]
    after = f.read_text()
    assert "POISON_FREE_INITMEM" not in after and "-1, what);" in after
    with pytest.raises(guestkernel.KernelBuildError, match="SOURCE_EDITS"):
        guestkernel.apply_source_edits(tmp_path)  # already edited: 0 matches
    assert f.read_text() == after
    two = (("arch/x86/mm/init.c", "-1, what);", "X", "first"), ("missing.c", "y", "z", "second"))
    with pytest.raises(guestkernel.KernelBuildError, match="missing.c"):
        guestkernel.apply_source_edits(tmp_path, two)
    assert f.read_text() == after  # the first edit was not written either

