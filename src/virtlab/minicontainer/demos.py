"""The container episode's demo (``@modes.demo``): returns JSON-able data, prints nothing."""
from __future__ import annotations

from typing import Any

from virtlab import modes, probe
from virtlab.minicontainer.container import Container

# --------------------------------------------------------------------------- demos, bench
INSIDE_SCRIPT = ("echo hostname: $(hostname); echo uid: $(id -u); echo interfaces: $(ls /sys/class/net); "
                 "echo root: $(ls /); echo processes:; ps -o pid,user,comm")


@modes.demo("container.build", section="container", embedded=True)
def demo_build(backend: modes.Backend) -> dict[str, Any]:
    """Start a mini container, run a few commands inside, look at it from the host."""
    live = backend.mode == "live"
    limits = live and probe.cgroups().writable
    with Container("demo-box", hostname="minibox", unprivileged=not backend.privileged,
                   limits=limits) as c:
        code, out, err = c.sh(INSIDE_SCRIPT)
        info = c.inspect()
        start = c.started_at
    return {"live": live, "exit": code, "inside": out.splitlines(), "stderr": err, "host": info,
            "start_s": start}
