"""The course's minimal guest kernel: built offline from the distribution's kernel source.

Debian's generic kernel boots the course VM in 2–3 s under TCG and touches ~75 MiB of guest RAM
before ``/init`` runs: it probes hundreds of drivers the course VM does not have. The course
kernel is the same source (``linux-source``, the tarball Debian ships in ``/usr/src``) with a
small configuration: ``make tinyconfig`` plus :data:`FRAGMENT` (``data/guestkernel.config`` —
serial console, initramfs, PVH direct boot, ACPI + pvpanic, virtio-blk + ext4 and what systemd
needs for the full-system guest of episode 08) and one source edit (:data:`SOURCE_EDITS`: no
0xcc poison over the freed ``__init`` memory, the slowest part of its boot under TCG).

* :func:`required_options` — the fragment as ``{"CONFIG_X": "y"}``; :func:`missing_options`
  checks a ``.config`` against it (the build refuses a config that lost an option).
* :func:`build` — extract, configure, ``make -jN vmlinux``, keep ``vmlinux`` + ``.config`` +
  ``build.json`` in ``/var/cache/virtlab/kernel/<key>/`` (:func:`cache_dirs`); ``key`` hashes
  the fragment and the source tarball, so a second provisioning run finds it at once.
* :func:`cached` — the cached build for the current fragment and source, or None.

Stdlib only: provisioning runs it with the system ``python3`` before the course venv exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtlab.safety import VirtlabError

FRAGMENT = Path(__file__).parent / "data" / "guestkernel.config"
SYSTEM_CACHE_DIR = Path("/var/cache/virtlab/kernel")
SOURCE_GLOB = "linux-source-*.tar.*"  # Debian: .tar.xz, Ubuntu: .tar.bz2
SOURCE_DIRS = (Path("/usr/src"),)
#: bump when the way the kernel is built changes (part of the cache key)
RECIPE = 2
#: edits to the source before it is configured: (file, exact text, replacement, why). The build
#: refuses a source where a text is not found exactly once (a new kernel version moved it).
SOURCE_EDITS: tuple[tuple[str, str, str, str], ...] = (
    ("arch/x86/mm/init.c",
     "free_reserved_area((void *)begin, (void *)end,\n\t\t\t\t   POISON_FREE_INITMEM, what);",
     "free_reserved_area((void *)begin, (void *)end,\n\t\t\t\t   -1, what); /* virtlab: no poison */",
     "freeing the kernel's __init memory writes 0xcc over it; under TCG every store into a page "
     "that still holds translated code takes QEMU's self-modifying-code slow path: 0.2-0.35 s of "
     "a ~1.3 s boot (sampled), ratio 0.77 of kernel time without it (5 interleaved pairs)"),
)
#: tools the build needs (Debian packages in provision.d/30-libvirt.sh)
BUILD_TOOLS = ("make", "gcc", "bison", "flex", "bc", "tar")
#: the smallest guest RAM the minimal kernel + busybox initramfs boots with (measured: 48 MiB
#: boots; the course uses 64 MiB so a command has room)
MIN_MEMORY_MIB = 48

_OPT_RE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")


class KernelBuildError(VirtlabError, RuntimeError):
    """The minimal kernel could not be built; the message says why and what to do."""


def required_options(text: str | None = None) -> dict[str, str]:
    """The options the course needs (``CONFIG_X`` -> value) from the fragment (or ``text``)."""
    text = FRAGMENT.read_text() if text is None else text
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _OPT_RE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def config_options(config_text: str) -> dict[str, str]:
    """``.config`` text -> {option: value}; ``# CONFIG_X is not set`` counts as ``n``."""
    out: dict[str, str] = {}
    for line in config_text.splitlines():
        m = _OPT_RE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
        else:
            n = re.match(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$", line.strip())
            if n:
                out[n.group(1)] = "n"
    return out


def missing_options(config_text: str, required: dict[str, str] | None = None) -> list[str]:
    """Required options a ``.config`` lacks or sets differently (``CONFIG_X=want (got ...)``);
    an ``=n`` requirement is met by an absent option too."""
    have = config_options(config_text)
    req = required_options() if required is None else required
    return [f"{k}={v} (got {have.get(k, 'absent')})" for k, v in req.items()
            if have.get(k, "n" if v == "n" else None) != v]


def source_tarball() -> Path | None:
    """The newest ``/usr/src/linux-source-*.tar.*`` (the ``linux-source`` package)."""
    found: list[Path] = []
    for d in SOURCE_DIRS:
        found.extend(d.glob(SOURCE_GLOB))
    return max(found, key=lambda p: _version_key(p.name)) if found else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", name))


def cache_key(tarball: Path, fragment_text: str | None = None) -> str:
    """sha256 of the recipe, the fragment and the source tarball's name and size (12 hex)."""
    frag = FRAGMENT.read_text() if fragment_text is None else fragment_text
    st = tarball.stat()
    h = hashlib.sha256(f"recipe {RECIPE}\n{tarball.name} {st.st_size}\n{frag}".encode())
    return h.hexdigest()[:12]


@dataclass(frozen=True)
class Built:
    """A cached minimal kernel: the ELF ``vmlinux`` (PVH entry), its ``.config`` and facts."""

    vmlinux: Path
    config: Path
    info: dict[str, Any]

    @property
    def release(self) -> str:
        return str(self.info.get("release", ""))


def cache_dirs() -> list[Path]:
    """Where builds are kept: ``VIRTLAB_KERNEL_CACHE``, else /var/cache/virtlab/kernel (root, or
    where provisioning made it) and the user's ``~/.cache/virtlab/kernel``."""
    if os.environ.get("VIRTLAB_KERNEL_CACHE"):
        return [Path(os.environ["VIRTLAB_KERNEL_CACHE"])]
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "virtlab" / "kernel"
    return [SYSTEM_CACHE_DIR, user]


def _writable_cache() -> Path:
    for d in cache_dirs():
        with contextlib.suppress(OSError):
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK | os.X_OK):
                return d
    raise KernelBuildError(f"no writable cache folder among {[str(d) for d in cache_dirs()]}")


def cached(tarball: Path | None = None) -> Built | None:
    """The cached build for the current fragment + source, or None."""
    tarball = tarball or source_tarball()
    if tarball is None:
        return None
    key = cache_key(tarball)
    for c in cache_dirs():
        d = c / key
        try:
            info = json.loads((d / "build.json").read_text())
        except (OSError, ValueError):
            continue
        if (d / "vmlinux").is_file() and (d / "config").is_file():
            return Built(d / "vmlinux", d / "config", info)
    return None


def apply_source_edits(src: Path, edits: tuple[tuple[str, str, str, str], ...] = SOURCE_EDITS) -> list[str]:
    """Apply :data:`SOURCE_EDITS` to the extracted source tree ``src``; returns the files edited.
    :class:`KernelBuildError` if a text is not there exactly once (nothing is half-edited: every
    text is checked before any file is written)."""
    new: dict[Path, str] = {}
    for rel, old, repl, _why in edits:
        f = src / rel
        text = new.get(f) if f in new else (f.read_text() if f.exists() else "")
        if text.count(old) != 1:
            raise KernelBuildError(f"the course kernel's source edit does not apply to {rel} "
                                   f"({text.count(old)} matches): update SOURCE_EDITS in "
                                   "virtlab/guestkernel.py for this kernel version")
        new[f] = text.replace(old, repl)
    for f, text in new.items():
        f.write_text(text)
    return [str(f.relative_to(src)) for f in new]


def _run(argv: list[str], cwd: Path, timeout: float, log: Path) -> None:
    with open(log, "ab") as f:
        f.write(("$ " + " ".join(argv) + "\n").encode())
        f.flush()
        try:
            res = subprocess.run(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                 check=False)
        except subprocess.TimeoutExpired as err:
            raise KernelBuildError(f"{' '.join(argv[:3])} took more than {timeout:.0f} s (log: {log})") from err
    if res.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise KernelBuildError(f"{' '.join(argv[:3])} failed ({res.returncode}); log {log}:\n  "
                               + "\n  ".join(tail))


def build(*, force: bool = False, jobs: int | None = None, timeout: float = 3600,
          tarball: Path | None = None) -> Built:
    """Build (or find cached) the minimal kernel; :class:`KernelBuildError` says why not.

    Steps (each timed into ``build.json``): extract the source tarball, apply
    :data:`SOURCE_EDITS`, ``make tinyconfig``,
    append the fragment, ``make olddefconfig``, check every required option survived, ``make
    -jN vmlinux``. The source tree is deleted afterwards; only ~10 MiB stay in the cache.
    """
    tarball = tarball or source_tarball()
    if tarball is None:
        raise KernelBuildError("no kernel source in /usr/src: install it with "
                               "`apt-get install linux-source` (Debian) and run again")
    if not force and (hit := cached(tarball)) is not None:
        return hit
    missing_tools = [t for t in BUILD_TOOLS if shutil.which(t) is None]
    if missing_tools:
        raise KernelBuildError(f"missing build tools {missing_tools}: apt-get install "
                               "build-essential bc bison flex libelf-dev xz-utils")
    key = cache_key(tarball)
    cache = _writable_cache()
    dest = cache / key
    jobs = jobs or os.cpu_count() or 1
    times: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="vl-kbuild-", dir=cache))
    log = cache / f"build-{key}.log"
    log.write_text("")
    t_all = time.monotonic()
    try:
        t = time.monotonic()
        _run(["tar", "-xaf", str(tarball), "-C", str(work)], work, 900, log)
        times["extract_s"] = time.monotonic() - t
        src = next(p for p in work.iterdir() if p.is_dir())
        edited = apply_source_edits(src)
        env_make = ["make", "ARCH=x86_64", "-s"]
        t = time.monotonic()
        _run([*env_make, "tinyconfig"], src, 300, log)
        with open(src / ".config", "a") as f:
            f.write("\n" + FRAGMENT.read_text())
        _run([*env_make, "olddefconfig"], src, 300, log)
        times["configure_s"] = time.monotonic() - t
        config = (src / ".config").read_text()
        lost = missing_options(config)
        if lost:
            raise KernelBuildError("the kernel configuration lost required options (renamed or "
                                   f"unmet dependencies in this source?): {', '.join(lost)}")
        t = time.monotonic()
        _run([*env_make, f"-j{jobs}", "vmlinux"], src, timeout, log)
        times["compile_s"] = time.monotonic() - t
        release = subprocess.run(["make", "-s", "ARCH=x86_64", "kernelrelease"], cwd=src,
                                 capture_output=True, text=True, timeout=60, check=False).stdout.strip()
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=cache))
        shutil.copy2(src / "vmlinux", tmp / "vmlinux")
        (tmp / "config").write_text(config)
        info = {"release": release, "source": tarball.name, "key": key, "jobs": jobs,
                "cpus": os.cpu_count(), "seconds": {k: round(v, 1) for k, v in times.items()},
                "source_edits": edited,
                "total_s": round(time.monotonic() - t_all, 1),
                "vmlinux_bytes": (tmp / "vmlinux").stat().st_size,
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / "build.json").write_text(json.dumps(info, indent=1) + "\n")
        for p in (tmp, *tmp.iterdir()):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.replace(dest)
        return Built(dest / "vmlinux", dest / "config", info)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            for stale in cache.glob("*.tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python3 -m virtlab.guestkernel [--force] [--jobs N]``: build or show the cached kernel."""
    import argparse

    ap = argparse.ArgumentParser(prog="virtlab.guestkernel", description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--jobs", type=int, default=None)
    a = ap.parse_args(argv)
    try:
        b = build(force=a.force, jobs=a.jobs)
    except KernelBuildError as err:
        print(f"minimal kernel: not built — {err}")
        return 1
    print(f"minimal kernel {b.release}: {b.vmlinux} (built {b.info.get('built')}, "
          f"{b.info.get('total_s')} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
