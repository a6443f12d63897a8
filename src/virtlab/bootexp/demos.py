"""Episode 08's start-up experiment demo (``bootexp.startup``)."""
from __future__ import annotations

from typing import Any

from virtlab import modes
from virtlab.bootexp.experiment import available_guests, run


def _requires(backend: modes.Backend) -> str | None:
    why = [f"{g}: {w}" for g, w in available_guests().items() if w]
    return "; ".join(why) or None


@modes.demo("bootexp.startup", section="libvirt", requires=_requires)
def demo_startup(backend: modes.Backend) -> dict[str, Any]:
    """Three guests on one QEMU, three boots each; phases and memory (episode 08)."""
    return run(3, require=backend.forced)
