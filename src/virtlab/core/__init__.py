"""The course's shared mechanics, used by every concept package and never by a notebook directly.

* ``core/commands.py`` — :func:`run`: the one way the package runs a program (argv list, no
  shell, output captured, a deadline that kills the child and raises ``DeadlineExceeded``);
* ``core/du.py`` — :func:`disk_usage`: the one disk-usage walker (apparent and allocated bytes,
  files, hard links counted once) behind LXD's root filesystem sizes and the benchmark's storage.

Errors, names, sizes and deadlines still live in :mod:`virtlab.safety` (``VirtlabError``,
``course_name``, ``parse_size``, ``Deadline``).
"""
from __future__ import annotations

from virtlab.core.commands import run
from virtlab.core.du import DiskUsage, disk_usage

__all__ = ["DiskUsage", "disk_usage", "run"]
