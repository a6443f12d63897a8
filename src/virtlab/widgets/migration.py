"""A widget over :func:`virtlab.migration.precopy`: move the sliders, watch the rounds and the
downtime change. The widget only draws; every number comes from the pure model."""

from __future__ import annotations

from typing import Any

from virtlab import migration


def figure(m: migration.Migration, title: str = "", ax: Any = None) -> Any:
    """Bar chart of MiB sent per pre-copy round, the stop-and-copy bar in red (drawn into
    ``ax`` when given: a widget redraws one figure instead of building a new one)."""
    from virtlab import plots

    if ax is None:
        fig = plots.figure(figsize=(6, 3))
        ax = fig.subplots()
    else:
        fig = ax.figure
        ax.clear()
    xs = [r.n for r in m.rounds]
    ax.bar(xs, [r.sent_mib for r in m.rounds], color="tab:blue", label="pre-copy round (VM running)")
    ax.bar([len(xs) + 1], [m.rounds[-1].dirtied_mib], color="tab:red",
           label=f"stop-and-copy (VM paused {m.downtime_s * 1000:.0f} ms)")
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("MiB sent")
    text = title or f"total {m.total_s:.1f} s, converged: {m.converged}"
    ax.legend(fontsize=8)
    if fig.get_label() != "vl-widget":
        ax.set_title(text)
        fig.tight_layout()
        return fig
    # The widget redraws on every slider move: text layout is most of matplotlib's cost, so no
    # minor tick labels (1-2-5 major ticks instead, plain numbers) and a fixed title position.
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title(text, y=1.0)
    return fig


def alt_text(m: migration.Migration) -> str:
    return (f"Bar chart of MiB sent in each of {m.precopy_rounds} pre-copy rounds, falling from "
            f"{m.rounds[0].sent_mib:.0f} MiB, then a red stop-and-copy bar of "
            f"{m.rounds[-1].dirtied_mib:.1f} MiB sent while the VM is paused "
            f"({m.downtime_s * 1000:.0f} ms of downtime).")


def widget_axes() -> Any:
    """The one figure a migration widget redraws (fixed margins, no per-draw layout pass)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3))
    fig.set_label("vl-widget")
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.17)
    return fig.add_subplot()


def render(mem_mib: float, dirty: float, bw: float, wws_mib: float, ax: Any = None) -> str:
    """What the widget shows for these values (HTML: the round table, a divergence note and
    the chart with its alt text); every number from :func:`virtlab.migration.precopy`."""
    import html

    from virtlab import plots

    m = migration.precopy(mem_mib, dirty, bw, wws_mib=min(wws_mib, mem_mib))
    text = migration.table(m)
    if migration.diverges(dirty, bw):
        text += ("\ndirty rate >= bandwidth: pre-copy cannot converge (post-copy or "
                 "auto-converge needed)")
    return (f"<pre style='font-size:12px'>{html.escape(text)}</pre>"
            + plots.img_html(figure(m, ax=ax), alt_text(m), keep=ax is not None))


def migration_widget() -> Any:
    """Sliders for memory, dirty rate, WWS and bandwidth; shows the round table and chart.

    Each step divides (value - min) exactly: the browser snaps a slider to its step grid and
    sends the snapped value back, so an off-grid start value would change the model's input."""
    import ipywidgets as w

    st = {"description_width": "90px"}
    mem = w.IntSlider(value=800, min=32, max=16384, step=32, description="memory MiB", style=st)
    wws = w.FloatSlider(value=12, min=0, max=512, step=0.5, description="WWS MiB", style=st)
    dirty = w.FloatSlider(value=5, min=0, max=2000, step=1, description="dirty MiB/s", style=st)
    bw = w.FloatSlider(value=round(migration.mbit(500), 1), min=0.1, max=2500, step=0.1,
                       description="link MiB/s", style=st)
    out = w.HTML()
    ax = widget_axes()

    def redraw(_change: Any = None) -> None:
        out.value = render(mem.value, dirty.value, bw.value, wws.value, ax)

    for s in (mem, wws, dirty, bw):
        s.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([mem, wws]), w.HBox([dirty, bw]), out])
