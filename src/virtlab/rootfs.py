"""Offline building blocks shared by the mini container, the LXD image and the VM initramfs.

A busybox root filesystem is a directory holding one static binary (``busybox-static``) and a
symlink per applet — about 2 MB, built in well under a second, with no network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from virtlab.core.registry import builds
from virtlab.safety import Deadline, VirtlabError

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox")


class MissingTool(VirtlabError, RuntimeError):
    """A host tool the course needs is not installed."""


def fetched_busybox() -> Path:
    """Where :func:`fetch_busybox` keeps Debian's static busybox (no root needed): the user's
    cache, whatever ``VIRTLAB_DATA`` says (tests point that elsewhere)."""
    if os.geteuid() == 0:
        base = Path("/var/lib/virtlab")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "virtlab"
    return base / "busybox-static" / "busybox"


def data_dir() -> Path:
    """Where the course keeps what it builds (``VIRTLAB_DATA``; /var/lib/virtlab as root)."""
    env = os.environ.get("VIRTLAB_DATA")
    if env:
        p = Path(env)
    elif os.geteuid() == 0:
        p = Path("/var/lib/virtlab")
    else:
        p = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "virtlab"
    p.mkdir(parents=True, exist_ok=True)
    return p


def busybox_path() -> Path:
    """The static busybox binary; a clear error when it is missing or dynamically linked."""
    for cand in (*BUSYBOX_CANDIDATES, fetched_busybox()):
        p = Path(cand)
        if p.is_file() and os.access(p, os.X_OK):
            with p.open("rb") as f:
                head = f.read(4096)
            if b"/lib64/ld-linux" in head or b"ld-linux-x86-64" in p.read_bytes()[:65536]:
                continue  # dynamically linked: useless inside an empty root
            return p
    raise MissingTool(
        "a static busybox is needed (Debian/Ubuntu: `sudo apt-get install busybox-static`)")


def fetch_busybox(timeout: float = 120.0) -> Path:
    """Fetch Debian's ``busybox-static`` package as any user (``apt-get download``, no root) and
    keep its one static binary in the course's data folder. Debian/Ubuntu only."""
    import tempfile

    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise MissingTool("no apt-get/dpkg-deb here to fetch busybox-static; install a static "
                          "busybox with your distribution's package manager")
    dest = fetched_busybox()
    with tempfile.TemporaryDirectory(prefix="vl-busybox-") as tmp:
        res = subprocess.run(["apt-get", "download", "-q", "busybox-static"], cwd=tmp,
                             capture_output=True, text=True, timeout=timeout, check=False)
        debs = sorted(Path(tmp).glob("busybox-static_*.deb"))
        if res.returncode != 0 or not debs:
            raise MissingTool("could not fetch busybox-static with `apt-get download` "
                              f"({res.stderr.strip()[-200:] or res.returncode}); install it: "
                              "`sudo apt-get install busybox-static`")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(Path(tmp) / "x")], check=True,
                       timeout=timeout, capture_output=True)
        src = next((p for p in (Path(tmp) / "x/bin/busybox", Path(tmp) / "x/usr/bin/busybox")
                    if p.is_file()), None)
        if src is None:
            raise MissingTool("the busybox-static package holds no bin/busybox")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(".part")
        shutil.copy2(src, part)
        os.chmod(part, 0o755)
        part.rename(dest)
    return dest


def applets(busybox: Path | None = None) -> list[str]:
    bb = busybox or busybox_path()
    out = subprocess.run([str(bb), "--list-full"], capture_output=True, text=True, check=True,
                         timeout=10).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def build_busybox_tree(dest: Path, *, hostname: str = "vl-box", force: bool = False) -> Path:
    """Create (or reuse) a busybox root filesystem at ``dest``; returns ``dest``.

    Built into a temporary sibling and renamed into place, so a crash never leaves a half tree.
    """
    dest = Path(dest)
    marker = dest / ".virtlab-rootfs"
    if marker.exists() and not force:
        return dest
    bb = busybox_path()
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root",
              "var", "run", "mnt"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    os.chmod(tmp / "tmp", 0o1777)
    shutil.copy2(bb, tmp / "bin/busybox")
    os.chmod(tmp / "bin/busybox", 0o755)
    for full in applets(bb):
        target = tmp / full.lstrip("/")
        if target.name == "busybox" or target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to("/bin/busybox")
    (tmp / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (tmp / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (tmp / "etc/hostname").write_text(hostname + "\n")
    (tmp / ".virtlab-rootfs").write_text("built by virtlab from " + str(bb) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


@builds("rootfs", order=10)  # the others are made from it
def default_rootfs(force: bool = False) -> Path:
    """The shared busybox root filesystem under :func:`data_dir`."""
    return build_busybox_tree(data_dir() / "rootfs-busybox", force=force)


# --------------------------------------------------------------------------- Debian, debootstrapped
def apt_source() -> tuple[str, str]:
    """(mirror URL, suite) the host's apt uses for Debian; the public mirror as a fallback."""
    suite = "bookworm"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME=") and line.split("=", 1)[1].strip('"'):
                suite = line.split("=", 1)[1].strip('"')
    texts = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            texts.append(f.read_text())
    for text in texts:
        for line in text.splitlines():
            parts = line.split()
            if line.startswith("URIs:") and len(parts) > 1 and "security" not in parts[1]:
                return parts[1], suite
            if parts[:1] == ["deb"] and len(parts) > 2 and "security" not in parts[1]:
                url = next((p for p in parts[1:] if "://" in p), None)
                if url:
                    return url, suite
    return "http://deb.debian.org/debian", suite


def debootstrap(dest: Path, include: Sequence[str], deadline: Deadline, *, sudo_hint: str,
                error: type[VirtlabError] = VirtlabError) -> tuple[str, str]:
    """A minimal Debian (``--variant=minbase`` + ``include``) in ``dest`` (which must not exist
    yet), from the host's own mirror (:func:`apt_source`), apt's downloaded packages and lists
    removed. The checks come first: the tool (:class:`MissingTool`), root (``error`` naming
    ``sudo_hint``, the command to run instead); a failed run raises ``error`` with the end of
    debootstrap's output. Returns (mirror, suite)."""
    if shutil.which("debootstrap") is None:
        raise MissingTool("debootstrap is not installed. To fix: `sudo apt-get install debootstrap`")
    if os.geteuid() != 0:
        raise error(f"debootstrap needs root. To fix: `{sudo_hint}`")
    for pkg in include:
        if not pkg or not all(c.isalnum() or c in "+-." for c in pkg):
            raise ValueError(f"not a Debian package name: {pkg!r}")
    if dest.exists():
        raise ValueError(f"{dest} exists: debootstrap wants a new directory")
    from virtlab import core

    mirror, suite = apt_source()
    argv = ["debootstrap", "--variant=minbase"]
    if include:
        argv.append("--include=" + ",".join(include))
    res = core.run([*argv, suite, str(dest), mirror], deadline)
    if res.returncode != 0:
        raise error(f"debootstrap {suite} from {mirror} failed: "
                    f"{(res.stderr or res.stdout).strip()[-400:]}")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (dest / junk).glob("*"):
            if f.is_file():
                f.unlink()
    return mirror, suite
