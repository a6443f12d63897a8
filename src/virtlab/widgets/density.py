"""Density calculator widget: host + overheads -> how many containers vs VMs fit (a view over
virtlab.density)."""

from __future__ import annotations

from typing import Any

from virtlab import density
from virtlab.widgets import ModelView, pre
from virtlab.widgets import measure_latency as _measure


class DensityWidget(ModelView):
    """Sliders for host, workload and overheads; :func:`virtlab.density.explain` as output."""

    def __init__(self, overheads: density.Overheads | None = None,
                 limits: dict[str, int] | None = None, host_ram_mib: float = 24 * 1024,
                 host_cpus: int = 2) -> None:
        import ipywidgets as w

        # Overhead sliders step by 0.1 MiB, the rounding of their start values: the browser snaps
        # a slider to its step grid and sends the snapped value back to the model.
        ov = overheads or density.Overheads(container_mib=4, vm_mib=100, guest_os_mib=100)
        self.limits = dict(limits or density.kernel_limits())
        st = {"description_width": "170px"}
        controls: dict[str, Any] = {
            "host_ram_mib": w.IntSlider(value=int(host_ram_mib), min=1024, max=1024 * 1024, step=1024,
                                        description="host RAM (MiB)", style=st),
            "host_cpus": w.IntSlider(value=host_cpus, min=1, max=256, description="host CPUs", style=st),
            "overcommit": w.FloatSlider(value=4.0, min=1, max=16, step=0.5, description="CPU overcommit", style=st),
            "wl_ram": w.IntSlider(value=64, min=1, max=16384, description="workload RAM (MiB)", style=st),
            "wl_cpu": w.FloatSlider(value=0.05, min=0.01, max=4, step=0.01, description="workload CPUs", style=st),
            "container_mib": w.FloatSlider(value=round(ov.container_mib, 1), min=0, max=512, step=0.1,
                                           description="container overhead", style=st),
            "vm_mib": w.FloatSlider(value=round(ov.vm_mib, 1), min=0, max=1024, step=0.1,
                                    description="VMM overhead (MiB)", style=st),
            "guest_os_mib": w.FloatSlider(value=round(ov.guest_os_mib, 1), min=0, max=2048, step=0.1,
                                          description="guest OS (MiB)", style=st),
            "ksm": w.FloatSlider(value=ov.ksm_saving, min=0, max=0.9, step=0.05,
                                 description="KSM saving", style=st),
        }
        self._build(controls)

    def inputs(self) -> tuple[density.Host, density.Workload, density.Overheads]:
        v = self.values()
        return (density.Host(float(v["host_ram_mib"]), int(v["host_cpus"]), cpu_overcommit=v["overcommit"]),
                density.Workload(float(v["wl_ram"]), v["wl_cpu"]),
                density.Overheads(v["container_mib"], v["vm_mib"], v["guest_os_mib"], v["ksm"]))

    def render(self) -> str:
        host, wl, ov = self.inputs()
        return pre(density.explain(density.fit(host, wl, ov, self.limits), wl))


def measure_latency(n: int = 50) -> dict[str, float]:
    """Median and worst time (ms) from a slider change to the refreshed output."""
    wid = DensityWidget(limits=dict(density.DEFAULT_LIMITS))

    def change(i: int) -> None:
        wid.controls["host_ram_mib"].value = 4096 + 1024 * (i % 32)

    return _measure(change, n)
