"""Episode 08's start-up experiment demo (``bootexp.startup``)."""
from __future__ import annotations

import os
from typing import Any

from virtlab import modes
from virtlab.bootexp.experiment import available_guests, run


def _requires(backend: modes.Backend) -> str | None:
    if os.geteuid() != 0:  # the disk and the containers' Debian image are the host's
        return "root (it boots the host's Debian/systemd disk image and the default project's images)"
    why = [f"{g}: {w}" for g, w in available_guests().items() if w]
    return "; ".join(why) or None


#: the systemd guest needs a disk image provisioning builds only on request (VIRTLAB_BOOT_DISK=1):
#: an optional extra, like lxd.fullos's Debian image; without it the cell replays the recording
#: CI makes in its bootexp stage, labelled with what is missing
@modes.demo("bootexp.startup", section="libvirt", requires=_requires, optional=True)
def demo_startup(backend: modes.Backend) -> dict[str, Any]:
    """Three guests on one QEMU, three boots each; phases and memory (episode 08)."""
    return run(3, require=backend.forced)
