"""``disk_usage(path)``: the one disk-usage walker (LXD's root filesystems, the benchmark's storage).

Before, ``lxd._du`` and ``bench.tree_bytes`` walked trees differently and gave different numbers
for figures the course puts side by side: ``lxd._du`` left out the top directory and counted a
hard-linked file once per name; ``bench.tree_bytes`` counted the top and each inode once. Both now
use this walker, which gives what ``du`` gives:

* ``allocated`` — bytes of the blocks the files occupy (``st_blocks * 512``, ``du -B1``): what
  the disk really holds; sparse files and copy-on-write sharing make it differ from ``apparent``;
* ``apparent`` — the sum of the files' sizes (``st_size``, ``du -B1 --apparent-size``);
* ``files`` — the names below the top (every file, directory and symlink, not the top itself).

A hard-linked inode counts once in both byte totals (as in ``du``); symlinks are not followed (their
own few bytes count); entries that vanish or cannot be read while walking are skipped. A plain file
(or symlink) given as ``path`` is measured alone.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DiskUsage:
    apparent: int
    allocated: int
    files: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def disk_usage(path: str | os.PathLike[str]) -> DiskUsage:
    """Apparent bytes, allocated bytes and names of a file or tree (see the module docstring)."""
    root = Path(path)
    seen: set[tuple[int, int]] = set()
    apparent = allocated = files = 0

    def add(st: os.stat_result) -> None:
        nonlocal apparent, allocated
        key = (st.st_dev, st.st_ino)
        if key not in seen:
            seen.add(key)
            apparent += st.st_size
            allocated += st.st_blocks * 512

    try:
        top = root.lstat()
    except OSError:
        return DiskUsage(0, 0, 0)
    add(top)
    if not root.is_dir() or root.is_symlink():
        return DiskUsage(apparent, allocated, 1)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            files += 1
            add(st)
    return DiskUsage(apparent, allocated, files)
