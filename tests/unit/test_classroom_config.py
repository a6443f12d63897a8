"""A classroom learner's LXD project: restricted, its own images and profiles, limits that bite,
snapshots allowed (episode 04's lesson), nothing that would give a learner root on the host."""
from __future__ import annotations

import pytest

from virtlab import classroom


def test_project_is_restricted_with_limits_and_snapshots() -> None:
    cfg = classroom.LearnerLimits().project_config()
    assert cfg["restricted"] == "true"
    assert cfg["restricted.snapshots"] == "allow"
    # nothing in the project loosens the restrictions that keep a learner off host root
    loosened = {k: v for k, v in cfg.items() if k.startswith("restricted.") and k != "restricted.snapshots"}
    assert loosened == {}
    assert cfg["features.images"] == "true"  # never the default project's images
    assert cfg["limits.virtual-machines"] == "0"  # VMs go through the learner's qemu:///session
    for key in ("limits.instances", "limits.memory", "limits.cpu", "limits.processes", "limits.disk"):
        assert cfg[key]


@pytest.mark.parametrize("field,value", [("instances", 0), ("memory", "1MiB"), ("processes", 10)])
def test_limits_out_of_range_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        classroom.LearnerLimits(**{field: value}).project_config()
