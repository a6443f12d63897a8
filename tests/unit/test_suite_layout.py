"""tools/test.sh runs the no-daemon tests (step 3) beside the live tests (step 2) only where no
live test can run a host-wide cleanup — one that would remove the embedded demos' cgroups and
containers under step 3's feet. That holds while every such test needs LXD, Incus or libvirt
installed (test.sh's HOSTWIDE_CLEANUP_TOOLS); this test keeps it so."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: `virtlab cleanup` as a command (`cli.main(["cleanup"])`, `[virtlab, "cleanup", ...]`) or a
#: module's whole cleanup (`lxd.cleanup()`, no prefix or match)
HOSTWIDE = re.compile(r'"cleanup"\s*[\],]|\b\w+\.cleanup\(\)')
#: the live test modules allowed a host-wide cleanup, and why step 3 is safe from each
ALLOWED = {
    "test_lxd_live.py": "needs LXD (need('lxd')); the full `virtlab cleanup` test is CI-only too",
    "test_lxd_cluster_live.py": "runs its own LXD/Incus daemons: needs lxd or incus installed",
    "test_classroom_live.py": "needs the classroom hub (provisioned with LXD and libvirt)",
    "test_bench_live.py": "needs LXD and libvirt (need('lxd'), need('libvirt'))",
    "test_security_live.py": "security.cleanup() sweeps vl-sec-* in the temp dir only, and "
                             "step 3 has its own TMPDIR",
}


def _hostwide_modules() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in sorted((ROOT / "tests/live").glob("test_*.py")):
        for n, line in enumerate(p.read_text().splitlines(), 1):
            if HOSTWIDE.search(line.split("#", 1)[0]):
                found.setdefault(p.name, []).append(f"{n}: {line.strip()}")
    return found


def test_the_pattern_finds_the_known_host_wide_cleanups():
    found = _hostwide_modules()
    assert "test_lxd_live.py" in found and "test_classroom_live.py" in found, found
    assert HOSTWIDE.search('cli.main(["cleanup"])') and HOSTWIDE.search("virt.cleanup()")
    assert not HOSTWIDE.search('cgroups.cleanup("vl-t3-orphan")')


def test_host_wide_cleanups_only_where_lab_daemons_are_needed():
    extra = {m: lines for m, lines in _hostwide_modules().items() if m not in ALLOWED}
    assert extra == {}, (
        "a live test runs a host-wide cleanup in a module not known to need LXD, Incus or "
        "libvirt: tools/test.sh may run it beside the no-daemon tests on a bare machine. Scope it "
        "(a prefix / match), or gate it and add the module to ALLOWED with the reason: "
        f"{extra}")


def test_test_sh_gates_on_the_tools_those_modules_need():
    text = (ROOT / "tools/test.sh").read_text()
    m = re.search(r'^HOSTWIDE_CLEANUP_TOOLS="([^"]+)"', text, re.M)
    assert m and set(m.group(1).split()) >= {"lxd", "incus", "libvirtd"}
    assert 'if [ "$LIVE_NOTEBOOKS" = 0 ] && ! installed $HOSTWIDE_CLEANUP_TOOLS' in text
