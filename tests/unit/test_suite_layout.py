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
# `hostwide` first, with nothing else at all; then those marked `serial`, beside the no-daemon
# tests only (step 3, which makes no daemon resources and uses names of its own); then the rest
# beside the live notebooks (step 4). `hostwide`: a root `virtlab cleanup` removes every course
# resource of the caller's (step 3's too), and killing a daemon breaks every cell talking to it.
# `serial`: the lessons' exercise checks and demos use fixed names (vl-ex-mem, vl-uidcheck,
# vl-sec-*), a module-wide sweep (`bench.cleanup()`) removes every resource of its kind, and a
# test comparing every instance of the default project sees the notebooks' come and go.
#: module-wide cleanups without a prefix, by module name (bench.cleanup sweeps vl-bench-*)
SWEEPS = {"bench", "security", "lxd", "virt", "cgroups", "namespaces", "minicontainer"}


def _serial_reasons(fn: ast.FunctionDef) -> list[tuple[str, str]]:
    """(mark needed, why) for what the test's code does."""
    why = []
    for node in ast.walk(fn):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("virtlab.checks"):
            why.append(("serial", "imports the lessons' exercise checks"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr == "demos":
                why.append(("serial", "runs the lessons' demos"))
            elif f.attr == "list_instances":
                why.append(("serial", "compares every instance of the project (the notebooks make theirs there)"))
            elif f.attr == "cleanup" and isinstance(f.value, ast.Name) and f.value.id in SWEEPS \
                    and not node.args and not node.keywords:
                why.append(("serial", f"{f.value.id}.cleanup() sweeps every resource of its kind"))
        elif isinstance(node, ast.List):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if "cleanup" in words:
                why.append(("hostwide", "runs `virtlab cleanup`"))
            if "kill" in words:
                why.append(("hostwide", "kills a daemon"))
    return why


def _marks(decorators: list[ast.expr]) -> set[str]:
    return {m for d in decorators for m in ("serial", "hostwide") if f"mark.{m}" in ast.unparse(d)}


def _live_tests_missing_marks() -> dict[str, list[str]]:
    out = {}
    for p in sorted((ROOT / "tests/live").glob("test_*.py")):
        tree = ast.parse(p.read_text())
        module = set().union(*[_marks([n.value]) for n in tree.body if isinstance(n, ast.Assign)
                               and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)])
        for fn in tree.body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                has = module | _marks(fn.decorator_list)
                # hostwide is the stricter one: it satisfies a serial need too
                missing = [f"{need}: {why}" for need, why in _serial_reasons(fn)
                           if need not in has and "hostwide" not in has]
                if missing:
                    out[f"{p.name}::{fn.name}"] = sorted(set(missing))
    return out


def test_the_serial_rule_sees_what_it_must():
    def needs(src: str) -> set[str]:
        return {n for n, _ in _serial_reasons(ast.parse(src).body[0])}

    assert needs("def t():\n    from virtlab.checks import ep02\n") == {"serial"}
    assert needs("def t():\n    cli.main(['cleanup'])\n") == {"hostwide"}
    assert needs("def t():\n    subprocess.run([virtlab, 'cleanup'])\n") == {"hostwide"}
    assert needs("def t():\n    assert bench.cleanup() == []\n") == {"serial"}
    assert needs("def t():\n    subprocess.run([str(script), 'kill'])\n") == {"hostwide"}
    assert needs("def t():\n    d = modes.demos()\n") == {"serial"}
    assert needs("def t():\n    before = {i['name'] for i in lxd.list_instances(client=c)}\n") == {"serial"}
    # scoped ones, and a learner's own cleanup (a string run as the learner), are not
    assert not needs("def t():\n    cgroups.cleanup('vl-t3-orphan')\n    lxd.cleanup(match=name('cl'))\n")
    assert not needs("def t():\n    b.run('from virtlab import lxd; print(lxd.cleanup())')\n")


def test_live_tests_that_meet_others_resources_are_marked():
    missing = _live_tests_missing_marks()
    assert missing == {}, (
        "these live tests may meet the resources of what tools/test.sh runs beside them: mark "
        f"them @pytest.mark.serial or @pytest.mark.hostwide as listed — {missing}")


def test_test_sh_runs_hostwide_alone_then_serial_then_the_rest():
    """Where every section is live: the hostwide live tests end before anything starts beside
    them; the serial ones end before the other live tests and the live notebooks start."""
    text = (ROOT / "tools/test.sh").read_text()
    branch = text[text.index('if [ "$LIVE_NOTEBOOKS" = 1 ]; then\n  # Every section'):]
    code = [ln.split("#", 1)[0] for ln in branch.splitlines()]
    at = {k: next(i for i, ln in enumerate(code) if k in ln)
          for k in ("-m hostwide", '-m "serial and not hostwide"', '-m "not serial and not hostwide"',
                    "live_notebooks", "no_daemon_tests")}
    background = [i for i, ln in enumerate(code) if ln.rstrip().endswith("&")]
    assert at["-m hostwide"] < min(background), "something starts beside the hostwide live tests"
    assert at["-m hostwide"] < at["no_daemon_tests"] < at['-m "serial and not hostwide"']
    serial_end = at['-m "serial and not hostwide"']
    assert not code[serial_end].rstrip().endswith("&"), "the serial live tests must be waited for"
    assert serial_end < at['-m "not serial and not hostwide"'] and serial_end < at["live_notebooks"]


def test_the_live_streams_name_modules_that_exist_once():
    """test.sh's LIVE_STREAMS groups: every module exists (a renamed one would silently join the
    last stream) and none is in two groups (it would run twice, side by side with itself)."""
    text = (ROOT / "tools/test.sh").read_text()
    m = re.search(r'^LIVE_STREAMS="([^"]+)"', text, re.M)
    assert m
    mods = [x for g in m.group(1).split("|") for x in g.split()]
    assert len(mods) == len(set(mods)) and len(m.group(1).split("|")) >= 1
    for x in mods:
        assert (ROOT / "tests/live" / x).is_file(), x
