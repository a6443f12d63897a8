"""Shared fixtures: capability gates that skip on a laptop and *fail* in CI.

``need("lxd")`` skips the test when this machine cannot serve the section live, and
``need_tool("newuidmap", "uidmap")`` when a host tool is missing. With ``VIRTLAB_REQUIRE_LIVE=1``
(set by .ci/run for the provisioned stages) **every** skip — these, ``pytest.skip``,
``importorskip`` and ``skipif`` marks alike — is turned into a failure by the hook below, so CI can
never silently skip a test.
"""

from __future__ import annotations

import os
import shutil

import pytest

from virtlab import modes

REQUIRE_LIVE = os.environ.get("VIRTLAB_REQUIRE_LIVE") == "1"


def need_live(section: str, *, privileged: bool = True, host_root: str = "") -> modes.Backend:
    """Skip (or, in CI, fail) unless ``section`` can run live here; return its backend.

    ``privileged`` (the default): the test needs the section served as root. A non-root
    learner's live path (user namespaces, a delegated cgroup subtree) is tested by
    tests/live/test_learner_live.py and by CI's learner stage (tools/audience.sh learner).
    ``host_root``: what the test reads on the host that only root may (a container's
    /proc/<pid>/ns, LXD's disk images): a learner in the lxd group drives the daemon but cannot.
    """
    if host_root and os.geteuid() != 0:
        pytest.skip(f"{section}: this test reads {host_root}, which only root may")
    try:
        b = modes.resolve(section, "live")
    except modes.CapabilityMissing as err:
        pytest.skip(str(err))
    if privileged and not b.privileged and section in ("namespaces", "cgroups", "container",
                                                       "security", "bench"):
        pytest.skip(f"{section}: this test needs root (live here as a non-root user: {b.detail})")
    return b


def need_tool(tool: str, package: str) -> str:
    """Skip (or, in CI, fail) unless the host tool ``tool`` is on PATH; return its path."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"the host tool {tool} is not installed (Debian/Ubuntu package {package}; "
                    "`sudo labs/lab-vm/provision.sh` installs it)")
    return path


@pytest.fixture(scope="session")
def need():
    return need_live


@pytest.fixture(name="need_tool", scope="session")
def _need_tool():
    return need_tool


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201 - pytest hook
    """Under VIRTLAB_REQUIRE_LIVE=1 a skipped test is a failed test (one place for every skip)."""
    outcome = yield
    rep = outcome.get_result()
    if REQUIRE_LIVE and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"VIRTLAB_REQUIRE_LIVE=1 turns this skip into a failure: {reason}"


@pytest.fixture
def patch_pkg(monkeypatch):
    """``patch_pkg(virtlab.lxd, "connect", fake)``: replace a name of a split package (lxd, virt,
    security, ...) on the package *and* in every submodule that imported it, so a test patches what
    the code calls wherever the name now lives (monkeypatching the package alone would not)."""
    import sys

    def patch(pkg, name: str, value) -> None:  # noqa: ANN001
        original = getattr(pkg, name)
        monkeypatch.setattr(pkg, name, value)
        prefix = pkg.__name__ + "."
        for modname, mod in list(sys.modules.items()):
            if modname.startswith(prefix) and getattr(mod, name, None) is original:
                monkeypatch.setattr(mod, name, value)

    return patch
