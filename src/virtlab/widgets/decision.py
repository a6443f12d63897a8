"""Decision widget: requirements -> recommendation with reasons (a view over virtlab.decision)."""

from __future__ import annotations

from typing import Any

from virtlab import decision
from virtlab.widgets import ModelView, pre
from virtlab.widgets import measure_latency as _measure


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
            "max_start_s": w.FloatLogSlider(value=r.max_start_s, base=10, min=-2, max=2, step=0.25,
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
