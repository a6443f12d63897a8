"""The course guest's boot artefacts: a kernel (the host's, or Debian's) and a busybox initramfs."""
from __future__ import annotations

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
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# =========================================================================== demos (notebook 06)
from virtlab.core.registry import builds
from virtlab.virt.base import PVPANIC_MODULES, SYSTEM_VM_DIR, VM_SUBDIR, MissingImage, VirtError

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


@builds("vm", order=30)
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
