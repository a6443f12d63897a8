"""The experiment: which guests and containers this host can run, repeated boots, summaries, ratios, cleanup."""
from __future__ import annotations

import contextlib
import statistics
from typing import Any

from virtlab import PREFIX
from virtlab.bootexp.base import (
    CONTAINER_METRICS,
    GUESTS,
    MEMORY_MIB,
    METRICS,
    TB_CACHE_MIB,
    BootExpError,
)
from virtlab.bootexp.boots import available_containers, boot_busybox, boot_container, boot_systemd
from virtlab.bootexp.disk import disk_path
from virtlab.core.registry import cleans


# --------------------------------------------------------------------------- the experiment
def available_guests() -> dict[str, str | None]:
    """guest -> None when it can run here, else why not."""
    from virtlab import virt

    out: dict[str, str | None] = {}
    for g in GUESTS:
        kernel = "stock" if g.startswith("stock") else "minimal"
        try:
            virt.artefacts(kernel)
            why = None
        except (virt.MissingImage, ValueError) as err:
            why = str(err)
        if why is None and g.endswith("systemd") and not disk_path().exists():
            why = f"no systemd disk image ({disk_path()}): `sudo VIRTLAB_BOOT_DISK=1 virtlab images build --only bootdisk`"
        out[g] = why
    return out


def run(repeat: int = 3, *, guests: tuple[str, ...] = GUESTS, memory: int = MEMORY_MIB,
        tb_cache: int | None = TB_CACHE_MIB, require: bool = False,
        containers: bool = True) -> dict[str, Any]:
    """Boot each guest ``repeat`` times, interleaved (a noisy neighbour slows all alike); then
    the containers (busybox, Debian/systemd) the same number of times."""
    from virtlab import virt

    bad = [g for g in guests if g not in GUESTS]
    if bad:
        raise ValueError(f"unknown guest(s) {bad}; choose from {', '.join(GUESTS)}")
    avail = available_guests()
    skipped = {g: why for g in guests if (why := avail[g])}
    if skipped and require:
        raise BootExpError("; ".join(f"{g}: {w}" for g, w in skipped.items()))
    todo = [g for g in guests if g not in skipped]
    runs: dict[str, list[dict[str, Any]]] = {g: [] for g in todo}
    accel = virt.accelerator()
    for _ in range(repeat):
        for g in todo:
            if g == "minimal+systemd":
                runs[g].append(boot_systemd(memory=memory, tb_cache=tb_cache))
            else:
                runs[g].append(boot_busybox(g.split("+")[0], memory=memory, tb_cache=tb_cache))
    kernels = {}
    for k in ("minimal", "stock"):
        with contextlib.suppress(virt.MissingImage, ValueError):
            a = virt.artefacts(k)
            kernels[k] = {"release": a.release, "bytes": a.kernel.stat().st_size}
    build = {}
    with contextlib.suppress(Exception):
        from virtlab import guestkernel

        b = guestkernel.cached()
        if b is not None:
            build = {"total_s": b.info.get("total_s"), "seconds": b.info.get("seconds"),
                     "jobs": b.info.get("jobs"), "cpus": b.info.get("cpus")}
    cavail = available_containers() if containers else {}
    cskipped = {k: why for k, why in cavail.items() if why}
    if cskipped and require:
        raise BootExpError("; ".join(f"{k}: {w}" for k, w in cskipped.items()))
    cruns: dict[str, list[dict[str, Any]]] = {k: [] for k in cavail if k not in cskipped}
    for _ in range(repeat):
        for k in cruns:
            cruns[k].append(boot_container(k))
    return {"runs": runs, "skipped": skipped, "containers": cruns, "containers_skipped": cskipped,
            "repeat": repeat, "memory_mib": memory,
            "tb_cache_mib": tb_cache, "accelerator": accel.name, "accelerator_reason": accel.reason,
            "kernels": kernels, "kernel_build": build}


def summary(data: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """guest -> metric -> {median, min, max, n}: medians with their spread."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for g, rows in data["runs"].items():
        for m in METRICS:
            vals = [float(r[m]) for r in rows if r.get(m) is not None]
            if vals:
                out.setdefault(g, {})[m] = {"median": statistics.median(vals), "min": min(vals),
                                            "max": max(vals), "n": len(vals)}
    return out


def container_summary(data: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """kind -> metric -> {median, min, max, n} for the containers."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for k, rows in (data.get("containers") or {}).items():
        for m in CONTAINER_METRICS:
            vals = [float(r[m]) for r in rows if r.get(m) is not None]
            if vals:
                out.setdefault(k, {})[m] = {"median": statistics.median(vals), "min": min(vals),
                                            "max": max(vals), "n": len(vals)}
    return out


def ratios(data: dict[str, Any], base: str = "minimal+busybox") -> dict[str, dict[str, float]]:
    """Each guest's medians divided by ``base``'s (1.0 = as fast/small as the minimal guest)."""
    s = summary(data)
    b = s.get(base, {})
    return {g: {m: v["median"] / b[m]["median"] for m, v in ms.items()
                if m in b and b[m]["median"]} for g, ms in s.items()}


@cleans(order=25)
def cleanup() -> list[str]:
    """Leftover overlays of interrupted runs (the domains go with ``virt.cleanup``)."""
    from virtlab import virt

    removed = []
    d = virt._disk_dir()
    for p in d.glob(f"{PREFIX}bootexp-*.qcow2"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(str(p))
    return removed
