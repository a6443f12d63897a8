"""Pre-copy live migration as a model you can compute by hand (Clark et al., NSDI 2005).

While the VM keeps running, the source host copies its memory to the destination in *rounds*:
round 1 sends everything; each later round re-sends the pages the guest dirtied while the
previous round was on the wire. When what is left is small (or the rounds stop shrinking), the VM
is paused and the rest is sent — **stop-and-copy**: that pause is the *downtime*. Migration is
"live", not "without downtime".

The dirtying is bounded by the *writable working set* (WWS): a guest that rewrites the same
20 MiB over and over never has more than 20 MiB dirty. When the dirty rate is at least the
bandwidth (and the WWS is large) the rounds never shrink: pre-copy *diverges* and ends with a
long stop-and-copy — that is when post-copy (start on the destination, fetch pages on demand)
or auto-converge (throttle the guest's vCPUs) is used instead.

Stopping rules follow Xen's (the system Clark et al. measured): stop when a round has fewer
than 50 pages to send, after 30 rounds, or once 3x the VM's memory has been sent.
Units: MiB and MiB/s. 1 Gbit/s is 119.2 MiB/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtlab.safety import check_int

PAGE_MIB = 4 / 1024  # a 4 KiB page
MBIT = 1e6 / 8 / 1024**2  # 1 Mbit/s in MiB/s


def mbit(n: float) -> float:
    """Mbit/s -> MiB/s (network speeds are quoted in bits, memory in bytes)."""
    return n * MBIT


@dataclass(frozen=True)
class Round:
    n: int
    sent_mib: float
    seconds: float
    dirtied_mib: float  # dirtied while this round was being sent (to send next)


@dataclass
class Migration:
    """The outcome of :func:`precopy`."""

    rounds: list[Round] = field(default_factory=list)
    downtime_s: float = 0.0
    total_s: float = 0.0
    sent_mib: float = 0.0
    converged: bool = True
    stop_reason: str = ""

    @property
    def precopy_rounds(self) -> int:
        return len(self.rounds)


def _positive(value: float, what: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if value != value or value in (float("inf"), float("-inf")):  # NaN / inf
        raise ValueError(f"{what} must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'}, not {value}")
    return float(value)


def precopy(memory_mib: float, dirty_mibps: float, bandwidth_mibps: float, *,
            wws_mib: float = 0.0, stop_pages: int = 50, max_rounds: int = 30,
            max_factor: float = 3.0, max_downtime_s: float | None = None,
            resume_s: float = 0.0) -> Migration:
    """Simulate pre-copy migration of a guest with ``memory_mib`` of RAM.

    ``wws_mib``: the writable working set — hot pages rewritten so often that they are dirty
    again by the end of every round; ``dirty_mibps``: how fast the guest dirties *other* pages;
    ``bandwidth_mibps``: the migration link. Rounds stop when fewer than ``stop_pages`` pages
    are left, when the expected downtime is below ``max_downtime_s`` (QEMU's rule; its default
    limit is 0.3 s), when a round shrinks by less than 10 %, after ``max_rounds`` rounds, or
    when ``max_factor`` x the memory has been sent (Xen's rules). ``resume_s`` is added to the
    downtime (restarting the VM on the destination, announcing its new location).
    """
    mem = _positive(memory_mib, "memory_mib")
    dirty = _positive(dirty_mibps, "dirty_mibps", allow_zero=True)
    bw = _positive(bandwidth_mibps, "bandwidth_mibps")
    wws = min(_positive(wws_mib, "wws_mib", allow_zero=True), mem)
    check_int(max_rounds, minimum=1, maximum=1000, what="max_rounds")
    check_int(stop_pages, minimum=0, maximum=10**9, what="stop_pages")
    _positive(max_factor, "max_factor")
    if max_downtime_s is not None:
        _positive(max_downtime_s, "max_downtime_s")
    _positive(resume_s, "resume_s", allow_zero=True)
    m = Migration(converged=dirty < bw)
    to_send = mem
    while True:
        t = to_send / bw
        dirtied = min(mem, wws + dirty * t)
        m.rounds.append(Round(len(m.rounds) + 1, to_send, t, dirtied))
        m.sent_mib += to_send
        m.total_s += t
        previous, to_send = to_send, dirtied
        if to_send <= stop_pages * PAGE_MIB:
            m.stop_reason = f"fewer than {stop_pages} dirty pages left"
        elif max_downtime_s is not None and to_send / bw <= max_downtime_s:
            m.stop_reason = f"expected downtime below {max_downtime_s * 1000:g} ms"
        elif to_send > 0.9 * previous:
            m.stop_reason = "the rounds stopped shrinking"
        elif len(m.rounds) >= max_rounds:
            m.stop_reason = f"{max_rounds} rounds reached"
        elif m.sent_mib + to_send > max_factor * mem:
            m.stop_reason = f"{max_factor:g}x the VM's memory already sent"
        else:
            continue
        break
    # stop-and-copy: the VM is paused while the rest goes over the wire
    m.downtime_s = to_send / bw + resume_s
    m.sent_mib += to_send
    m.total_s += m.downtime_s
    return m


def diverges(dirty_mibps: float, bandwidth_mibps: float) -> bool:
    """Rounds stop shrinking once the guest dirties memory at least as fast as the link sends."""
    return _positive(dirty_mibps, "dirty_mibps", allow_zero=True) >= _positive(bandwidth_mibps, "bandwidth_mibps")


def table(m: Migration) -> str:
    """A plain-text table of the rounds (deterministic; for notebooks)."""
    lines = [f"{'round':>5}  {'sent MiB':>9}  {'seconds':>8}  {'dirtied meanwhile MiB':>22}"]
    for r in m.rounds:
        lines.append(f"{r.n:>5}  {r.sent_mib:>9.1f}  {r.seconds:>8.3f}  {r.dirtied_mib:>22.1f}")
    lines.append(f"stop-and-copy: {m.rounds[-1].dirtied_mib:.1f} MiB with the VM paused "
                 f"-> downtime {m.downtime_s * 1000:.0f} ms ({m.stop_reason})")
    lines.append(f"total {m.total_s:.1f} s, {m.sent_mib:.0f} MiB sent, converged: {m.converged}")
    return "\n".join(lines)


#: Scenarios shaped like the workloads Clark et al. measured (NSDI'05, section 6): VM sizes and
#: the 500 Mbit/s link are theirs; the writable working sets and background dirty rates are
#: *our* estimates chosen in the range their WWS figures show, so compare orders of magnitude.
CLARK_SCENARIOS = {
    # 800 MB VM serving SPECweb99; measured downtime 210 ms
    "specweb": dict(memory_mib=800, dirty_mibps=5, bandwidth_mibps=mbit(500), wws_mib=12),
    # 64 MB VM running a Quake 3 server; measured downtime 60 ms
    "quake3": dict(memory_mib=64, dirty_mibps=1, bandwidth_mibps=mbit(500), wws_mib=3.5),
    # "MMuncher": 512 MB VM rewriting memory faster than the link can send it
    "mmuncher": dict(memory_mib=512, dirty_mibps=mbit(2000), bandwidth_mibps=mbit(500)),
}
CLARK_MEASURED_DOWNTIME_MS = {"specweb": 210, "quake3": 60}
