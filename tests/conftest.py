"""Shared fixtures: capability gates that skip on a laptop and *fail* in CI.

``need("lxd")`` skips the test when this machine cannot serve the section live — unless
``VIRTLAB_REQUIRE_LIVE=1`` (set by .ci/run), which turns "capability missing" into a failure so
CI can never silently skip the live tests.
"""

from __future__ import annotations

import os

import pytest

from virtlab import modes

REQUIRE_LIVE = os.environ.get("VIRTLAB_REQUIRE_LIVE") == "1"


def need_live(section: str) -> modes.Backend:
    """Skip (or, in CI, fail) unless ``section`` can run live here; return its backend."""
    try:
        return modes.resolve(section, "live")
    except modes.CapabilityMissing as err:
        if REQUIRE_LIVE:
            pytest.fail(f"VIRTLAB_REQUIRE_LIVE=1 but {err}")
        pytest.skip(str(err))


@pytest.fixture
def need():
    return need_live
