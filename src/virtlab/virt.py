"""Virtual machines through libvirt: a tiny VM built offline, booted, measured, crashed, saved.

The pieces, in the order a notebook meets them:

* :func:`build_images` — the course VM, built offline: a Linux kernel (the host's ``/boot``
  kernel where readable, else the distribution's kernel package fetched with ``apt-get download``)
  and a busybox initramfs whose ``/init`` prints a marker line (``VIRTLAB-READY release=...
  uptime=...``) on the serial console and then runs one command per line it reads there.
  Stdlib only, so provisioning can run it with the system ``python3`` before the venv exists.
* :class:`DomainSpec` — name, memory, vCPUs, kernel, initrd, command line, serial log — checked
  when it is made and rendered to domain XML with :mod:`xml.etree.ElementTree` (never strings).
* :func:`accelerator` — KVM only when ``/dev/kvm`` is usable *and* the CPU has vmx/svm, else TCG,
  always with the reason.
* :func:`vm` — ``with virt.vm(spec) as guest:`` defines and boots the domain, waits for the marker
  with a deadline (destroys the domain when it runs out) and always destroys + undefines it.
  ``guest.run("uname -r")``, ``guest.rss_bytes()``, ``guest.crash()``, ``guest.save_restore()``,
  ``guest.snapshot(...)``.
* :func:`cleanup` — destroys and undefines course domains only (``vl-`` name **and** the course
  metadata element), with their snapshot and managed-save metadata.

``test:///default`` (libvirt's in-process test driver) is the embedded backend: the same calls
work there, but nothing boots, so there is no marker, console or QEMU process.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import io
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import LIBVIRT_METADATA_NS, OWNER_VALUE, PREFIX, owners
from virtlab.safety import (
    Deadline,
    DeadlineExceeded,
    VirtlabError,
    check_int,
    cleanup_all,
    course_name,
    parse_size,
)

SYSTEM_URI = "qemu:///system"
TEST_URI = "test:///default"
MARKER = "VIRTLAB-READY"
DONE = "VIRTLAB-DONE"
#: the kernel command line of the course VM (quiet: printing on an emulated UART is slow)
DEFAULT_CMDLINE = "console=ttyS0 quiet panic=0 tsc=reliable no_timer_check i8042.noaux"
MIN_MEMORY_MIB = 32
#: Debian's generic kernel spans ~75 MiB of guest-physical memory (loaded at 16 MiB, ~58 MiB of
#: code, data and bss): with 64 or 80 MiB it dies before printing a byte. Measured here.
COURSE_VM_MIN_MIB = 96
MAX_MEMORY_MIB = 4096
MAX_VCPUS = 8
VM_SUBDIR = "vm"
SYSTEM_VM_DIR = Path("/var/lib/virtlab") / VM_SUBDIR
PVPANIC_MODULES = ("pvpanic.ko", "pvpanic-mmio.ko", "pvpanic-pci.ko")
_OWNER_TAG = "owner"

ET.register_namespace("virtlab", LIBVIRT_METADATA_NS)


class VirtError(VirtlabError, RuntimeError):
    """libvirt refused something; the message says what and what to do."""


class MissingImage(VirtlabError, LookupError):
    """The course VM (kernel + initramfs) has not been built yet."""


# =========================================================================== building the VM
INIT_SCRIPT = r"""#!/bin/sh
# /init of the virtlab course VM (busybox). Prints a marker, then serves one command per line.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
hostname vl-guest
for m in pvpanic pvpanic-mmio pvpanic-pci; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
stty -echo -onlcr 2>/dev/null
if grep -q virtlab.nomarker /proc/cmdline; then
  exec sleep 100000
fi
panic=no
[ -d /sys/bus/acpi/drivers/pvpanic-mmio ] || [ -d /sys/bus/pci/drivers/pvpanic-pci ] && panic=yes
echo "VIRTLAB-READY release=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime) cpus=$(grep -c ^processor /proc/cpuinfo) pvpanic=$panic"
if grep -q virtlab.poweroff /proc/cmdline; then
  poweroff -f
fi
while IFS= read -r line; do
  case "$line" in
    "") continue ;;
    poweroff) echo "VIRTLAB-BYE"; poweroff -f ;;
  esac
  /bin/sh -c "$line" </dev/null 2>&1
  echo "VIRTLAB-DONE $?"
done
poweroff -f
"""


def _newc_entry(name: str, mode: int, data: bytes = b"", ino: int = 0) -> bytes:
    """One entry of a ``newc`` cpio archive (the format the kernel unpacks as initramfs)."""
    nb = name.encode() + b"\0"
    head = b"070701" + b"".join(b"%08X" % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
    out = head + nb
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(dest: Path, *, busybox: Path, modules: dict[str, bytes] | None = None) -> Path:
    """Write a gzip'd newc cpio initramfs with busybox, one symlink per applet, /init and
    the given kernel modules (``{"pvpanic.ko": bytes}``) into ``dest``. Pure Python."""
    bb = Path(busybox).read_bytes()
    out = bytearray()
    ino = 1

    def add(name: str, mode: int, data: bytes = b"") -> None:
        nonlocal ino
        out.extend(_newc_entry(name, mode, data, ino))
        ino += 1

    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc",
              "root", "lib", "lib/modules"):
        add(d, stat.S_IFDIR | 0o755)
    add("dev/console", stat.S_IFCHR | 0o600)  # placeholder: devtmpfs provides the real one
    add("bin/busybox", stat.S_IFREG | 0o755, bb)
    applet_out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.split()
    for full in applet_out:
        rel = full.strip().lstrip("/")
        if rel and rel != "bin/busybox" and rel.split("/")[0] in ("bin", "sbin", "usr"):
            add(rel, stat.S_IFLNK | 0o777, b"/bin/busybox")
    add("init", stat.S_IFREG | 0o755, INIT_SCRIPT.encode())
    add("etc/passwd", stat.S_IFREG | 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
    for name, data in sorted((modules or {}).items()):
        add(f"lib/modules/{name}", stat.S_IFREG | 0o644, data)
    out.extend(_newc_entry("TRAILER!!!", 0))
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(bytes(out))
    tmp.replace(dest)
    return dest


def _ar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """Members of an ``ar`` archive (a .deb is one): (name, data)."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise VirtError(f"{path} is not a .deb (ar) archive")
        while True:
            head = f.read(60)
            if len(head) < 60:
                return
            name = head[:16].decode().strip().rstrip("/")
            size = int(head[48:58].decode().strip())
            data = f.read(size)
            if size % 2:
                f.read(1)
            yield name, data


def _kernel_from_deb(deb: Path) -> tuple[str, bytes, dict[str, bytes]]:
    """(release, vmlinuz bytes, pvpanic modules) from a linux-image .deb, without dpkg."""
    for name, data in _ar_members(deb):
        if name.startswith("data.tar"):
            vmlinuz: bytes | None = None
            release = ""
            mods: dict[str, bytes] = {}
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                for m in tar:
                    base = os.path.basename(m.name)
                    if m.isfile() and re.fullmatch(r"\./boot/vmlinuz-.+|boot/vmlinuz-.+", m.name):
                        release = base[len("vmlinuz-"):]
                        vmlinuz = tar.extractfile(m).read()  # type: ignore[union-attr]
                    elif m.isfile() and "/pvpanic/" in m.name and base in PVPANIC_MODULES:
                        mods[base] = tar.extractfile(m).read()  # type: ignore[union-attr]
            if vmlinuz is None:
                raise VirtError(f"{deb} holds no boot/vmlinuz-*")
            return release, vmlinuz, mods
    raise VirtError(f"{deb} has no data.tar member")


def _host_kernel() -> tuple[str, bytes, dict[str, bytes]] | None:
    """The host's own kernel from /boot and its pvpanic modules, when readable."""
    release = os.uname().release
    img = Path("/boot") / f"vmlinuz-{release}"
    try:
        data = img.read_bytes()
    except OSError:
        return None
    mods: dict[str, bytes] = {}
    mdir = Path("/lib/modules") / release / "kernel/drivers/misc/pvpanic"
    for base in PVPANIC_MODULES:
        for suffix, opener in (("", None), (".xz", lzma.decompress), (".zst", _unzstd)):
            p = mdir / (base + suffix)
            if p.exists():
                with contextlib.suppress(OSError, lzma.LZMAError, subprocess.SubprocessError):
                    raw = p.read_bytes()
                    mods[base] = opener(raw) if opener else raw
    return release, data, mods


def _unzstd(raw: bytes) -> bytes:
    """zstd-compressed modules (Ubuntu): the stdlib has no zstd, the `zstd` tool may."""
    tool = shutil.which("zstd")
    if tool is None:
        raise OSError("zstd is not installed")
    return subprocess.run([tool, "-dc"], input=raw, capture_output=True, check=True,
                          timeout=30).stdout


def _download_kernel(workdir: Path) -> Path:
    """``apt-get download`` the distribution kernel package (the one linux-image-amd64 names)."""
    if shutil.which("apt-get") is None:
        raise MissingImage("no readable kernel in /boot and no apt-get to download one: put a "
                           "vmlinuz into " + str(SYSTEM_VM_DIR) + " or build on Debian/Ubuntu")
    for attempt in (1, 2):
        pkg = "linux-image-amd64"
        dep = subprocess.run(["apt-cache", "depends", pkg], capture_output=True, text=True,
                             timeout=60, check=False).stdout
        m = re.search(r"Depends:\s*(linux-image-\S+)", dep)
        if m:
            pkg = m.group(1)
        res = subprocess.run(["apt-get", "download", "-q", pkg], cwd=workdir, capture_output=True,
                             text=True, timeout=600, check=False)
        debs = sorted(workdir.glob("linux-image-*.deb"))
        if debs or attempt == 2 or os.geteuid() != 0:
            break
        # a fresh machine may have empty package lists: refresh them once and try again
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, check=False)
    if res.returncode != 0 or not debs:
        raise MissingImage(f"apt-get download {pkg} failed: {res.stderr.strip()[-300:]} "
                           "(run `apt-get update` first?)")
    return debs[0]


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The uncompressed ELF kernel inside a bzImage (like scripts/extract-vmlinux), or None.

    QEMU boots an ELF ``vmlinux`` through its PVH entry point, skipping the real-mode setup and
    the in-guest decompression: about twice as fast to the marker under TCG.
    """
    for magic, decompress in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor().decompress(b)),
                              (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(31).decompress(b))):
        at = bzimage.find(magic)
        while at >= 0:
            try:
                data = decompress(bzimage[at:])
            except (lzma.LZMAError, zlib.error, OSError, EOFError):
                data = b""
            if data[:4] == b"\x7fELF":
                return data
            at = bzimage.find(magic, at + 1)
    return None


def vm_dirs() -> list[Path]:
    """Where the course VM is looked for: ``VIRTLAB_VM_DIR``, the data dir, /var/lib/virtlab/vm."""
    from virtlab.rootfs import data_dir

    dirs = []
    if os.environ.get("VIRTLAB_VM_DIR"):
        dirs.append(Path(os.environ["VIRTLAB_VM_DIR"]))
    with contextlib.suppress(OSError):
        dirs.append(data_dir() / VM_SUBDIR)
    dirs.append(SYSTEM_VM_DIR)
    return list(dict.fromkeys(dirs))


@dataclass(frozen=True)
class Artefacts:
    """The built course VM: kernel (ELF vmlinux when available, else bzImage) and initramfs."""

    kernel: Path
    initrd: Path
    release: str
    pvpanic: bool
    source: str

    @property
    def directory(self) -> Path:
        return self.kernel.parent


def artefacts() -> Artefacts:
    """The course VM files, or :class:`MissingImage` saying how to build them."""
    for d in vm_dirs():
        manifest = d / "manifest.json"
        if manifest.exists():
            m = json.loads(manifest.read_text())
            k, i = d / m["kernel"], d / m["initrd"]
            if k.exists() and i.exists():
                return Artefacts(k, i, m["release"], bool(m.get("pvpanic")), m.get("source", ""))
    raise MissingImage("the course VM is not built: run `virtlab images build --only vm` "
                       "(or `sudo labs/lab-vm/provision.sh --only libvirt`)")


def build_images(force: bool = False) -> list[str]:
    """Build the course VM (kernel + busybox initramfs) offline; returns the files made/kept.

    Idempotent: with the manifest in place and ``force=False`` nothing is rebuilt. Files are
    world-readable (QEMU runs as ``libvirt-qemu``), directories world-searchable.
    """
    from virtlab.rootfs import busybox_path, data_dir

    dest = data_dir() / VM_SUBDIR
    manifest = dest / "manifest.json"
    if manifest.exists() and not force:
        with contextlib.suppress(MissingImage):
            a = artefacts()
            if a.directory == dest:
                return [str(a.kernel), str(a.initrd)]
    dest.mkdir(parents=True, exist_ok=True)
    host = _host_kernel()
    if host is not None:
        release, vmlinuz, mods = host
        source = f"host /boot/vmlinuz-{release}"
    else:
        with tempfile.TemporaryDirectory(prefix="vl-kernel-") as tmp:
            os.chmod(tmp, 0o755)  # apt's _apt user may write the download
            deb = _download_kernel(Path(tmp))
            release, vmlinuz, mods = _kernel_from_deb(deb)
            source = f"Debian package {deb.name}"
    (dest / "vmlinuz").write_bytes(vmlinuz)
    elf = extract_vmlinux(vmlinuz)
    kernel = "vmlinuz"
    if elf is not None:
        (dest / "vmlinux").write_bytes(elf)
        kernel = "vmlinux"
    build_initramfs(dest / "initramfs.cpio.gz", busybox=busybox_path(), modules=mods)
    meta = {"kernel": kernel, "bzimage": "vmlinuz", "initrd": "initramfs.cpio.gz",
            "release": release, "pvpanic": "pvpanic-mmio.ko" in mods or "pvpanic-pci.ko" in mods,
            "source": source, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    manifest.write_text(json.dumps(meta, indent=1) + "\n")
    for p in (dest, *dest.iterdir()):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    for parent in dest.parents:  # QEMU (libvirt-qemu) must be able to walk down to the files
        if parent == Path("/") or not os.access(parent, os.W_OK):
            break
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
    return [str(dest / kernel), str(dest / meta["initrd"])]


# =========================================================================== the domain spec
_CTRL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _check_path(value: str | os.PathLike[str] | None, what: str) -> str | None:
    if value is None:
        return None
    s = os.fspath(value)
    if not isinstance(s, str) or not s.startswith("/") or _CTRL_RE.search(s):
        raise ValueError(f"{what} must be an absolute path without control characters, not {s!r}")
    return s


def _memory_mib(value: int | str) -> int:
    if isinstance(value, str):
        n = parse_size(value, minimum=MIN_MEMORY_MIB * 1024**2, maximum=MAX_MEMORY_MIB * 1024**2,
                       what="memory")
        if n % 1024**2:
            raise ValueError(f"memory {value!r} is not a whole number of MiB")
        return n // 1024**2
    return check_int(value, minimum=MIN_MEMORY_MIB, maximum=MAX_MEMORY_MIB, what="memory (MiB)")


@dataclass(frozen=True)
class DomainSpec:
    """What a course VM is made of. Checked on creation; ``to_xml()`` renders domain XML.

    ``memory`` is MiB (an int) or a size string such as ``"96MiB"``; ``name`` gets the ``vl-``
    prefix. Kernel and initrd default to the course VM built by :func:`build_images`.
    """

    name: str
    memory: int | str = 128
    vcpus: int = 1
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str = DEFAULT_CMDLINE
    serial_log: str | None = None
    panic_device: bool = True
    description: str = ""
    disk: str | None = None  # a qcow2 file (internal snapshots need one); see vm(snapshot_disk=)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", course_name(self.name))
        object.__setattr__(self, "memory", _memory_mib(self.memory))
        check_int(self.vcpus, minimum=1, maximum=MAX_VCPUS, what="vCPUs")
        object.__setattr__(self, "kernel", _check_path(self.kernel, "kernel"))
        object.__setattr__(self, "initrd", _check_path(self.initrd, "initrd"))
        object.__setattr__(self, "serial_log", _check_path(self.serial_log, "serial_log"))
        object.__setattr__(self, "disk", _check_path(self.disk, "disk"))
        if not isinstance(self.cmdline, str) or _CTRL_RE.search(self.cmdline) or len(self.cmdline) > 1024:
            raise ValueError("cmdline must be one line of text (at most 1024 characters)")
        if not isinstance(self.description, str) or len(self.description) > 200:
            raise ValueError("description must be text of at most 200 characters")

    @property
    def memory_mib(self) -> int:
        return int(self.memory)

    def to_xml(self, *, domain_type: str = "qemu", arch: str = "x86_64",
               machine: str | None = "pc") -> str:
        """Domain XML for libvirt (``domain_type`` "qemu" = TCG, "kvm", or "test")."""
        if domain_type not in ("qemu", "kvm", "test"):
            raise ValueError(f"domain_type must be 'qemu', 'kvm' or 'test', not {domain_type!r}")
        dom = ET.Element("domain", type=domain_type)
        ET.SubElement(dom, "name").text = str(self.name)
        if self.description:
            ET.SubElement(dom, "description").text = self.description
        meta = ET.SubElement(dom, "metadata")
        # the creator's uid rides on the owner element (libvirt keeps one element per namespace)
        ET.SubElement(meta, f"{{{LIBVIRT_METADATA_NS}}}{_OWNER_TAG}",
                      {owners.LIBVIRT_UID_TAG: str(owners.caller_uid())}).text = OWNER_VALUE
        ET.SubElement(dom, "memory", unit="MiB").text = str(self.memory_mib)
        ET.SubElement(dom, "vcpu").text = str(self.vcpus)
        os_el = ET.SubElement(dom, "os")
        t = ET.SubElement(os_el, "type", arch=arch)
        if machine and domain_type != "test":
            t.set("machine", machine)
        t.text = "hvm"
        if self.kernel:
            ET.SubElement(os_el, "kernel").text = self.kernel
        if self.initrd:
            ET.SubElement(os_el, "initrd").text = self.initrd
        if self.kernel and self.cmdline:
            ET.SubElement(os_el, "cmdline").text = self.cmdline
        feats = ET.SubElement(dom, "features")
        ET.SubElement(feats, "acpi")
        ET.SubElement(dom, "clock", offset="utc")
        ET.SubElement(dom, "on_poweroff").text = "destroy"
        ET.SubElement(dom, "on_reboot").text = "destroy"
        ET.SubElement(dom, "on_crash").text = "preserve"
        devs = ET.SubElement(dom, "devices")
        if self.disk and domain_type != "test":
            disk = ET.SubElement(devs, "disk", type="file", device="disk")
            ET.SubElement(disk, "driver", name="qemu", type="qcow2")
            ET.SubElement(disk, "source", file=self.disk)
            ET.SubElement(disk, "target", dev="vda", bus="virtio")
        if domain_type != "test":
            ser = ET.SubElement(devs, "serial", type="pty")
            if self.serial_log:
                ET.SubElement(ser, "log", file=self.serial_log, append="off")
            ET.SubElement(ser, "target", port="0")
            con = ET.SubElement(devs, "console", type="pty")
            ET.SubElement(con, "target", type="serial", port="0")
            ET.SubElement(devs, "controller", type="usb", model="none")
            ET.SubElement(devs, "memballoon", model="none")
            if self.panic_device:
                p = ET.SubElement(devs, "panic", model="isa")
                ET.SubElement(p, "address", type="isa", iobase="0x505")
        ET.indent(dom)
        return ET.tostring(dom, encoding="unicode")


def spec_from_xml(xml: str) -> dict[str, Any]:
    """The few facts a notebook shows about a domain's XML (name, memory MiB, vCPUs, type)."""
    root = ET.fromstring(xml)
    mem = root.find("memory")
    unit = (mem.get("unit") or "KiB") if mem is not None else "KiB"
    factor = {"KiB": 1 / 1024, "k": 1 / 1024, "MiB": 1, "M": 1, "GiB": 1024, "G": 1024}.get(unit, 1 / 1024)
    return {"name": root.findtext("name"), "type": root.get("type"),
            "memory_mib": round(int(mem.text or 0) * factor) if mem is not None else None,
            "vcpus": int(root.findtext("vcpu") or 0),
            "kernel": root.findtext("os/kernel"), "owner": _owner_in_xml(root)}


def _owner_in_xml(root: ET.Element) -> str | None:
    el = root.find(f"metadata/{{{LIBVIRT_METADATA_NS}}}{_OWNER_TAG}")
    return el.text if el is not None else None


# =========================================================================== accelerator
@dataclass(frozen=True)
class Accelerator:
    name: str  # "kvm" or "tcg"
    domain_type: str  # libvirt <domain type=...>: "kvm" or "qemu"
    reason: str


def accelerator() -> Accelerator:
    """KVM when libvirt offers it *and* the CPU has vmx/svm; otherwise TCG — with the reason
    (:func:`virtlab.probe.vm_accelerator`: the course's one rule, asked of libvirt itself)."""
    from virtlab import probe

    a = probe.vm_accelerator()
    return Accelerator(a.name, "kvm" if a.name == "kvm" else "qemu", a.reason)


# =========================================================================== connections
def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError as err:
        raise VirtError("libvirt-python is not installed: `make lab` installs it (it needs "
                        "libvirt-dev + pkg-config to build)") from err
    from virtlab.probe import silence_libvirt

    silence_libvirt()
    return libvirt


_EVENT_LOCK = threading.Lock()
_EVENT_LOOP: threading.Thread | None = None


def _ensure_event_loop() -> None:
    """libvirt's default event loop in a daemon thread (lifecycle events, console streams)."""
    global _EVENT_LOOP
    libvirt = _libvirt()
    with _EVENT_LOCK:
        if _EVENT_LOOP is not None:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        _EVENT_LOOP = threading.Thread(target=loop, daemon=True, name="virtlab-libvirt-events")
        _EVENT_LOOP.start()


_TEST_CONN: Any = None


def _close_test_conn() -> None:
    global _TEST_CONN
    if _TEST_CONN is not None:
        with contextlib.suppress(Exception):
            _TEST_CONN.close()
        _TEST_CONN = None


def default_uri() -> str:
    """``qemu:///system`` when the libvirt section runs live here, else ``test:///default``."""
    from virtlab import modes

    b = modes.resolve("libvirt")
    return SYSTEM_URI if b.mode == "live" else TEST_URI


def connect(uri: str | None = None) -> Any:
    """Open a libvirt connection (default: :func:`default_uri`); clear error when impossible."""
    global _TEST_CONN
    libvirt = _libvirt()
    uri = uri or default_uri()
    if uri == TEST_URI:
        # the test driver's state lives only while a connection is open: keep one for the process
        if _TEST_CONN is not None:
            try:
                _TEST_CONN.getURI()  # somebody may have closed the shared connection
            except Exception:  # noqa: BLE001 - reopen below
                _TEST_CONN = None
        if _TEST_CONN is None:
            _TEST_CONN = libvirt.open(TEST_URI)
            atexit.register(_close_test_conn)
        return _TEST_CONN
    _ensure_event_loop()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise VirtError(f"cannot connect to {uri}: {err.get_error_message()}. Is libvirtd "
                        "running and are you in the `libvirt` group? (sudo labs/lab-vm/provision.sh)") from err


def is_test(conn: Any) -> bool:
    return conn.getURI().startswith("test:")


def _err(err: Exception) -> str:
    return err.get_error_message() if hasattr(err, "get_error_message") else str(err)


STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
          6: "crashed", 7: "pmsuspended"}


def state_name(dom: Any) -> str:
    return STATES.get(dom.state()[0], "unknown")


def is_course_domain(dom: Any) -> bool:
    """Both marks: the ``vl-`` name and the course metadata element."""
    if not dom.name().startswith(PREFIX):
        return False
    libvirt = _libvirt()
    try:
        xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, LIBVIRT_METADATA_NS)
    except libvirt.libvirtError:
        return False
    with contextlib.suppress(ET.ParseError):
        return (ET.fromstring(xml).text or "").strip() == OWNER_VALUE
    return False


def domain_uid(dom: Any) -> int | None:
    """The uid recorded as the course domain's creator (None: not recorded)."""
    libvirt = _libvirt()
    try:
        xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, LIBVIRT_METADATA_NS)
    except libvirt.libvirtError:
        return None
    with contextlib.suppress(ET.ParseError):
        return owners.parse_uid(ET.fromstring(xml).get(owners.LIBVIRT_UID_TAG))
    return None


def _remove_domain(dom: Any) -> None:
    libvirt = _libvirt()
    if dom.isActive():
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()
    if dom.isPersistent():
        flags = (libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                 | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        if not is_test(dom.connect()):  # the test driver knows no checkpoints
            flags |= getattr(libvirt, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0)
        dom.undefineFlags(flags)


# =========================================================================== the console
class Console:
    """The guest's serial console over libvirt (``virDomainOpenConsole``), read with deadlines."""

    def __init__(self, conn: Any, dom: Any) -> None:
        libvirt = _libvirt()
        self._stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        dom.openConsole(None, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        self.text = ""  # everything read so far
        self._pos = 0  # how far read_until() has consumed

    def _pump(self) -> bool:
        got = False
        while True:
            try:
                data = self._stream.recv(65536)
            except Exception:  # noqa: BLE001 - a closed stream means the guest is gone
                return got
            if isinstance(data, int) or not data:  # -2: nothing now; b"": end of stream
                return got
            self.text += data.decode("utf-8", "replace").replace("\r", "")
            got = True

    def read_until(self, pattern: str, deadline: Deadline) -> re.Match[str]:
        """Wait for regex ``pattern`` in new console output; raise at the deadline."""
        rx = re.compile(pattern)

        def found() -> re.Match[str] | None:
            self._pump()
            m = rx.search(self.text, self._pos)
            if m:
                self._pos = m.end()
            return m

        return deadline.wait_for(found, interval=0.02)

    def send(self, line: str, timeout: float = 10) -> None:
        """Type one line into the guest's console (the guest's /init reads it)."""
        data = (line + "\n").encode()
        deadline = Deadline(timeout, "writing to the guest's serial console")
        while data:
            n = self._stream.send(data)
            if n == -2:  # the stream is full for now
                deadline.check()
                time.sleep(0.01)
                continue
            data = data[n:]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.abort()


# =========================================================================== the VM handle
_MARKER_RE = re.compile(MARKER + r" release=(\S+) uptime=([\d.]+) cpus=(\d+) pvpanic=(\w+)\n")


@dataclass
class CommandResult:
    command: str
    rc: int
    output: str
    seconds: float


@dataclass
class Guest:
    """A running course VM (inside ``with vm(...)``)."""

    conn: Any
    dom: Any
    spec: DomainSpec
    accelerator: Accelerator
    boot_seconds: float | None = None
    marker: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[float, str, str]] = field(default_factory=list)
    console: Console | None = None
    _t0: float = field(default_factory=time.monotonic)
    _last_cmd_end: int = 0

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def embedded(self) -> bool:
        return is_test(self.conn)

    def state(self) -> tuple[str, int]:
        s, reason = self.dom.state()
        return STATES.get(s, "unknown"), reason

    def run(self, command: str, timeout: float = 15) -> CommandResult:
        """Run a shell command inside the guest via its serial console; output + exit status."""
        if self.console is None:
            raise VirtError("this domain has no console (the test driver boots nothing)")
        if not isinstance(command, str) or "\n" in command or _CTRL_RE.search(command):
            raise ValueError("a guest command is one line of text")
        t0 = time.monotonic()
        self.console.send(command)
        m = self.console.read_until(DONE + r" (\d+)\n", Deadline(timeout, f"guest command {command!r}"))
        start, self._last_cmd_end = self._last_cmd_end, m.end()
        out = self.console.text[start:m.start()].strip("\n")
        return CommandResult(command, int(m.group(1)), out, time.monotonic() - t0)

    def qemu_pid(self) -> int | None:
        """The host PID of this VM's QEMU process (None on the test driver)."""
        if self.embedded:
            return None
        p = Path("/run/libvirt/qemu") / f"{self.name}.pid"
        with contextlib.suppress(OSError, ValueError):
            return int(p.read_text().strip())
        import psutil

        for proc in psutil.process_iter(["name", "cmdline"]):
            cmd = proc.info.get("cmdline") or []
            if any("qemu" in c for c in cmd[:1]) and f"guest={self.name}," in " ".join(cmd):
                return proc.pid
        return None

    def rss_bytes(self) -> int | None:
        """Resident memory of the QEMU process on the host (psutil), or None without one."""
        pid = self.qemu_pid()
        if pid is None:
            return None
        import psutil

        return int(psutil.Process(pid).memory_info().rss)

    def process_facts(self) -> dict[str, Any]:
        """The VM as the host sees it: one QEMU process — user, threads, key arguments."""
        pid = self.qemu_pid()
        if pid is None:
            return {}
        import psutil

        p = psutil.Process(pid)
        argv = p.cmdline()
        keep = {"-accel", "-machine", "-m", "-smp", "-kernel", "-initrd", "-cpu"}
        args = [f"{a} {argv[i + 1]}" for i, a in enumerate(argv[:-1]) if a in keep]
        return {"exe": os.path.basename(argv[0]) if argv else p.name(), "user": p.username(),
                "threads": p.num_threads(), "args": args}

    def crash(self, timeout: float = 30) -> dict[str, Any]:
        """Panic the guest kernel (sysrq 'c') and wait for libvirt to report it crashed."""
        if self.console is None:
            raise VirtError("crash() needs a real guest (the test driver boots nothing)")
        if not self.marker.get("pvpanic"):
            raise VirtError("this guest has no pvpanic driver, so a panic cannot be reported")
        t0 = time.monotonic()
        self.console.send("echo c > /proc/sysrq-trigger")
        dl = Deadline(timeout, "guest panic reported by libvirt",
                      "the guest needs the pvpanic device + driver (DomainSpec.panic_device)")
        dl.wait_for(lambda: self.dom.state()[0] == 6, interval=0.05)
        seconds = time.monotonic() - t0
        with contextlib.suppress(DeadlineExceeded):  # the panic message may trail the event
            Deadline(2, "panic text").wait_for(lambda: self.console._pump() or "Kernel panic" in self.console.text)
        lines = [re.sub(r"^\[ *[0-9.]+\] ", "", ln) for ln in self.console.text.splitlines()
                 if "Kernel panic" in ln or "sysrq: Trigger a crash" in ln]
        return {"state": state_name(self.dom), "reason": self.dom.state()[1],
                "seconds": seconds, "console": lines[-3:], "events": list(self.events)}

    def save_restore(self, path: str | None = None) -> dict[str, Any]:
        """Save the running guest's RAM + device state to a file, then restore it; timings."""
        d = tempfile.mkdtemp(prefix=f"{PREFIX}save-") if path is None else None
        if d:
            os.chmod(d, 0o755)
        target = path or os.path.join(d or "/tmp", f"{self.name}.save")
        try:
            t0 = time.monotonic()
            self.dom.save(target)
            t_save = time.monotonic() - t0
            size = os.path.getsize(target) if os.path.exists(target) else None
            state_between = state_name(self.dom)
            t1 = time.monotonic()
            self.conn.restore(target)
            t_restore = time.monotonic() - t1
            self.dom = self.conn.lookupByName(self.name)
            if not self.embedded:
                self._reopen_console()
            return {"save_s": t_save, "restore_s": t_restore, "file_bytes": size,
                    "state_between": state_between, "state_after": state_name(self.dom)}
        finally:
            with contextlib.suppress(OSError):
                os.unlink(target)
            if d:
                shutil.rmtree(d, ignore_errors=True)

    def _reopen_console(self) -> None:
        if self.console is not None:
            self.console.close()
        self.console = Console(self.conn, self.dom)
        self._last_cmd_end = 0

    def snapshot(self, name: str, description: str = "") -> str:
        """Take a named snapshot (test driver: always; QEMU: needs a qcow2 disk — see notes)."""
        root = ET.Element("domainsnapshot")
        ET.SubElement(root, "name").text = course_name(name)
        if description:
            ET.SubElement(root, "description").text = description[:200]
        libvirt = _libvirt()
        try:
            snap = self.dom.snapshotCreateXML(ET.tostring(root, encoding="unicode"), 0)
        except libvirt.libvirtError as err:
            hint = ("" if self.embedded or self.spec.disk else
                    " — QEMU keeps internal snapshots in a qcow2 disk: boot with "
                    "vm(..., snapshot_disk=True)")
            raise VirtError(f"snapshot of {self.name} failed: {_err(err)}{hint}") from err
        return snap.getName()

    def snapshots(self) -> list[str]:
        return sorted(self.dom.snapshotListNames())

    def revert(self, name: str) -> None:
        """Go back to snapshot ``name``: RAM, devices and disk as they were when it was taken."""
        self.dom.revertToSnapshot(self.dom.snapshotLookupByName(name))
        if not self.embedded:
            self._reopen_console()  # the reverted QEMU state has a fresh console


# =========================================================================== boot and wait
def _on_lifecycle(guest: Guest) -> Any:
    libvirt = _libvirt()
    names = {getattr(libvirt, k): k[len("VIR_DOMAIN_EVENT_"):].lower() for k in dir(libvirt)
             if re.fullmatch(r"VIR_DOMAIN_EVENT_[A-Z]+", k) and k != "VIR_DOMAIN_EVENT_ID_LIFECYCLE"}

    def cb(_conn: Any, _dom: Any, event: int, detail: int, _opaque: Any) -> None:
        guest.events.append((round(time.monotonic() - guest._t0, 3), names.get(event, str(event)),
                             str(detail)))

    return cb


@contextlib.contextmanager
def vm(spec: DomainSpec | None = None, *, uri: str | None = None, boot_timeout: float = 60,
       wait_marker: bool = True, snapshot_disk: bool = False, **spec_args: Any) -> Iterator[Guest]:
    """Define + boot a course VM, wait for its marker, yield a :class:`Guest`; always remove it.

    ``spec`` or DomainSpec keyword arguments (``vm(name="demo", memory=96)``). On
    ``qemu:///system`` the boot is timed from create to the marker line; if the marker does not
    appear within ``boot_timeout`` seconds the domain is destroyed and DeadlineExceeded raised.
    On ``test:///default`` the domain "runs" at once (nothing boots; no marker, no console).
    ``snapshot_disk=True`` gives a QEMU guest a small scratch qcow2 disk, which is where QEMU
    keeps internal snapshots (RAM + devices); it is deleted with the domain.
    """
    if spec is None:
        spec_args.setdefault("name", "vm-" + uuid.uuid4().hex[:6])
        spec = DomainSpec(**spec_args)
    elif spec_args:
        raise ValueError("give either a DomainSpec or its keyword arguments, not both")
    check_int(int(boot_timeout), minimum=1, maximum=600, what="boot_timeout (s)")
    conn = connect(uri)
    libvirt = _libvirt()
    test = is_test(conn)
    if test:
        accel = Accelerator("test", "test", "libvirt's in-process test driver: no guest runs")
        xml = spec.to_xml(domain_type="test")
    else:
        accel = accelerator()
        if spec.kernel is None and spec.memory_mib < COURSE_VM_MIN_MIB:
            conn.close()
            raise ValueError(f"the course VM's kernel needs at least {COURSE_VM_MIN_MIB} MiB "
                             f"(asked for {spec.memory_mib} MiB): give it more memory")
        if spec.kernel is None or spec.initrd is None:
            a = artefacts()
            spec = DomainSpec(**{**spec.__dict__, "kernel": spec.kernel or str(a.kernel),
                                 "initrd": spec.initrd or str(a.initrd)})
        if snapshot_disk and spec.disk is None:
            spec = DomainSpec(**{**spec.__dict__, "disk": str(_disk_dir() / f"{spec.name}.qcow2")})
        xml = spec.to_xml(domain_type=accel.domain_type)
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(spec.name)
        if not test:
            conn.close()
        raise ValueError(f"a domain named {spec.name} already exists: pick another name or run "
                         "`virtlab cleanup`")
    guest = Guest(conn, None, spec, accel)
    cb_id = None
    made_disk = None
    try:
        if spec.disk and not test and not os.path.exists(spec.disk):
            _make_qcow2(Path(spec.disk))
            made_disk = spec.disk
        try:
            guest.dom = conn.defineXML(xml)
        except libvirt.libvirtError as err:
            raise VirtError(f"libvirt refused the domain {spec.name}: {_err(err)}") from err
        if not test:
            cb_id = conn.domainEventRegisterAny(guest.dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                _on_lifecycle(guest), None)
        t0 = time.monotonic()
        guest._t0 = t0
        try:
            guest.dom.createWithFlags(0 if test else libvirt.VIR_DOMAIN_START_PAUSED)
        except libvirt.libvirtError as err:
            raise VirtError(f"{spec.name} did not start: {_err(err)}") from err
        if not test:
            guest.console = Console(conn, guest.dom)
            guest.dom.resume()
            if wait_marker:
                dl = Deadline(boot_timeout, f"{spec.name}: marker {MARKER} on the serial console",
                              "the domain was destroyed; the guest kernel or its /init did not "
                              "come up (see the serial log)")
                m = guest.console.read_until(_MARKER_RE.pattern, dl)
                guest.boot_seconds = time.monotonic() - t0
                guest.marker = {"release": m.group(1), "uptime_s": float(m.group(2)),
                                "cpus": int(m.group(3)), "pvpanic": m.group(4) == "yes"}
                guest._last_cmd_end = m.end()
        yield guest
    finally:
        if guest.console is not None:
            guest.console.close()
        if cb_id is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(cb_id)
        if guest.dom is not None:
            try:
                dom = conn.lookupByName(spec.name)
            except libvirt.libvirtError:
                dom = None  # already gone
            if dom is not None:
                _remove_domain(dom)
        if made_disk:
            with contextlib.suppress(OSError):
                os.unlink(made_disk)
        if not test:
            conn.close()


#: where learners keep disks qemu:///system's QEMU (user libvirt-qemu) must open: a learner's
#: home may be closed to it, so provisioning makes this sticky, world-writable folder
SHARED_DISK_DIR = Path("/var/lib/virtlab/disks")


def _disk_dir() -> Path:
    from virtlab.rootfs import data_dir

    if os.geteuid() != 0 and SHARED_DISK_DIR.is_dir() and os.access(SHARED_DISK_DIR, os.W_OK | os.X_OK):
        return SHARED_DISK_DIR
    d = data_dir() / "disks"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    return d


def _make_qcow2(path: Path, size: str = "64M") -> None:
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise VirtError("qemu-img is needed for a snapshot disk (Debian: apt-get install qemu-utils)")
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", str(path), size], check=True,
                   capture_output=True, timeout=30)
    os.chmod(path, 0o644)


def define_domain(spec: DomainSpec, *, uri: str | None = None) -> str:
    """Define (not start) a course domain — e.g. for an exercise; returns its name."""
    libvirt = _libvirt()
    conn = connect(uri)
    try:
        dtype = "test" if is_test(conn) else accelerator().domain_type
        try:
            return conn.defineXML(spec.to_xml(domain_type=dtype)).name()
        except libvirt.libvirtError as err:
            raise VirtError(f"libvirt refused the domain {spec.name}: {_err(err)}") from err
    finally:
        if not is_test(conn):
            conn.close()


SESSION_URI = "qemu:///session"


def session_socket() -> Path:
    """Where the caller's own ``qemu:///session`` daemon listens (libvirt's rule)."""
    run = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(run) if run else Path.home() / ".cache"
    return base / "libvirt" / "libvirt-sock"


def session_running() -> bool:
    """Whether the caller's per-user libvirt daemon is up (non-root only)."""
    return os.geteuid() != 0 and session_socket().is_socket()


def course_domains(conn: Any) -> list[str]:
    return sorted(d.name() for d in conn.listAllDomains() if is_course_domain(d))


def cleanup(uris: tuple[str, ...] | None = None, *, prefix: str = PREFIX) -> list[str]:
    """Destroy + undefine course domains (``vl-`` name *and* course metadata) only.

    ``prefix`` narrows it further (a test removes only the domains it made). Scratch snapshot
    disks left by a killed kernel go too. Every step is tried; failures are raised together.
    """
    libvirt = _libvirt()
    from virtlab import probe

    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    if uris is None:
        info = probe.libvirt_info()
        uris = tuple(u for u in (SYSTEM_URI,) if info.uris.get(u, {}).get("ok")) + (TEST_URI,)
        if session_running():  # a learner's own per-user daemon (never started just to clean)
            uris = (SESSION_URI, *uris)
    steps = []
    for uri in uris:
        try:
            conn = connect(uri) if uri == TEST_URI else libvirt.open(uri)
        except (libvirt.libvirtError, VirtError):
            continue
        for dom in conn.listAllDomains():
            # only the caller's own domains, unless root asked for every user's
            if dom.name().startswith(prefix) and is_course_domain(dom) \
                    and owners.mine(domain_uid(dom)):
                steps.append((f"domain {dom.name()} ({uri})", lambda d=dom: _remove_domain(d)))
    with contextlib.suppress(OSError):
        for disk in sorted(_disk_dir().glob(f"{prefix}*.qcow2")):
            # in the shared folder a learner removes only their own disks (root: every one)
            if owners.path_is_mine(disk):
                steps.append((f"disk {disk}", disk.unlink))
    return _run_steps(steps)


def _run_steps(steps: list[tuple[str, Any]]) -> list[str]:
    return cleanup_all(steps)


__all__ = [
    "Accelerator", "Artefacts", "CommandResult", "Console", "DeadlineExceeded", "DomainSpec",
    "Guest", "MissingImage", "VirtError", "accelerator", "artefacts", "build_images", "cleanup",
    "connect", "course_domains", "define_domain", "extract_vmlinux", "is_course_domain", "vm",
]


# =========================================================================== demos (notebook 06)
from virtlab import modes  # noqa: E402  (modes imports nothing from here)


def _uri_for(backend: modes.Backend) -> str:
    return SYSTEM_URI if backend.mode == "live" else TEST_URI


def _host_facts() -> dict[str, Any]:
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return {"release": os.uname().release, "uptime_s": up}


@modes.demo("libvirt.lifecycle", section="libvirt", embedded=True)
def demo_lifecycle(backend: modes.Backend) -> dict[str, Any]:
    """define -> start -> suspend -> resume -> destroy -> undefine, with the state after each."""
    uri = _uri_for(backend)
    steps: list[list[str]] = []
    with vm(name="demo-life", memory=96, uri=uri, wait_marker=False) as g:
        steps.append(["defineXML() + create()", state_name(g.dom)])
        g.dom.suspend()
        steps.append(["suspend()", state_name(g.dom)])
        g.dom.resume()
        steps.append(["resume()", state_name(g.dom)])
        g.dom.destroy()
        steps.append(["destroy()", state_name(g.dom)])
        persistent = bool(g.dom.isPersistent())
        xml = spec_from_xml(g.dom.XMLDesc(0))
        events = [e[1] for e in g.events]
    steps.append(["undefine()", "gone" if domain_facts("demo-life", uri=uri) is None else "still defined"])
    return {"uri": uri, "steps": steps, "persistent": persistent, "xml": xml, "events": events}


def _show_lifecycle(r: modes.Result) -> None:
    d = r.data
    x = d["xml"]
    print(f"{x['name']} on {d['uri']}: <domain type='{x['type']}'>, {x['memory_mib']} MiB, "
          f"{x['vcpus']} vCPU, owner {x['owner']}, persistent: {d['persistent']}")
    for call, state in d["steps"]:
        print(f"  {call:<24} -> {state}")
    if d["events"]:
        print(f"  lifecycle events received: {', '.join(d['events'])}")
    else:
        print("  (lifecycle events are collected from a real libvirtd only)")


@modes.demo("libvirt.boot", section="libvirt", embedded=False)
def demo_boot(backend: modes.Backend) -> dict[str, Any]:
    """Boot the course VM; the guest's kernel vs the host's; boot time; QEMU's host memory."""
    uri = _uri_for(backend)
    spec = DomainSpec(name="demo-boot", memory=128, vcpus=1)
    host = _host_facts()
    with vm(spec, uri=uri, boot_timeout=90) as g:
        out: dict[str, Any] = {
            "uri": uri, "name": g.name, "accelerator": g.accelerator.name,
            "accelerator_reason": g.accelerator.reason, "memory_mib": spec.memory_mib,
            "vcpus": spec.vcpus, "state": g.state()[0], "host": host,
            "xml": spec_from_xml(g.dom.XMLDesc(0)),
        }
        if not g.embedded:
            out["boot_s"] = round(g.boot_seconds or 0, 2)
            out["guest"] = {"release": g.marker["release"], "uptime_s": g.marker["uptime_s"],
                            "uname": g.run("uname -sr").output,
                            "meminfo": g.run("head -1 /proc/meminfo").output}
            out["qemu_rss_mib"] = round((g.rss_bytes() or 0) / 1024**2)
            out["events"] = [e[1] for e in g.events]
            out["qemu"] = g.process_facts()
    return out


def show_boot(r: modes.Result) -> None:
    """Print a deterministic view of the ``libvirt.boot`` demo."""
    d = r.data
    print(f"domain {d['xml']['name']} on {d['uri']}: {d['memory_mib']} MiB, {d['vcpus']} vCPU, "
          f"<domain type='{d['xml']['type']}'>, state: {d['state']}")
    print(f"  owner metadata: {d['xml']['owner']}")
    print(f"  host kernel : Linux {d['host']['release']}")
    if "guest" not in d:
        print("  guest       : none — the test driver keeps a domain's state, it runs no guest")
        return
    print(f"  accelerator : {d['accelerator'].upper()} ({d['accelerator_reason']})")
    print(f"  guest kernel: {d['guest']['uname']}  (a kernel of its own, booted by QEMU)")
    print(f"  guest {d['guest']['meminfo']}")
    print(f"  create -> marker: {d['boot_s']} s (guest uptime at the marker {d['guest']['uptime_s']} s)")
    print(f"  QEMU process on the host: {d['qemu_rss_mib']} MiB resident for a {d['memory_mib']} MiB guest")
    print(f"  lifecycle events: {', '.join(d['events'])}")
    q = d.get("qemu")
    if q:
        print(f"  on the host it is one process: {q['exe']}, user {q['user']}, {q['threads']} threads")
        for a in q["args"]:
            print(f"      {a}")


@modes.demo("libvirt.crash", section="libvirt", embedded=False)
def demo_crash(backend: modes.Backend) -> dict[str, Any]:
    """Two guests; panic one kernel; the other guest and the host carry on."""
    uri = _uri_for(backend)
    host_before = _host_facts()
    with vm(name="demo-crash", memory=96, uri=uri, boot_timeout=90) as a, \
            vm(name="demo-calm", memory=96, uri=uri, boot_timeout=90) as b:
        b_before = b.run("cat /proc/uptime").output.split()[0]
        crash = a.crash()
        b_after = b.run("cat /proc/uptime").output.split()[0]
        host_after = _host_facts()
        return {
            "crashed": {"name": a.name, "state": crash["state"], "console": crash["console"],
                        "events": [e[1] for e in a.events]},
            "other": {"name": b.name, "state": b.state()[0], "uptime_before": float(b_before),
                      "uptime_after": float(b_after)},
            "host": {"release": host_before["release"],
                     "uptime_grew": host_after["uptime_s"] > host_before["uptime_s"]},
        }


def show_crash(r: modes.Result) -> None:
    d = r.data
    c, o = d["crashed"], d["other"]
    print(f"{c['name']}: guest kernel panicked (sysrq 'c'); libvirt reports state: {c['state']}")
    for line in c["console"]:
        print(f"   console| {line}")
    print(f"   lifecycle events: {', '.join(c['events'])}")
    print(f"{o['name']}: state {o['state']}, still answering; its uptime kept growing: "
          f"{o['uptime_after'] >= o['uptime_before']}")
    print(f"host (Linux {d['host']['release']}): still up, uptime kept growing: {d['host']['uptime_grew']}")


@modes.demo("libvirt.save", section="libvirt", embedded=True)
def demo_save_restore(backend: modes.Backend) -> dict[str, Any]:
    """Save a running guest to a file and restore it; state written before survives."""
    uri = _uri_for(backend)
    with vm(name="demo-save", memory=128, uri=uri, boot_timeout=90) as g:
        if not g.embedded:
            g.run("echo written-before-save > /tmp/note")
        r = g.save_restore()
        out = {"uri": uri, "state_between": r["state_between"], "state_after": r["state_after"],
               "save_s": round(r["save_s"], 2), "restore_s": round(r["restore_s"], 2),
               "file_mib": round((r["file_bytes"] or 0) / 1024**2, 1), "memory_mib": 128}
        if not g.embedded:
            out["note_after"] = g.run("cat /tmp/note").output
        return out


def _show_save_restore(r: modes.Result) -> None:
    d = r.data
    print(f"save: domain -> {d['state_between']} ({d['save_s']} s); "
          f"restore: -> {d['state_after']} ({d['restore_s']} s)")
    print(f"  state file: {d['file_mib']} MiB for a {d['memory_mib']} MiB guest")
    if "note_after" in d:
        print(f"  /tmp/note inside the guest after restore: {d['note_after']!r}")
    else:
        print("  (test driver: the state file holds the domain XML only; no guest RAM)")


@modes.demo("libvirt.snapshot", section="libvirt", embedded=True)
def demo_snapshot(backend: modes.Backend) -> dict[str, Any]:
    """Snapshot, change, revert: the guest forgets what happened after the snapshot."""
    uri = _uri_for(backend)
    with vm(name="demo-snap", memory=96, uri=uri, boot_timeout=90,
            snapshot_disk=True) as g:
        steps: list[str] = []
        if not g.embedded:
            g.run("echo before > /tmp/file")
        t0 = time.monotonic()
        g.snapshot("before")
        t_snap = time.monotonic() - t0
        steps.append("snapshot 'vl-before' taken")
        if not g.embedded:
            g.run("echo after > /tmp/file")
            steps.append(f"/tmp/file changed to {g.run('cat /tmp/file').output!r}")
        t1 = time.monotonic()
        g.revert("vl-before")
        t_revert = time.monotonic() - t1
        steps.append("reverted to 'vl-before'")
        if not g.embedded:
            steps.append(f"/tmp/file is {g.run('cat /tmp/file').output!r} again")
        return {"uri": uri, "steps": steps, "snapshots": g.snapshots(),
                "snapshot_s": round(t_snap, 2), "revert_s": round(t_revert, 2)}


def _show_snapshot(r: modes.Result) -> None:
    for i, s in enumerate(r.data["steps"], 1):
        print(f"{i}. {s}")
    print(f"snapshots of the domain: {', '.join(r.data['snapshots'])}")


def boot_benchmark(memories: tuple[int, ...] = (96, 128, 256), repeat: int = 3,
                   uri: str = SYSTEM_URI) -> list[dict[str, Any]]:
    """Create -> marker time and QEMU RSS per guest size (one VM at a time)."""
    rows = []
    for mem in memories:
        check_int(mem, minimum=MIN_MEMORY_MIB, maximum=MAX_MEMORY_MIB, what="memory (MiB)")
        for i in range(repeat):
            with vm(name=f"bench-{mem}-{i}-{uuid.uuid4().hex[:4]}", memory=mem, uri=uri) as g:
                rows.append({"memory_mib": mem, "boot_s": g.boot_seconds,
                             "guest_uptime_s": g.marker.get("uptime_s"),
                             "qemu_rss_mib": (g.rss_bytes() or 0) / 1024**2})
    return rows


def undefine_domain(name: str, *, uri: str | None = None) -> bool:
    """Remove one course domain by name (refuses anything the course did not create)."""
    libvirt = _libvirt()
    full = course_name(name)
    conn = connect(uri)
    try:
        try:
            dom = conn.lookupByName(full)
        except libvirt.libvirtError:
            return False
        if not is_course_domain(dom):
            raise ValueError(f"{full} was not created by the course (no course metadata): "
                             "leaving it alone")
        _remove_domain(dom)
        return True
    finally:
        if not is_test(conn):
            conn.close()


def domain_facts(name: str, *, uri: str | None = None) -> dict[str, Any] | None:
    """Name, type, memory MiB, vCPUs, owner of a defined domain — None when there is none."""
    libvirt = _libvirt()
    conn = connect(uri)
    try:
        try:
            dom = conn.lookupByName(course_name(name))
        except libvirt.libvirtError:
            return None
        facts = spec_from_xml(dom.XMLDesc(0))
        facts["state"] = state_name(dom)
        return facts
    finally:
        if not is_test(conn):
            conn.close()


def accelerator_for(kvm_usable: bool, vmx_svm: bool) -> str:
    """The course's rule as a pure function (the one in :func:`virtlab.probe.accelerator_rule`)."""
    from virtlab import probe

    return probe.accelerator_rule(kvm_usable, vmx_svm)


# the views: after an embedded run (libvirt's test driver, no guest) each also prints the
# recording of a real run, labelled RECORDED (``real=False`` leaves it out)
show_lifecycle = modes.view_with_real_run(_show_lifecycle)
show_save_restore = modes.view_with_real_run(_show_save_restore)
show_snapshot = modes.view_with_real_run(_show_snapshot)
