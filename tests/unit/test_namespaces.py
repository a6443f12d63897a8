"""Unit tests of virtlab.namespaces: inspection of real processes, validation, pure views."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from virtlab import _sys
from virtlab import namespaces as ns


def test_list_namespaces_self_has_all_types():
    mine = ns.list_namespaces()
    assert set(mine) == set(ns.TYPES)
    assert mine["net"] == os.stat("/proc/self/ns/net").st_ino


def test_compare_with_a_child_shares_everything():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert all(ns.compare(p.pid).values())
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("pid", [0, -3, "abc", True, 1.5])
def test_bad_pid_is_value_error(pid):
    with pytest.raises(ValueError):
        ns.list_namespaces(pid)


def test_missing_pid_is_lookup_error():
    p = subprocess.Popen(["true"])
    p.wait()
    with pytest.raises(LookupError, match="no process"):
        ns.list_namespaces(p.pid)


@pytest.mark.parametrize("types", [["uts", "bogus"], ["network"], "pidns"])
def test_unknown_types(types):
    with pytest.raises(ValueError, match="unknown namespace type"):
        ns.validate_types(types)


def test_validate_types_canonical_order():
    assert ns.validate_types(["net", "mnt", "uts"]) == ("mnt", "uts", "net")


def test_spec_validation():
    with pytest.raises(ValueError, match="uts"):
        ns.Spec(types=("pid",), hostname="box")
    with pytest.raises(ValueError, match="hostname"):
        ns.Spec(types=("uts",), hostname="bad name!")
    with pytest.raises(ValueError, match="time"):
        ns.Spec(types=("uts",), boottime_offset=10)
    assert "user" in ns.Spec(types=("uts",), unprivileged=True).types


def test_run_command_rejects_bad_argv_and_timeout():
    with pytest.raises(ValueError):
        ns.run_command([], ["uts"])
    with pytest.raises(ValueError):
        ns.run_command("hostname", ["uts"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ns.run_command(["true"], ["uts"], timeout=-1)


def test_write_id_maps_rejects_garbage():
    with pytest.raises(ValueError, match="inside outside count"):
        ns.write_id_maps("self", "0 x 1", "0 0 1")


def test_compare_views_is_pure():
    host = {"hostname": "h", "pid": 10, "uid": 0, "uid_map": "0 0 4294967295",
            "interfaces": ["eth0", "lo"], "visible_processes": 90, "mounts": 20,
            "uptime_days": 1.0, "ns": {t: 1 for t in ns.TYPES}}
    child = dict(host, hostname="c", pid=1, interfaces=["lo"], ns=dict(host["ns"], uts=2))
    rows = {r[0]: r for r in ns.compare_views(host, child)}
    assert rows["hostname"][1:] == ("h", "c", False)
    assert rows["network interfaces"][2] == "lo"
    assert rows["uts namespace"][3] is False and rows["net namespace"][3] is True


def test_vethpair_validation():
    with pytest.raises(ValueError, match="too long"):
        ns.VethPair("muchtoolongname")
    with pytest.raises(ValueError, match="subnet"):
        ns.VethPair("ok", subnet="192.168.1")


def test_cleanup_prefix_must_be_course():
    with pytest.raises(ValueError):
        ns.cleanup("eth")


def test_format_namespaces():
    assert ns.format_namespaces({"uts": 5, "net": 7}) == "uts:[5] net:[7]"


def test_unprivileged_for_mode_follows_the_mode(monkeypatch):
    monkeypatch.setenv("VIRTLAB_MODE", "embedded")
    from virtlab import modes

    if modes.resolve("namespaces").mode == "embedded":
        assert ns.unprivileged_for_mode() is True
    monkeypatch.setenv("VIRTLAB_MODE", "recorded")
    with pytest.raises(modes.CapabilityMissing):
        ns.unprivileged_for_mode()


# --------------------------------------------------------------------------- episode 01, exercise 3
def test_outside_uid_check_reads_this_kernels_map(capsys):
    """The answer is whatever this kernel maps root to (65534 as root, the own uid otherwise)."""
    from virtlab.checks import ep01

    try:
        want, how = ep01.outside_uid_here()
    except Exception as err:  # noqa: BLE001
        pytest.skip(f"no unprivileged user namespaces here: {err}")
    assert want == ("65534" if os.geteuid() == 0 else str(os.geteuid())) and "map" in how
    assert ep01.check_outside_uid(f" {want} ")
    assert not ep01.check_outside_uid("0") and not ep01.check_outside_uid(None)
    out = capsys.readouterr().out
    assert f"uid {want} outside" in out and "not answered yet" in out


def test_outside_uid_check_falls_back_to_the_shown_map(monkeypatch, capsys):
    from types import SimpleNamespace

    from virtlab.checks import ep01

    def no_userns():
        raise PermissionError("unshare(CLONE_NEWUSER): Operation not permitted")

    monkeypatch.setattr(ep01, "outside_uid_here", no_userns)
    r = SimpleNamespace(data={"view": {"uid_map": "0 1000 1"}})
    assert ep01.check_outside_uid("1000", r) and not ep01.check_outside_uid("65534", r)
    assert not ep01.check_outside_uid("1000")  # nothing to compare with: says so
    out = capsys.readouterr().out
    assert "Operation not permitted" in out and "cannot check here" in out


# --------------------------------------------------------------------------- starting children (issue #17)
def _start_types() -> tuple[str, ...]:
    """The benchmark's namespace set; skip where this user cannot make it (a laptop without
    unprivileged user namespaces; CI's provisioned stages fail on that skip)."""
    types = ("uts", "ipc", "pid", "net", "mnt") + (() if os.geteuid() == 0 else ("user",))
    try:
        ns.run_command(["/bin/true"], types, timeout=10)
    except ns.NamespaceError as err:
        pytest.skip(f"cannot make namespaces {types} as uid {os.geteuid()} here: {err}")
    return types


def _check_start_path(path: str, types: tuple[str, ...]) -> None:
    """Run in this process, or as a script in a fresh one (see the clone case below)."""
    from virtlab import namespaces as ns

    spec = ns.Spec(types=types, hostname="vl-start")
    assert ns.start_path(spec) == path, (ns.start_path(spec), path)
    r = ns.run_command(["sh", "-c", "echo pid=$$; hostname; cat; echo oops >&2; exit 3"], spec=spec,
                       input="in\n")
    assert tuple(r) == (3, "pid=1\nvl-start\nin\n", "oops\n"), r
    try:
        ns.run_command(["/no/such/program"], types)
        raise AssertionError("a missing program must raise")
    except ns.NamespaceError as err:
        assert "No such file" in str(err), err
    # a background child keeps the output open: the deadline still ends everything, quickly
    try:
        ns.run_command(["sh", "-c", "sleep 30 & sleep 30"], types, timeout=0.5)
        raise AssertionError("the deadline must raise")
    except ns.DeadlineExceeded:
        pass
    no_pid = [t for t in types if t != "pid"]  # pid 1 of a PID namespace ignores its own SIGKILL
    assert ns.run_command(["sh", "-c", "kill -9 $$"], no_pid).returncode == -9


@pytest.mark.parametrize("path", ["spawner", "clone", "fork"])
def test_every_start_path_runs_commands_alike(monkeypatch, patch_pkg, path):
    """The helper's clone(2) (the usual way), a clone(2) from this process, and fork + unshare +
    fork (a threaded caller without the helper): the same answers, errors and deadline."""
    import inspect
    import textwrap

    types = _start_types()
    if path == "clone":
        # only a single-threaded process may clone this way (a pytest-xdist worker has threads):
        # a fresh interpreter without the helper
        src = textwrap.dedent(inspect.getsource(_check_start_path))
        code = (f"{src}\nfrom virtlab.namespaces import direct, launcher\n"
                "direct._spawner_client = launcher._spawner_client = lambda: None\n"
                f"_check_start_path('clone', {types!r})\nprint('ok')")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
        return
    if path == "fork":
        patch_pkg(ns, "_spawner_client", lambda: None)
        monkeypatch.setattr(_sys, "single_threaded", lambda: False)
    _check_start_path(path, types)


def test_specs_that_need_setup_first_take_the_fork_path():
    assert ns.start_path(ns.Spec(types=("uts",), boottime_offset=None)) in ("spawner", "clone")
    assert ns.start_path(ns.Spec(types=("uts", "time"), boottime_offset=5)) == "fork"
    assert ns.start_path(ns.Spec(types=("uts",), join_pid=1)) == "fork"
    assert ns.start_path(ns.Spec(types=("uts",), setup=lambda: None)) == "fork"


def test_clone_path_is_not_taken_from_a_threaded_process(monkeypatch, patch_pkg):
    import threading

    patch_pkg(ns, "_spawner_client", lambda: None)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert not _sys.single_threaded()
        assert ns.start_path(ns.Spec(types=("uts",))) == "fork"
    finally:
        stop.set()
        t.join()


def test_the_helper_ends_with_its_caller():
    """The helper is one small process per caller; when the caller goes, so does the helper."""
    import time

    types = _start_types()  # a learner needs a user namespace beside uts
    code = ("from virtlab import namespaces as ns; from virtlab.namespaces import direct; "
            f"ns.run_command(['true'], {list(types)!r}); print(direct._spawner.proc.pid, flush=True)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    pid = int(out.split()[-1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(") ")[1].startswith("Z"):
                return
        time.sleep(0.05)
    raise AssertionError(f"the helper {pid} outlived its caller")


def test_namespace_start_within_goal_of_unshare1():
    """Issue #17: starting a command in fresh namespaces costs at most 1.5x unshare(1) for the
    same set — a ratio measured side by side (median of interleaved pairs), never a time.

    The machine is shared: a round whose median misses the goal is repeated, at most twice; the
    fork path (what the helper replaced) measured 2.0-2.7x here, so it fails every round."""
    types = _start_types()
    rounds = []
    for _ in range(3):
        b = ns.bench_start(types, n=31)
        rounds.append(ns.format_bench_start(b))
        assert b["path"] == "spawner" and b["ratio_q1"] <= b["ratio"] <= b["ratio_q3"]
        if b["ratio"] <= ns.START_RATIO_GOAL:
            break
    print(*rounds, sep="\n")
    assert b["ratio"] <= ns.START_RATIO_GOAL, "\n".join(rounds)
