"""tools/test.sh runs the no-daemon tests (step 3) beside the live tests (step 2) only where no
live test can run a host-wide cleanup — one that would remove the embedded demos' cgroups and
containers under step 3's feet. That holds while every such test needs LXD, Incus or libvirt
installed (test.sh's HOSTWIDE_CLEANUP_TOOLS); this test keeps it so."""
from __future__ import annotations

import ast
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


# ------------------------------------------------------------------ the serial live tests
# With every section live (the provisioned lab VM, CI), tools/test.sh runs the live tests marked
# `serial` first, alone, and then the rest beside the live notebooks (step 4) and the no-daemon
# tests (step 3). A live test must be marked serial when it could meet the notebooks' resources:
# the lessons' exercise checks and demos use fixed names (vl-ex-mem, vl-uidcheck, vl-sec-*), a
# root `virtlab cleanup` or a module-wide sweep (`bench.cleanup()`) removes the caller's every
# such resource, a test comparing every instance of the default project sees the notebooks'
# come and go, and killing a daemon breaks every cell talking to it.
#: module-wide cleanups without a prefix, by module name (bench.cleanup sweeps vl-bench-*)
SWEEPS = {"bench", "security", "lxd", "virt", "cgroups", "namespaces", "minicontainer"}


def _serial_reasons(fn: ast.FunctionDef) -> list[str]:
    why = []
    for node in ast.walk(fn):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("virtlab.checks"):
            why.append("imports the lessons' exercise checks")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr == "demos":
                why.append("runs the lessons' demos")
            elif f.attr == "list_instances":
                why.append("compares every instance of the project (the notebooks make theirs there)")
            elif f.attr == "cleanup" and isinstance(f.value, ast.Name) and f.value.id in SWEEPS \
                    and not node.args and not node.keywords:
                why.append(f"{f.value.id}.cleanup() sweeps every resource of its kind")
        elif isinstance(node, ast.List):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if "cleanup" in words:
                why.append("runs `virtlab cleanup`")
            if "kill" in words:
                why.append("kills a daemon")
    return why


def _marked_serial(decorators: list[ast.expr]) -> bool:
    return any("mark.serial" in ast.unparse(d) for d in decorators)


def _live_tests_needing_serial() -> dict[str, list[str]]:
    out = {}
    for p in sorted((ROOT / "tests/live").glob("test_*.py")):
        tree = ast.parse(p.read_text())
        module_serial = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
                            and "mark.serial" in ast.unparse(n.value) for n in tree.body)
        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                why = _serial_reasons(fn)
                if why and not (module_serial or _marked_serial(fn.decorator_list)):
                    out[f"{p.name}::{fn.name}"] = sorted(set(why))
    return out


def test_the_serial_rule_sees_what_it_must():
    def reasons(src: str) -> list[str]:
        return _serial_reasons(ast.parse(src).body[0])

    assert reasons("def t():\n    from virtlab.checks import ep02\n")
    assert reasons("def t():\n    cli.main(['cleanup'])\n")
    assert reasons("def t():\n    subprocess.run([virtlab, 'cleanup'])\n")
    assert reasons("def t():\n    assert bench.cleanup() == []\n")
    assert reasons("def t():\n    subprocess.run([str(script), 'kill'])\n")
    assert reasons("def t():\n    d = modes.demos()\n")
    assert reasons("def t():\n    before = {i['name'] for i in lxd.list_instances(client=c)}\n")
    # scoped ones, and a learner's own cleanup (a string run as the learner), are not
    assert not reasons("def t():\n    cgroups.cleanup('vl-t3-orphan')\n    lxd.cleanup(match=name('cl'))\n")
    assert not reasons("def t():\n    b.run('from virtlab import lxd; print(lxd.cleanup())')\n")


def test_live_tests_that_meet_the_notebooks_resources_are_serial():
    missing = _live_tests_needing_serial()
    assert missing == {}, (
        "these live tests may meet the live notebooks' resources (tools/test.sh runs the tests "
        f"not marked serial beside them): mark them @pytest.mark.serial — {missing}")


def test_test_sh_runs_the_serial_ones_alone_first():
    """Where every section is live, the serial live tests end before any stream starts beside
    them, and the other live tests then run beside the live notebooks."""
    text = (ROOT / "tools/test.sh").read_text()
    branch = text[text.index('if [ "$LIVE_NOTEBOOKS" = 1 ]; then\n  # Every section'):]
    code = [ln.split("#", 1)[0] for ln in branch.splitlines()]
    serial = next(i for i, ln in enumerate(code) if "tests/live -m serial" in ln)
    first_bg = next(i for i, ln in enumerate(code) if ln.rstrip().endswith("&"))
    assert serial < first_bg, "a background stream starts before the serial live tests end"
    assert "&" not in code[serial].replace("&&", "")
    assert any('tests/live -m "not serial"' in ln for ln in code[serial:first_bg + 1])
