"""Episode 08's self-checks on a run that lacks targets (a machine without LXD or libvirt)."""

from __future__ import annotations

from virtlab import bench
from virtlab.checks import ep08


def _run(targets: tuple[str, ...]) -> dict:
    rows = [{"target": t, "metric": m, "rep": 0, "value": v}
            for t in targets for m, v in (("start_s", {"host": 0.01, "ns": 0.02, "lxd": 0.4, "vm": 2.8}[t]),
                                          ("cpu_s", {"host": 0.3, "ns": 0.3, "lxd": 0.3, "vm": 3.6}[t]))]
    return {"rows": rows}


def test_checks_grade_a_full_run():
    data = _run(bench.TARGETS)
    assert ep08.check_start_ratio(data, 7.0)
    assert ep08.check_cpu_overhead(data, 1100)
    assert not ep08.check_cpu_overhead(data, 7.5)


def test_checks_say_what_is_missing_instead_of_raising(capsys):
    data = _run(("host", "ns"))  # auto mode as root without daemons: lxd and vm were skipped
    assert ep08.check_start_ratio(data, 7.0) is False
    assert ep08.check_cpu_overhead(data, 1100) is False
    assert "reference" in capsys.readouterr().out
