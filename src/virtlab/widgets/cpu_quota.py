"""CPU-quota slider: pick a quota, see the measured CPU share of a busy loop.

A thin view over :func:`virtlab.cgroups.measure_cpu_share` (live) or the recorded demo
``cgroups.cpu_quota`` and :func:`virtlab.cgroups.expected_share` (elsewhere).
"""

from __future__ import annotations

from typing import Any

from virtlab import cgroups, modes


def share_for(quota: float, recorded: dict[str, Any] | None = None) -> tuple[float, str]:
    """The model: (share, where it came from) for ``quota``; measured when cgroups are live."""
    q = cgroups.parse_cpu(quota)
    assert q is not None
    if modes.resolve("cgroups").mode == "live":
        return cgroups.measure_cpu_share(q, 0.5, name="widget-cpu")["share"], "measured now"
    if recorded:
        best = min(recorded["rows"], key=lambda r: abs(r["quota"] - q))
        if abs(best["quota"] - q) < 1e-9:
            return best["share"], "recorded measurement"
    return cgroups.expected_share(q), "model (no cgroups here)"


def cpu_quota_slider(recorded: dict[str, Any] | None = None):  # noqa: ANN201 - ipywidgets box
    import ipywidgets as w

    s = w.FloatSlider(value=0.5, min=0.1, max=1.0, step=0.05, description="quota (CPUs)",
                      continuous_update=False)
    label = w.HTML()

    def update(_: object = None) -> None:
        share, src = share_for(s.value, recorded)
        bar = "█" * round(share * 40)
        label.value = f"<code>{bar}</code> {share:.2f} CPU ({src})"

    s.observe(update, names="value")
    update()
    return w.VBox([s, label])
