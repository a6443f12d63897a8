"""Decision widget: requirements -> recommendation with reasons (a view over virtlab.decision)."""

from __future__ import annotations

from typing import Any

from virtlab import decision
from virtlab.widgets import ModelView, pre
from virtlab.widgets import measure_latency as _measure

START_BUDGETS_S = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 100)


def start_budgets(value: float) -> list[float]:
    """The start-up budgets the slider offers (seconds), including ``value``."""
    return sorted({*START_BUDGETS_S, value})


class DecisionWidget(ModelView):
    """Dropdowns/checkboxes on the left, :func:`virtlab.decision.explain` on the right."""

    def __init__(self, req: decision.Requirements | None = None) -> None:
        import ipywidgets as w

        r = req or decision.Requirements()
        style = {"description_width": "170px"}
        controls: dict[str, Any] = {
            "os_mix": w.Dropdown(options=decision.OS_MIX, value=r.os_mix, description="OS mix", style=style),
            "isolation": w.Dropdown(options=decision.ISOLATION, value=r.isolation,
                                    description="isolation needed", style=style),
            "density": w.Dropdown(options=decision.DENSITY, value=r.density, description="density", style=style),
            # A selection of round budgets, not a log slider: the browser snaps a slider to its
            # step grid and sends the snapped value back (60 s became 10**1.75 = 56.2341 s).
            "max_start_s": w.SelectionSlider(options=start_budgets(r.max_start_s), value=r.max_start_s,
                                             description="max start-up (s)", style=style),
            "live_migration": w.Checkbox(value=r.live_migration, description="live migration required"),
            "compliance_separate_kernel": w.Checkbox(value=r.compliance_separate_kernel,
                                                     description="compliance: separate kernel"),
            "kubernetes": w.Checkbox(value=r.kubernetes, description="OCI images on Kubernetes"),
        }
        self._build(controls)

    def requirements(self) -> decision.Requirements:
        return decision.Requirements(**self.values())

    def render(self) -> str:
        return pre(decision.explain(decision.recommend(self.requirements()), top=4))


def measure_latency(n: int = 50) -> dict[str, float]:
    """Median and worst time (ms) from a control change to the refreshed output."""
    wid = DecisionWidget()

    def change(i: int) -> None:
        name, opts = ("isolation", decision.ISOLATION) if i % 2 == 0 else ("os_mix", decision.OS_MIX)
        ctl = wid.controls[name]
        ctl.value = opts[(opts.index(ctl.value) + 1) % len(opts)]

    return _measure(change, n)
