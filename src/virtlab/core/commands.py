"""``run(argv, deadline)``: the one way the package runs a program to completion.

Every caller used to wrap :func:`subprocess.run` itself (``timeout=``, catch ``TimeoutExpired``,
raise ``DeadlineExceeded``); they now call this. It never uses a shell, always captures the output
and always has a deadline; what a non-zero exit *means* stays with the caller (each concept words
its own error), unless ``check=True`` asks for the generic one.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from virtlab.safety import Deadline, DeadlineExceeded, VirtlabError


class CommandFailed(VirtlabError, RuntimeError):
    """A program exited non-zero where the caller asked ``check=True``."""


def run(argv: Sequence[str | os.PathLike[str]], deadline: Deadline | float, *,
        input: str | bytes | None = None, cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None, text: bool = True, check: bool = False,
        ) -> subprocess.CompletedProcess:
    """Run ``argv`` until it exits or ``deadline`` (a :class:`Deadline`, or seconds) runs out.

    On time-out the child is killed and :class:`DeadlineExceeded` names the deadline's ``what``
    (default: the program) with its full length and hint. ``check=True`` turns a non-zero exit
    into :class:`CommandFailed` with the end of stderr.
    """
    argv = [os.fspath(a) for a in argv]
    if not argv:
        raise ValueError("run() needs a program to run")
    dl = deadline if isinstance(deadline, Deadline) else Deadline(float(deadline), f"`{argv[0]}`")
    try:
        res = subprocess.run(argv, input=input, cwd=cwd, env=None if env is None else dict(env),
                             capture_output=True, text=text, timeout=max(dl.remaining(), 0.001),
                             check=False)
    except subprocess.TimeoutExpired:
        raise DeadlineExceeded(dl.what, dl.seconds, dl.hint) from None
    if check and res.returncode != 0:
        err = res.stderr if isinstance(res.stderr, str) else res.stderr.decode(errors="replace")
        raise CommandFailed(f"`{' '.join(argv[:6])}` failed ({res.returncode}): {err.strip()[-300:]}")
    return res
