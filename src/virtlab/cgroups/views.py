"""The cgroups episode's views: readable renderings of the demos' results and the layout."""
from __future__ import annotations

from virtlab import modes
from virtlab.cgroups.files import layout


def show_freeze(r: modes.Result) -> None:
    for ph in r.data["phases"]:
        print(f"{ph['phase']:<8} CPU used in {ph['window']:.1f} s: {ph['cpu_seconds']:.2f} s")
    print(f"then killed the whole group: {r.data['killed']} process(es), exit code {r.data['returncode']}")


def show_memory_oom(r: modes.Result) -> None:
    d = r.data
    print(f"cgroup API: {d['version']} (machine layout: {d['layout']}); memory limit {d['limit'] >> 20} MiB")
    print(f"child: exit {d['returncode']} ({d['signal'] or 'no signal'}); OOM-killed: "
          f"{'yes' if d['oom_killed'] else 'no'}; last words: {d['last_line']!r}")
    u = d["usage"]
    peak = u.get("memory_peak")
    print(f"peak memory charged: {peak >> 20 if peak else '?'} MiB of {d['limit'] >> 20} MiB; "
          f"OOM kills counted by the kernel: {u.get('oom_kills')}")
    print("the notebook's own process is still alive: yes")


def show_pids(r: modes.Result) -> None:
    d = r.data
    for line in d["stdout"]:
        print("child:", line)
    print(f"pids.max = {d['pids_max']}; forks refused by the kernel: {d['pids_denied']}")


def show_cpu(r: modes.Result) -> None:
    d = r.data
    print(f"{'quota (CPUs)':>12}  {'measured share':>14}  {'throttled periods':>17}")
    for row in d["rows"]:
        print(f"{row['quota']:>12.2f}  {row['share']:>14.2f}  {row['throttled_periods']:>17}")


def plot_cpu(r: modes.Result):  # noqa: ANN201 - matplotlib figure
    """Measured CPU share against the quota (with the ideal line)."""
    from virtlab import plots

    rows = r.data["rows"]
    q = [row["quota"] for row in rows]
    s = [row["share"] for row in rows]
    fig = plots.figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot([0, 1.05], [0, 1.05], "--", color="grey", label="share = quota")
    ax.plot(q, s, "o-", label="measured (one busy loop)")
    ax.set_xlabel("CPU quota (CPUs)")
    ax.set_ylabel("measured CPU share (CPUs)")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left")
    return fig


def show_pressure(r: modes.Result) -> None:
    d = r.data
    print(f"busy loop under a 0.2 CPU quota: {d['cpu_seconds']:.2f} s of CPU in {d['wall']:.2f} s")
    print(f"CPU pressure 'some' grew by {d['stalled_seconds']:.2f} s "
          f"(time in which the group had runnable work but was not allowed to run)")
    print(f"avg10 afterwards: {d['after'].get('some', {}).get('avg10', 0):.0f} % of the last 10 s")


def describe_layout() -> str:
    """One sentence about this machine's cgroup layout."""
    lay = layout()
    if lay == "v2":
        return "this machine uses cgroup v2 only: one tree, every controller in it"
    if lay == "hybrid":
        return ("this machine is hybrid: the controllers (memory, cpu, pids, ...) are in v1 trees, "
                "a v2 tree is mounted beside them without resource controllers")
    if lay == "v1":
        return "this machine uses cgroup v1 only: one tree per controller"
    return "no cgroup file system is mounted here"
