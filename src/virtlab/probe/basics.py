"""Probe basics: the kernel, root or not, answers with a timeout."""
from __future__ import annotations

import os
import platform
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _with_timeout(fn: Callable[[], Any], seconds: float, what: str) -> Any:
    """Run ``fn`` in a daemon thread; raise TimeoutError if it has not finished in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = err

    t = threading.Thread(target=run, daemon=True, name=f"virtlab-probe-{what}")
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise TimeoutError(f"{what}: no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --------------------------------------------------------------------------- kernel & host
def kernel() -> dict[str, str]:
    u = os.uname()
    osname = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"release": u.release, "machine": u.machine, "os": osname,
            "python": platform.python_version()}


def is_root() -> bool:
    return os.geteuid() == 0
