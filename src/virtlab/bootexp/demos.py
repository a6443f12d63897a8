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
    """Three guests on one QEMU, three boots each; phases and memory (episode 08).

    ``VIRTLAB_BOOTEXP_REPEAT`` (1–5) changes the number of boots: `make test`'s live notebook run
    boots each guest once (it checks that the cell runs live; CI's bootexp stage makes the
    three-boot recording). The output says how many boots each median stands on."""
    return run(repeat_from_env(), require=backend.forced)


def repeat_from_env(default: int = 3) -> int:
    """The boots per guest ``VIRTLAB_BOOTEXP_REPEAT`` asks for (1–5), else ``default``."""
    raw = os.environ.get("VIRTLAB_BOOTEXP_REPEAT", "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 5:
        raise ValueError(f"VIRTLAB_BOOTEXP_REPEAT={raw!r}: give a whole number of boots from 1 to 5")
    return int(raw)
