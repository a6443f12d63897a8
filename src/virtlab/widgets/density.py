"""Density calculator widget: host + overheads -> how many containers vs VMs fit (a view over
virtlab.density)."""

from __future__ import annotations

import html
import time
from typing import Any

from virtlab import density


class DensityWidget:
    """Sliders for host, workload and overheads; :func:`virtlab.density.explain` as output."""

    def __init__(self, overheads: density.Overheads | None = None,
                 limits: dict[str, int] | None = None, host_ram_mib: float = 24 * 1024,
                 host_cpus: int = 2) -> None:
        import ipywidgets as w

        ov = overheads or density.Overheads(container_mib=4, vm_mib=100, guest_os_mib=100)
        self.limits = dict(limits or density.kernel_limits())
        st = {"description_width": "170px"}
        self.controls: dict[str, Any] = {
            "host_ram_mib": w.IntSlider(value=int(host_ram_mib), min=1024, max=1024 * 1024, step=1024,
                                        description="host RAM (MiB)", style=st),
            "host_cpus": w.IntSlider(value=host_cpus, min=1, max=256, description="host CPUs", style=st),
            "overcommit": w.FloatSlider(value=4.0, min=1, max=16, step=0.5, description="CPU overcommit", style=st),
            "wl_ram": w.IntSlider(value=64, min=1, max=16384, description="workload RAM (MiB)", style=st),
            "wl_cpu": w.FloatSlider(value=0.05, min=0.01, max=4, step=0.01, description="workload CPUs", style=st),
            "container_mib": w.FloatSlider(value=round(ov.container_mib, 1), min=0, max=512, step=0.5,
                                           description="container overhead", style=st),
            "vm_mib": w.FloatSlider(value=round(ov.vm_mib, 1), min=0, max=1024, step=1,
                                    description="VMM overhead (MiB)", style=st),
            "guest_os_mib": w.FloatSlider(value=round(ov.guest_os_mib, 1), min=0, max=2048, step=1,
                                          description="guest OS (MiB)", style=st),
            "ksm": w.FloatSlider(value=ov.ksm_saving, min=0, max=0.9, step=0.05,
                                 description="KSM saving", style=st),
        }
        self.output = w.HTML()
        for c in self.controls.values():
            c.observe(self._changed, names="value")
        self.box = w.HBox([w.VBox(list(self.controls.values())), self.output])
        self.update()

    def inputs(self) -> tuple[density.Host, density.Workload, density.Overheads]:
        v = {k: c.value for k, c in self.controls.items()}
        return (density.Host(float(v["host_ram_mib"]), int(v["host_cpus"]), cpu_overcommit=v["overcommit"]),
                density.Workload(float(v["wl_ram"]), v["wl_cpu"]),
                density.Overheads(v["container_mib"], v["vm_mib"], v["guest_os_mib"], v["ksm"]))

    def update(self) -> str:
        host, wl, ov = self.inputs()
        text = density.explain(density.fit(host, wl, ov, self.limits), wl)
        self.output.value = f"<pre style='font-size:12px'>{html.escape(text)}</pre>"
        return text

    def _changed(self, _change: dict) -> None:
        self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def measure_latency(n: int = 50) -> dict[str, float]:
    """Median and worst time (ms) from a slider change to the refreshed output."""
    wid = DensityWidget(limits=dict(density.DEFAULT_LIMITS))
    times = []
    ctl = wid.controls["host_ram_mib"]
    for i in range(n):
        t0 = time.perf_counter()
        ctl.value = 4096 + 1024 * (i % 32)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": times[len(times) // 2], "max_ms": times[-1], "n": n}
