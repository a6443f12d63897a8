"""Live, embedded or recorded: which backend serves each section of the course.

=========  ==================================================================================
mode       what serves a cell
=========  ==================================================================================
live       the real thing: the kernel (namespaces, cgroups, /dev/kvm), a real LXD daemon, a
           real libvirtd with QEMU
embedded   real libraries without a daemon or root: libvirt's in-process ``test:///default``
           driver, unprivileged user namespaces
recorded   output captured from a real live run, with its provenance, clearly labelled
auto       (default) the best mode this machine allows, section by section
=========  ==================================================================================

``VIRTLAB_MODE`` forces a mode for every section. ``embedded`` means "what a machine without
daemons or root would do": embedded where the section has an embedded form, recorded otherwise.
Forcing ``live`` where it is impossible raises :class:`CapabilityMissing` naming what is missing
and how to get it.

Demos are plain functions registered with :func:`demo`; :func:`run` picks the backend, prints the
one-line banner and returns a :class:`Result`. ``virtlab record KEY`` re-records a demo's data by
running it live.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from virtlab import probe
from virtlab.safety import VirtlabError

MODES = ("live", "embedded", "recorded", "auto")
#: marks a recorded banner whose section is live here, but not this cell (what it needs is named)
NOT_LIVE_HERE = "not live here, this cell needs"
RECORDED_DIR = Path(__file__).parent / "recorded"

#: Modules whose demos ``virtlab record`` knows about (imported on demand).
DEMO_MODULES = (
    "virtlab.namespaces",
    "virtlab.cgroups",
    "virtlab.minicontainer",
    "virtlab.lxd",
    "virtlab.virt",
    "virtlab.kvm",
    "virtlab.security",
    "virtlab.bench",
    "virtlab.bootexp",
)


class ModeError(VirtlabError, ValueError):
    """An unknown mode or section was asked for."""


class CapabilityMissing(VirtlabError, RuntimeError):
    """Live (or embedded) mode was forced, but this machine lacks what it needs."""

    def __init__(self, section: str, mode: str, missing: str, fix: str) -> None:
        super().__init__(f"{section}: {mode} mode is not possible here: {missing}. To fix: {fix}")
        self.section, self.mode, self.missing, self.fix = section, mode, missing, fix


class RecordingMissing(VirtlabError, LookupError):
    """No recorded output exists for a demo that has to fall back to recorded mode."""


# --------------------------------------------------------------------------- requirements
@dataclass(frozen=True)
class Availability:
    ok: bool
    detail: str  # what serves the cell when ok, else what is missing
    fix: str = ""
    privileged: bool = False  # served as root (a demo may do what only root can)


def _ns_live() -> Availability:
    """The real kernel's namespaces: as root, or as any user through an unprivileged user
    namespace (a learner on a lab VM needs no root for them)."""
    ns = probe.namespaces()
    rel = probe.kernel()["release"]
    if probe.is_root():
        bad = [k for k, v in ns.as_current_user.items() if v != "ok"]
        if bad:
            return Availability(False, f"unshare fails for: {', '.join(bad)}", "use a Linux lab VM")
        return Availability(True, f"the host kernel (Linux {rel}), as root", privileged=True)
    if ns.unprivileged_userns:
        return Availability(True, f"the host kernel (Linux {rel}), as uid {os.getuid()} through an "
                                  "unprivileged user namespace")
    return Availability(False, f"not root, and unprivileged user namespaces are not allowed "
                               f"({ns.unprivileged_detail})",
                        "use a lab VM (any user), or run the course as root")


def _ns_embedded() -> Availability:
    ns = probe.namespaces()
    if ns.unprivileged_userns:
        return Availability(True, f"the host kernel (Linux {probe.kernel()['release']}), "
                                  "unprivileged user namespace")
    return Availability(False, f"unprivileged user namespaces are not allowed ({ns.unprivileged_detail})",
                        "use a lab VM, or a machine whose kernel allows unprivileged user namespaces")


def _container_live() -> Availability:
    a = _ns_live()
    if a.ok and probe.busybox() is None:
        return Availability(False, "no static busybox for the container's root filesystem",
                            probe.BUSYBOX_FIX)
    return a


def _container_embedded() -> Availability:
    a = _ns_embedded()
    if a.ok and probe.busybox() is None:
        return Availability(False, "no static busybox for the container's root filesystem",
                            probe.BUSYBOX_FIX)
    return a


def _cg_live() -> Availability:
    cg = probe.cgroups()
    if probe.is_root():
        if not cg.writable:
            return Availability(False, cg.detail or "cgroups not writable", "use a Linux lab VM as root")
        return Availability(True, f"the host kernel's cgroups ({cg.layout} layout)", privileged=True)
    if cg.delegated:
        return Availability(True, f"the host kernel's cgroups ({cg.layout} layout), the course "
                                  f"subtree delegated to uid {os.getuid()}")
    return Availability(False, f"not root, and no cgroup subtree is delegated to you ({cg.detail})",
                        "on a lab VM, provisioning delegates one: `sudo labs/lab-vm/provision.sh "
                        "--user $USER` (or run the course as root)")


def _kvm_live() -> Availability:
    k = probe.kvm()
    if k.api_usable:
        return Availability(True, f"/dev/kvm (KVM API {k.api_version})")
    return Availability(False, k.reason, "use a machine or lab VM with /dev/kvm you can open "
                                         "(add yourself to the `kvm` group)")


def _lxd_live() -> Availability:
    info = probe.lxd()
    if info.reachable:
        return Availability(True, f"{info.title} {info.version} at {info.socket}")
    return Availability(False, info.error, info.fix)


def _libvirt_live() -> Availability:
    info = probe.libvirt_info()
    r = info.uris["qemu:///system"]
    if r.get("ok"):
        accel = probe.vm_accelerator().name.upper()
        return Availability(True, f"libvirt {r['version']} qemu:///system, guests use {accel}")
    return Availability(False, f"qemu:///system: {r.get('error')}", info.fix or probe.LIBVIRT_FIX)


def _libvirt_embedded() -> Availability:
    info = probe.libvirt_info()
    r = info.uris["test:///default"]
    if r.get("ok"):
        return Availability(True, f"libvirt {r['version']} test:///default (in-process test driver, "
                                  "no real VMs)")
    return Availability(False, f"test:///default: {r.get('error')}", info.fix)


def _never() -> Availability:
    return Availability(False, "this section has no embedded form", "")


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    live: Callable[[], Availability]
    embedded: Callable[[], Availability] = _never


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("namespaces", "Linux namespaces", _ns_live, _ns_embedded),
        Section("cgroups", "control groups", _cg_live),
        Section("container", "a container from scratch", _container_live, _container_embedded),
        Section("lxd", "LXD/Incus system containers", _lxd_live),
        Section("libvirt", "libvirt + QEMU virtual machines", _libvirt_live, _libvirt_embedded),
        Section("kvm", "the raw KVM API", _kvm_live),
        Section("security", "isolation and security", _ns_live, _ns_embedded),
        Section("bench", "measurements", _cg_live),
    )
}


def requested_mode() -> str:
    """The mode asked for by ``VIRTLAB_MODE`` (default ``auto``); unknown values are an error."""
    raw = os.environ.get("VIRTLAB_MODE", "auto").strip().lower() or "auto"
    if raw not in MODES:
        raise ModeError(f"VIRTLAB_MODE={raw!r} is not a mode; valid modes: {', '.join(MODES)}")
    return raw


@dataclass(frozen=True)
class Backend:
    section: str
    mode: str  # live / embedded / recorded
    detail: str  # what serves the cell
    reason: str = ""  # why this mode (when not the best one)
    #: live was demanded (VIRTLAB_MODE=live, or a recording): a demo must not degrade, e.g. by
    #: skipping a part it cannot run — it must fail instead
    forced: bool = False
    #: served live *as root*: a demo may do what only root can (a learner's live backend is not)
    privileged: bool = False
    #: why this cell is not live although its section is (e.g. the demo needs root)
    not_live_here: str = ""

    def banner(self, provenance: dict[str, Any] | None = None, key: str | None = None) -> str:
        if self.mode == "recorded":
            p = provenance or {}
            host = p.get("host", {})
            bits = [b for b in (p.get("recorded_on"), f"Linux {host.get('kernel')}" if host.get("kernel") else None,
                                p.get("backend")) if b]
            again = f" — re-record: virtlab record {key}" if key else ""
            why = f" — {NOT_LIVE_HERE} {self.not_live_here}" if self.not_live_here else ""
            return (f"[virtlab] {self.section}: RECORDED, not live ({'; '.join(bits)}){why}{again}")
        return f"[virtlab] {self.section}: {self.mode} — {self.detail}"


def section(name: str) -> Section:
    try:
        return SECTIONS[name]
    except KeyError:
        raise ModeError(f"unknown section {name!r}; known: {', '.join(SECTIONS)}") from None


def resolve(name: str, mode: str | None = None, *, has_embedded: bool = True) -> Backend:
    """Pick the backend for section ``name`` under ``mode`` (default: ``VIRTLAB_MODE``)."""
    sec = section(name)
    mode = (mode or requested_mode()).lower()
    if mode not in MODES:
        raise ModeError(f"{mode!r} is not a mode; valid modes: {', '.join(MODES)}")
    if mode == "recorded":
        return Backend(name, "recorded", "recorded output", "VIRTLAB_MODE=recorded")
    if mode == "live":
        a = sec.live()
        if not a.ok:
            raise CapabilityMissing(name, "live", a.detail, a.fix)
        return Backend(name, "live", a.detail, forced=True, privileged=a.privileged)
    if mode == "auto":
        a = sec.live()
        if a.ok:
            return Backend(name, "live", a.detail, privileged=a.privileged)
        why_not_live = a.detail
    else:  # embedded
        why_not_live = "VIRTLAB_MODE=embedded"
    e = sec.embedded() if has_embedded else Availability(False, "no embedded form for this demo")
    if e.ok:
        return Backend(name, "embedded", e.detail, why_not_live)
    return Backend(name, "recorded", "recorded output", f"{why_not_live}; {e.detail}")


def banner(name: str) -> Backend:
    """Resolve section ``name``, print its one-line banner and return the backend."""
    b = resolve(name)
    print(b.banner())
    return b


# --------------------------------------------------------------------------- demos & recordings
@dataclass
class Demo:
    key: str
    section: str
    fn: Callable[[Backend], Any]
    embedded: bool  # can fn run with an embedded backend?
    #: what a live backend must offer beyond the section: ``requires(backend)`` returns what is
    #: missing (e.g. "root (...)"), or None; then the cell replays its recording and says why
    requires: Callable[[Backend], str | None] | None = None
    #: what ``requires`` asks for is an optional extra (e.g. an image provisioning builds only on
    #: request): even where live is demanded the cell replays its recording, labelled with what
    #: it needs — ``virtlab record`` still refuses to record without it
    optional: bool = False


_DEMOS: dict[str, Demo] = {}


def demo(key: str, section: str, *, embedded: bool = False,
         requires: Callable[[Backend], str | None] | None = None, optional: bool = False,
         ) -> Callable[[Callable[[Backend], Any]], Callable[[Backend], Any]]:
    """Register ``fn(backend) -> JSON-able data`` as the live producer of demo ``key``."""
    globals()["section"](section)  # validate early

    def deco(fn: Callable[[Backend], Any]) -> Callable[[Backend], Any]:
        _DEMOS[key] = Demo(key, section, fn, embedded, requires, optional)
        return fn

    return deco


def demos() -> dict[str, Demo]:
    """All registered demos (importing every module that defines some)."""
    for mod in DEMO_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise
    return dict(_DEMOS)


@dataclass
class Result:
    key: str
    backend: Backend
    data: Any
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.backend.mode == "live"

    @property
    def recorded(self) -> bool:
        return self.backend.mode == "recorded"


def recording_path(key: str) -> Path:
    return RECORDED_DIR / f"{key}.json"


def load_recording(key: str) -> dict[str, Any]:
    path = recording_path(key)
    if not path.exists():
        raise RecordingMissing(
            f"no recorded output for {key!r} ({path}); record it on a lab VM with: virtlab record {key}")
    return json.loads(path.read_text())


def provenance(backend: Backend, key: str) -> dict[str, Any]:
    """Where and how a recording was made: date, host kernel, versions, accelerator."""
    k = probe.kernel()
    versions = probe.versions()
    return {
        "recorded_on": _dt.date.today().isoformat(),
        "host": {"kernel": k["release"], "os": k["os"], "machine": k["machine"], "python": k["python"]},
        "versions": versions,
        "accelerator": probe.vm_accelerator().name,
        "backend": backend.detail,
        "command": f"virtlab record {key}",
    }


def run(key: str, *, quiet: bool = False) -> Result:
    """Run demo ``key`` on the best backend (or replay its recording); print the banner."""
    d = demos().get(key)
    if d is None:
        raise ModeError(f"unknown demo {key!r}")
    backend = resolve(d.section, has_embedded=d.embedded)
    if backend.mode == "live" and d.requires is not None:
        missing = d.requires(backend)
        if missing:
            if backend.forced and not d.optional:
                raise CapabilityMissing(d.section, "live", f"{key} needs {missing}",
                                        "run the course as root on a lab VM")
            backend = Backend(d.section, "recorded", "recorded output", f"{key} needs {missing}",
                              not_live_here=missing)
    if backend.mode == "recorded":
        rec = load_recording(key)
        result = Result(key, backend, rec["data"], rec.get("provenance", {}))
        if not quiet:
            print(backend.banner(result.provenance, key))
        return result
    if not quiet:
        print(backend.banner())
    return Result(key, backend, d.fn(backend))


def record(key: str) -> Path:
    """Run demo ``key`` live and store its output with provenance; returns the file written."""
    d = demos().get(key)
    if d is None:
        raise ModeError(f"unknown demo {key!r}")
    backend = resolve(d.section, "live")
    missing = d.requires(backend) if d.requires is not None else None
    if missing:  # a recording is only ever made of the whole, real thing
        raise CapabilityMissing(d.section, "live", f"{key} needs {missing}", "provide it, then record")
    data = d.fn(backend)
    out = {"key": key, "section": d.section, "provenance": provenance(backend, key), "data": data}
    path = recording_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, sort_keys=True, default=str) + "\n")
    return path


def needs_root(what: str) -> Callable[[Backend], str | None]:
    """A ``requires=`` for demos only root can run: ``root (what)`` unless served as root."""
    def check(backend: Backend) -> str | None:
        return None if backend.privileged else f"root ({what})"
    return check


def live_gaps() -> dict[str, str]:
    """Sections that cannot run live here, with what is missing (empty: everything can)."""
    gaps = {}
    for name, sec in SECTIONS.items():
        a = sec.live()
        if not a.ok:
            gaps[name] = a.detail
    return gaps


def embedded_gaps() -> dict[str, str]:
    """Sections with an embedded form that cannot run embedded here, with why (empty: all can).

    The committed notebook outputs are those of the embedded mode; where this machine lacks an
    embedded form (no user namespaces, no static busybox, no libvirt-python), the cells show the
    labelled recording instead, so those notebooks cannot match their committed outputs.
    """
    gaps = {}
    for name, sec in SECTIONS.items():
        if sec.embedded is _never:
            continue
        a = sec.embedded()
        if not a.ok:
            gaps[name] = a.detail
    return gaps


BANNER_PREFIX = "[virtlab] "


def parse_banner(line: str) -> tuple[str, str] | None:
    """``(section, mode)`` of one banner line printed by :func:`run`/:func:`banner`, else None."""
    if not line.startswith(BANNER_PREFIX):
        return None
    sec, sep, rest = line[len(BANNER_PREFIX):].partition(": ")
    if not sep or sec not in SECTIONS:
        return None
    if rest.startswith("RECORDED"):
        return sec, "recorded"
    mode = rest.split(" ", 1)[0]
    return (sec, mode) if mode in ("live", "embedded") else None


def show() -> None:
    """Print, for every section, the mode ``VIRTLAB_MODE`` picks here and what serves it."""
    mode = requested_mode()
    print(f"VIRTLAB_MODE={mode}")
    w = max(len(n) for n in SECTIONS)
    for name, _sec in SECTIONS.items():
        try:
            b = resolve(name, mode)
            line = f"{b.mode:<9} {b.detail}" + (f"  (why not live: {b.reason})" if b.reason and b.mode != "live" else "")
        except CapabilityMissing as err:
            line = f"IMPOSSIBLE {err.missing} — {err.fix}"
        print(f"{name:<{w}}  {line}")


def recorded_counterpart(result: Result, *, quiet: bool = False) -> Result | None:
    """The recording of a real live run of the demo behind ``result`` — but only when ``result``
    itself came from an *embedded* backend (say libvirt's test driver, which has no guest).

    It lets a learner without daemons see what the real thing did, labelled RECORDED with its
    provenance. ``None`` when ``result`` was live or recorded already, or no recording exists.
    """
    if result.backend.mode != "embedded":
        return None
    try:
        rec = load_recording(result.key)
    except RecordingMissing:
        return None
    backend = Backend(result.backend.section, "recorded", "recorded output",
                      "the embedded backend above cannot show this")
    real = Result(result.key, backend, rec["data"], rec.get("provenance", {}))
    if not quiet:
        print(backend.banner(real.provenance, result.key))
    return real


def view_with_real_run(view: Callable[[Result], None]) -> Callable[..., None]:
    """``view(r)``, and after an *embedded* result also the recording of a real run of the same
    demo (:func:`recorded_counterpart`), labelled RECORDED; ``real=False`` leaves it out."""
    def show(r: Result, *, real: bool = True) -> None:
        view(r)
        if real:
            rec = recorded_counterpart(r)
            if rec is not None:
                view(rec)
    show.__doc__ = (view.__doc__ or "") + "\n(After an embedded run, also a real run's recording.)"
    return show
