"""Lifecycle timings: launch / exec / stop / delete, through the API or the CLI."""
from __future__ import annotations

import time

from virtlab import OWNER_KEY, OWNER_VALUE, owners
from virtlab.lxd.client import DEFAULT_IMAGE, DEFAULT_MEMORY, LxdError, _lxc, connect, unique_name
from virtlab.lxd.handle import Instance
from virtlab.lxd.instances import launch, limits
from virtlab.safety import (
    check_int,
)

PHASES = ("launch", "exec", "stop", "delete")


def lifecycle_timings(rounds: int = 3, *, via: str = "api", image: str = DEFAULT_IMAGE,
                      memory: int | str = DEFAULT_MEMORY) -> dict[str, list[float]]:
    """Time launch / exec (``true``) / forced stop / delete of a fresh course container.

    ``via="api"`` goes through this module (pylxd + REST), ``via="cli"`` through the ``lxc``
    command-line client, with the same config. Returns seconds per round for each phase.
    """
    if via not in ("api", "cli"):
        raise ValueError("via must be 'api' or 'cli'")
    check_int(rounds, minimum=1, maximum=50, what="rounds")
    lim = limits(memory)
    out: dict[str, list[float]] = {"launch": [], "exec": [], "stop": [], "delete": []}
    client = connect()
    for _ in range(rounds):
        name = unique_name("bench")
        try:
            t0 = time.perf_counter()
            if via == "api":
                inst = launch(name, image, memory=memory, client=client)
            else:
                cfg = [a for k, v in {OWNER_KEY: OWNER_VALUE, **owners.uid_config(), **lim.config(),
                                      "security.privileged": "false"}.items()
                       for a in ("-c", f"{k}={v}")]
                _lxc(["launch", image, name, *cfg], client=client)
            t1 = time.perf_counter()
            if via == "api":
                code = inst.exec(["true"]).code
            else:
                _lxc(["exec", name, "--", "true"], client=client)
                code = 0
            t2 = time.perf_counter()
            if code != 0:
                raise LxdError(f"`true` failed in {name} (exit {code})")
            if via == "api":
                inst.stop(force=True)
            else:
                _lxc(["stop", "--force", name], client=client)
            t3 = time.perf_counter()
            if via == "api":
                inst.delete()
            else:
                _lxc(["delete", name], client=client)
            t4 = time.perf_counter()
        finally:
            Instance(client, name).delete(missing_ok=True)
        for k, a, b in (("launch", t0, t1), ("exec", t1, t2), ("stop", t2, t3),
                        ("delete", t3, t4)):
            out[k].append(round(b - a, 4))
    return out
