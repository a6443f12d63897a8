"""The course guest's boot artefacts: a kernel (the host's, or Debian's) and a busybox initramfs."""
from __future__ import annotations

import contextlib
import gzip
import hashlib
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
from virtlab.virt.base import (
    COURSE_VM_MIN_MIB,
    PVPANIC_MODULES,
    SYSTEM_VM_DIR,
    VM_SUBDIR,
    MissingImage,
    VirtError,
)

# =========================================================================== building the VM
INIT_SCRIPT = r"""#!/bin/sh
# /init of the virtlab course VM (busybox). Prints a marker, then serves one command per line.
# Under TCG each process costs ~10 ms, so the marker's facts are read with the shell's builtins
# (read, echo, case) and the three mounts come from one `mount -a` (/etc/fstab).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -a 2>/dev/null
echo vl-guest > /proc/sys/kernel/hostname
if ! [ -d /sys/bus/platform/drivers/pvpanic-mmio ]; then  # built in (course kernel), or modules
  for m in pvpanic pvpanic-mmio pvpanic-pci; do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
  done
fi
stty -echo -onlcr 2>/dev/null
read -r cmdline < /proc/cmdline
case "$cmdline" in *virtlab.nomarker*) exec sleep 100000 ;; esac
panic=no  # yes only when a driver is bound to a pvpanic device (ISA/ACPI or PCI)
for d in /sys/bus/platform/drivers/pvpanic-mmio/QEMU0001:* /sys/bus/pci/drivers/pvpanic-pci/0000:*; do
  [ -e "$d" ] && panic=yes
done
read -r release < /proc/sys/kernel/osrelease
cpus=0
while read -r key _; do [ "$key" = processor ] && cpus=$((cpus + 1)); done < /proc/cpuinfo
read -r uptime _ < /proc/uptime
echo "VIRTLAB-READY release=$release uptime=$uptime cpus=$cpus pvpanic=$panic"
case "$cmdline" in *virtlab.poweroff*) poweroff -f ;; esac
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

#: the guest's /etc/fstab: what /init mounts with one `mount -a`
FSTAB = "proc /proc proc defaults 0 0\nsysfs /sys sysfs defaults 0 0\ndevtmpfs /dev devtmpfs defaults 0 0\n"

#: the initramfs's file name. Not compressed: under TCG the guest kernel took ~0.1 s to gunzip
#: the 1 MiB archive (time to "Run /init" 0.47 -> 0.36 s, 6 rotating rounds); QEMU copies the
#: 2 MiB raw archive into guest RAM in a millisecond, and the kernel frees it once unpacked
INITRAMFS_NAME = "initramfs.cpio"

#: names the initramfs's own files (init, fstab, layout): a manifest with another key gets its
#: initramfs rebuilt by `virtlab images build` (the kernels are kept), so provisioning an old lab
#: VM again brings the new /init. Layout 2: uncompressed, :data:`INITRAMFS_NAME`
INITRAMFS_KEY = hashlib.sha256((INIT_SCRIPT + FSTAB + "layout 2").encode()).hexdigest()[:12]




#: the guest kernels the course VM can boot; the first one built is the default
GUEST_KERNELS = ("minimal", "stock")


def kernel_choice(kernel: str | None = None) -> str | None:
    """Which guest kernel: the argument, else ``VIRTLAB_GUEST_KERNEL``, else None (the default)."""
    kernel = kernel or os.environ.get("VIRTLAB_GUEST_KERNEL") or None
    if kernel is not None and kernel not in GUEST_KERNELS:
        raise ValueError(f"unknown guest kernel {kernel!r}; choose one of: {', '.join(GUEST_KERNELS)}")
    return kernel


def _add_minimal_kernel(dest: Path) -> str:
    """Build (or take from the cache) the minimal course kernel into ``dest`` and make it the
    default in the manifest; the stock kernel stays as ``stock``. Returns a line saying what
    happened — on failure the course VM keeps booting the stock kernel, and the line says why."""
    from virtlab import guestkernel

    manifest = dest / "manifest.json"
    m = json.loads(manifest.read_text())
    kernels = m.get("kernels") or {"stock": {"file": m["kernel"], "release": m["release"],
                                             "pvpanic": m.get("pvpanic"), "source": m.get("source", ""),
                                             "min_memory_mib": COURSE_VM_MIN_MIB}}
    try:
        if os.environ.get("VIRTLAB_MINIMAL_KERNEL", "1") == "0":
            raise guestkernel.KernelBuildError("VIRTLAB_MINIMAL_KERNEL=0")
        b = guestkernel.build()
    except guestkernel.KernelBuildError as err:
        m.update(kernels=kernels, default_kernel="stock")
        manifest.write_text(json.dumps(m, indent=1) + "\n")
        return f"minimal kernel not built, the course VM boots the stock kernel: {err}"
    shutil.copyfile(b.vmlinux, dest / "vmlinux-min")
    os.chmod(dest / "vmlinux-min", 0o644)
    kernels["minimal"] = {"file": "vmlinux-min", "release": b.release, "pvpanic": True,
                          "source": f"{b.info.get('source')} + virtlab/data/guestkernel.config "
                                    f"(key {b.info.get('key')})",
                          "min_memory_mib": guestkernel.MIN_MEMORY_MIB, "build": b.info}
    m.update(kernels={"minimal": kernels["minimal"], "stock": kernels["stock"]},
             default_kernel="minimal", kernel="vmlinux-min", release=b.release,
             source=kernels["minimal"]["source"])
    manifest.write_text(json.dumps(m, indent=1) + "\n")
    return f"minimal kernel {b.release} (built in {b.info.get('total_s')} s, cached in {b.vmlinux.parent})"


def _newc_entry(name: str, mode: int, data: bytes = b"", ino: int = 0) -> bytes:
    """One entry of a ``newc`` cpio archive (the format the kernel unpacks as initramfs)."""
    nb = name.encode() + b"\0"
    head = b"070701" + b"".join(b"%08X" % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
    out = head + nb
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def build_initramfs(dest: Path, *, busybox: Path, modules: dict[str, bytes] | None = None,
                    compress: bool = False) -> Path:
    """Write a newc cpio initramfs with busybox, one symlink per applet, /init and the given
    kernel modules (``{"pvpanic.ko": bytes}``) into ``dest``; uncompressed unless ``compress``
    (gzip; see :data:`INITRAMFS_NAME` for why not). Pure Python."""
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
    add("etc/fstab", stat.S_IFREG | 0o644, FSTAB.encode())
    for name, data in sorted((modules or {}).items()):
        add(f"lib/modules/{name}", stat.S_IFREG | 0o644, data)
    out.extend(_newc_entry("TRAILER!!!", 0))
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        if compress:
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
                gz.write(bytes(out))
        else:
            f.write(out)
    tmp.replace(dest)
    return dest


def initramfs_modules(path: Path) -> dict[str, bytes]:
    """The kernel modules (``lib/modules/*.ko``) inside an initramfs :func:`build_initramfs` wrote,
    so that a new /init can be packed with them without fetching a kernel package again.
    Reads both layouts: raw, and gzip'd (lab VMs provisioned before layout 2)."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    mods: dict[str, bytes] = {}
    pos = 0
    while pos + 110 <= len(data):
        if data[pos:pos + 6] != b"070701":
            raise VirtError(f"{path}: not a newc cpio archive at byte {pos}")
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        pos += 110
        name = data[pos:pos + namesize - 1].decode()
        pos += namesize + (-(110 + namesize) % 4)
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            break
        if stat.S_ISREG(mode) and name.startswith("lib/modules/") and name.endswith(".ko"):
            mods[name.rsplit("/", 1)[1]] = body
    return mods


def _refresh_initramfs(dest: Path, m: dict) -> str | None:
    """Rebuild ``dest``'s initramfs when it was packed with another /init (:data:`INITRAMFS_KEY`),
    keeping its kernel modules; the manifest records the key. Returns a line when it did."""
    if m.get("initramfs_key") == INITRAMFS_KEY:
        return None
    from virtlab.rootfs import busybox_path

    old = dest / m["initrd"]
    initrd = dest / INITRAMFS_NAME
    build_initramfs(initrd, busybox=busybox_path(), modules=initramfs_modules(old))
    os.chmod(initrd, 0o644)
    m["initramfs_key"] = INITRAMFS_KEY
    m["initrd"] = INITRAMFS_NAME
    (dest / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
    if old != initrd:
        old.unlink(missing_ok=True)  # the manifest names the new one already
    return f"initramfs rebuilt with the current /init (key {INITRAMFS_KEY})"


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
    """The built course VM: kernel (ELF vmlinux when available, else bzImage) and initramfs.

    ``name`` is which kernel: ``minimal`` (the course's own, :mod:`virtlab.guestkernel`) or
    ``stock`` (the distribution's generic kernel)."""

    kernel: Path
    initrd: Path
    release: str
    pvpanic: bool
    source: str
    name: str = "stock"
    min_memory_mib: int = COURSE_VM_MIN_MIB

    @property
    def directory(self) -> Path:
        return self.kernel.parent


def artefacts(kernel: str | None = None) -> Artefacts:
    """The course VM files (``kernel``: "minimal", "stock" or None for the default), or
    :class:`MissingImage` saying how to build them."""
    kernel = kernel_choice(kernel)
    for d in vm_dirs():
        manifest = d / "manifest.json"
        if not manifest.exists():
            continue
        m = json.loads(manifest.read_text())
        i = d / m["initrd"]
        kernels = m.get("kernels") or {"stock": {"file": m["kernel"], "release": m["release"],
                                                 "pvpanic": m.get("pvpanic"), "source": m.get("source", "")}}
        name = kernel or m.get("default_kernel") or next(iter(kernels))
        k = kernels.get(name)
        if k is None:
            raise MissingImage(f"the course VM in {d} has no {name} kernel (it has: "
                               f"{', '.join(kernels)}); run `virtlab images build --only vm` again"
                               + (" after `apt-get install linux-source`" if name == "minimal" else ""))
        if (d / k["file"]).exists() and i.exists():
            return Artefacts(d / k["file"], i, k["release"], bool(k.get("pvpanic")), k.get("source", ""),
                             name, int(k.get("min_memory_mib", COURSE_VM_MIN_MIB)))
    raise MissingImage("the course VM is not built: run `virtlab images build --only vm` "
                       "(or `sudo labs/lab-vm/provision.sh --only libvirt`)")


@builds("vm", order=30)
def build_images(force: bool = False) -> list[str]:
    """Build the course VM (kernels + busybox initramfs) offline; returns the default kernel,
    the initramfs and a line about the minimal kernel (built, cached, or why the stock one is
    the default: see :mod:`virtlab.guestkernel`).

    Idempotent: with the manifest in place and ``force=False`` nothing is rebuilt. Files are
    world-readable (QEMU runs as ``libvirt-qemu``), directories world-searchable.
    """
    from virtlab.rootfs import busybox_path, data_dir

    dest = data_dir() / VM_SUBDIR
    manifest = dest / "manifest.json"
    if manifest.exists() and not force:
        with contextlib.suppress(MissingImage, KeyError, ValueError):
            m = json.loads(manifest.read_text())
            stock = (m.get("kernels") or {}).get("stock", {}).get("file", m["kernel"])
            if (dest / stock).exists() and (dest / m["initrd"]).exists():
                fresh = _refresh_initramfs(dest, m)
                note = _add_minimal_kernel(dest) + (f"; {fresh}" if fresh else "")
                a = artefacts()
                return [str(a.kernel), str(a.initrd), note]
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
    build_initramfs(dest / INITRAMFS_NAME, busybox=busybox_path(), modules=mods)
    meta = {"kernel": kernel, "bzimage": "vmlinuz", "initrd": INITRAMFS_NAME,
            "release": release, "pvpanic": "pvpanic-mmio.ko" in mods or "pvpanic-pci.ko" in mods,
            "source": source, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "initramfs_key": INITRAMFS_KEY}
    manifest.write_text(json.dumps(meta, indent=1) + "\n")
    note = _add_minimal_kernel(dest)
    for p in (dest, *dest.iterdir()):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    for parent in dest.parents:  # QEMU (libvirt-qemu) must be able to walk down to the files
        if parent == Path("/") or not os.access(parent, os.W_OK):
            break
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
    a = artefacts()
    return [str(a.kernel), str(a.initrd), note]
