"""Decision widget: requirements -> recommendation with reasons (a view over virtlab.decision)."""

from __future__ import annotations

import html
import time
from typing import Any

from virtlab import decision


class DecisionWidget:
    """Dropdowns/checkboxes on the left, :func:`virtlab.decision.explain` on the right."""

    def __init__(self, req: decision.Requirements | None = None) -> None:
        import ipywidgets as w

        r = req or decision.Requirements()
        style = {"description_width": "170px"}
        self.controls: dict[str, Any] = {
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
        self.output = w.HTML()
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        self.box = w.HBox([w.VBox(list(self.controls.values())), self.output])
        self.update()

    def requirements(self) -> decision.Requirements:
        return decision.Requirements(**{k: c.value for k, c in self.controls.items()})

    def update(self) -> str:
        text = decision.explain(decision.recommend(self.requirements()), top=4)
        self.output.value = f"<pre style='font-size:12px'>{html.escape(text)}</pre>"
        return text

    def _changed(self, _change: dict) -> None:
        self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def measure_latency(n: int = 50) -> dict[str, float]:
    """Median and worst time (ms) from a control change to the refreshed output."""
    wid = DecisionWidget()
    times = []
    for i in range(n):
        ctl = wid.controls["isolation" if i % 2 == 0 else "os_mix"]
        opts = decision.ISOLATION if i % 2 == 0 else decision.OS_MIX
        new = opts[(opts.index(ctl.value) + 1) % len(opts)]
        t0 = time.perf_counter()
        ctl.value = new  # observe -> update() runs synchronously
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": times[len(times) // 2], "max_ms": times[-1], "n": n}
