"""The KVM episode's demos (``@modes.demo``): each returns JSON-able data, prints nothing."""
from __future__ import annotations

from typing import Any

from virtlab import modes, probe
from virtlab.kvm.vmm import add_program, countdown_program, exit_round_trip, run


# --------------------------------------------------------------------------- demos
@modes.demo("kvm.host", section="kvm")
def demo_host(backend: modes.Backend) -> dict[str, Any]:
    """What this machine's KVM can do, and which accelerator libvirt guests get."""
    k = probe.kvm()
    flags = probe.cpu_flags()
    return {"present": k.present, "api_usable": k.api_usable, "api_version": k.api_version,
            "vmx_svm": k.vmx_svm, "pvm": k.pvm, "accelerator": k.accelerator, "reason": k.reason,
            "flags": sorted(f for f in flags if f in ("vmx", "svm", "hypervisor", "ept", "npt", "lm"))}


@modes.demo("kvm.minivmm", section="kvm")
def demo_minivmm(backend: modes.Backend) -> dict[str, Any]:
    """Run the two tiny guests on the raw KVM API; keep every VM exit."""
    add = run(add_program(), regs={"rax": 2, "rbx": 2})
    cd = run(countdown_program(), regs={"rcx": 3})
    return {"add": {"listing": list(add_program().listing), "results": add.results,
                    "exits": [e.as_dict() for e in add.exits], "api_version": add.api_version},
            "countdown": {"listing": list(countdown_program().listing), "output": cd.output,
                          "exits": [e.as_dict() for e in cd.exits]}}


@modes.demo("kvm.roundtrip", section="kvm")
def demo_roundtrip(backend: modes.Backend) -> dict[str, Any]:
    """The cost of one VM exit handled in user space (median of 5 runs of 20,000 exits)."""
    runs = sorted(exit_round_trip(20000)["us_per_exit"] for _ in range(5))
    return {"exits_per_run": 20001, "us_per_exit_median": round(runs[2], 2),
            "us_per_exit_runs": [round(x, 2) for x in runs]}
