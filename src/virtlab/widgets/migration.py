"""A widget over :func:`virtlab.migration.precopy`: move the sliders, watch the rounds and the
downtime change. The widget only draws; every number comes from the pure model."""

from __future__ import annotations

from typing import Any

from virtlab import migration


def figure(m: migration.Migration, title: str = "") -> Any:
    """Bar chart of MiB sent per pre-copy round, the stop-and-copy bar in red."""
    from virtlab import plots

    fig = plots.figure(figsize=(6, 3))
    ax = fig.subplots()
    xs = [r.n for r in m.rounds]
    ax.bar(xs, [r.sent_mib for r in m.rounds], color="tab:blue", label="pre-copy round (VM running)")
    ax.bar([len(xs) + 1], [m.rounds[-1].dirtied_mib], color="tab:red",
           label=f"stop-and-copy (VM paused {m.downtime_s * 1000:.0f} ms)")
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("MiB sent")
    ax.set_title(title or f"total {m.total_s:.1f} s, converged: {m.converged}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def alt_text(m: migration.Migration) -> str:
    return (f"Bar chart of MiB sent in each of {m.precopy_rounds} pre-copy rounds, falling from "
            f"{m.rounds[0].sent_mib:.0f} MiB, then a red stop-and-copy bar of "
            f"{m.rounds[-1].dirtied_mib:.1f} MiB sent while the VM is paused "
            f"({m.downtime_s * 1000:.0f} ms of downtime).")


def migration_widget() -> Any:
    """Sliders for memory, dirty rate, WWS and bandwidth; shows the round table and chart."""
    import ipywidgets as w

    from virtlab import plots

    mem = w.IntSlider(value=800, min=64, max=16384, step=64, description="memory MiB")
    wws = w.FloatSlider(value=12, min=0, max=512, step=0.5, description="WWS MiB")
    dirty = w.FloatSlider(value=5, min=0, max=2000, step=1, description="dirty MiB/s")
    bw = w.FloatSlider(value=round(migration.mbit(500), 1), min=1, max=2500, step=1,
                       description="link MiB/s")
    out = w.Output()

    def redraw(_change: Any = None) -> None:
        m = migration.precopy(mem.value, dirty.value, bw.value, wws_mib=min(wws.value, mem.value))
        out.clear_output(wait=True)
        with out:
            print(migration.table(m))
            if migration.diverges(dirty.value, bw.value):
                print("dirty rate >= bandwidth: pre-copy cannot converge (post-copy or "
                      "auto-converge needed)")
            plots.show(figure(m), alt_text(m))

    for s in (mem, wws, dirty, bw):
        s.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([mem, wws]), w.HBox([dirty, bw]), out])
