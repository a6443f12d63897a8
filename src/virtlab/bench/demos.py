"""The benchmark episode's demo (``bench.quick``)."""
from __future__ import annotations

import os
from typing import Any

from virtlab import modes
from virtlab.bench.reuse import reused_run
from virtlab.bench.runner import run


# --------------------------------------------------------------------------- demo (notebook 08)
@modes.demo("bench.quick", section="bench")
def demo_quick(backend: modes.Backend) -> dict[str, Any]:
    """The quick profile on every target this machine can run (live), as JSON-able data.

    Where live was demanded (``VIRTLAB_MODE=live``, or ``virtlab record``) every target must
    run: a missing one is an error, never a silently shorter table."""
    reused = reused_run(os.environ.get("VIRTLAB_BENCH_REUSE")) if backend.mode == "live" else None
    if reused is not None:
        return reused.to_dict()
    res = run(profile="quick", progress=False, require=backend.forced,
              command="virtlab record bench.quick")
    return res.to_dict()
