"""A running course guest: its serial console, commands through it, the ``vm()`` context manager,
boot timings.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# =========================================================================== demos (notebook 06)
from virtlab import PREFIX
from virtlab.safety import (
    Deadline,
    DeadlineExceeded,
    check_int,
    course_name,
)
from virtlab.virt.base import (
    DONE,
    MARKER,
    MAX_MEMORY_MIB,
    MIN_MEMORY_MIB,
    SYSTEM_URI,
    MissingImage,
    VirtError,
    course_firmware,
)
from virtlab.virt.bootfiles import artefacts
from virtlab.virt.conn import (
    STATES,
    _disk_dir,
    _err,
    _libvirt,
    _make_qcow2,
    _remove_domain,
    connect,
    is_test,
    state_name,
)
from virtlab.virt.domain import _CTRL_RE, Accelerator, DomainSpec, accelerator


# =========================================================================== the console
class Console:
    """The guest's serial console over libvirt (``virDomainOpenConsole``), read with deadlines."""

    def __init__(self, conn: Any, dom: Any) -> None:
        libvirt = _libvirt()
        self._stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        dom.openConsole(None, self._stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        self.text = ""  # everything read so far
        self._pos = 0  # how far read_until() has consumed

    def _pump(self) -> bool:
        got = False
        while True:
            try:
                data = self._stream.recv(65536)
            except Exception:  # noqa: BLE001 - a closed stream means the guest is gone
                return got
            if isinstance(data, int) or not data:  # -2: nothing now; b"": end of stream
                return got
            self.text += data.decode("utf-8", "replace").replace("\r", "")
            got = True

    def read_until(self, pattern: str, deadline: Deadline) -> re.Match[str]:
        """Wait for regex ``pattern`` in new console output; raise at the deadline."""
        rx = re.compile(pattern)

        def found() -> re.Match[str] | None:
            self._pump()
            m = rx.search(self.text, self._pos)
            if m:
                self._pos = m.end()
            return m

        return deadline.wait_for(found, interval=0.02)

    def send(self, line: str, timeout: float = 10) -> None:
        """Type one line into the guest's console (the guest's /init reads it)."""
        data = (line + "\n").encode()
        deadline = Deadline(timeout, "writing to the guest's serial console")
        while data:
            n = self._stream.send(data)
            if n == -2:  # the stream is full for now
                deadline.check()
                time.sleep(0.01)
                continue
            data = data[n:]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.abort()


# =========================================================================== the VM handle
_MARKER_RE = re.compile(MARKER + r" release=(\S+) uptime=([\d.]+) cpus=(\d+) pvpanic=(\w+)\n")


@dataclass
class CommandResult:
    command: str
    rc: int
    output: str
    seconds: float


@dataclass
class Guest:
    """A running course VM (inside ``with vm(...)``)."""

    conn: Any
    dom: Any
    spec: DomainSpec
    accelerator: Accelerator
    boot_seconds: float | None = None
    marker: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[float, str, str]] = field(default_factory=list)
    console: Console | None = None
    _t0: float = field(default_factory=time.monotonic)
    _last_cmd_end: int = 0

    @property
    def name(self) -> str:
        return str(self.spec.name)

    @property
    def firmware(self) -> str:
        """What the guest booted on: the ROM's file name (qboot.rom), or "seabios" (QEMU's default)."""
        return os.path.basename(self.spec.firmware) if self.spec.firmware else "seabios"

    @property
    def embedded(self) -> bool:
        return is_test(self.conn)

    def state(self) -> tuple[str, int]:
        s, reason = self.dom.state()
        return STATES.get(s, "unknown"), reason

    def run(self, command: str, timeout: float = 15) -> CommandResult:
        """Run a shell command inside the guest via its serial console; output + exit status."""
        if self.console is None:
            raise VirtError("this domain has no console (the test driver boots nothing)")
        if not isinstance(command, str) or "\n" in command or _CTRL_RE.search(command):
            raise ValueError("a guest command is one line of text")
        t0 = time.monotonic()
        self.console.send(command)
        m = self.console.read_until(DONE + r" (\d+)\n", Deadline(timeout, f"guest command {command!r}"))
        start, self._last_cmd_end = self._last_cmd_end, m.end()
        out = self.console.text[start:m.start()].strip("\n")
        return CommandResult(command, int(m.group(1)), out, time.monotonic() - t0)

    def qemu_pid(self) -> int | None:
        """The host PID of this VM's QEMU process (None on the test driver)."""
        if self.embedded:
            return None
        p = Path("/run/libvirt/qemu") / f"{self.name}.pid"
        with contextlib.suppress(OSError, ValueError):
            return int(p.read_text().strip())
        import psutil

        for proc in psutil.process_iter(["name", "cmdline"]):
            cmd = proc.info.get("cmdline") or []
            if any("qemu" in c for c in cmd[:1]) and f"guest={self.name}," in " ".join(cmd):
                return proc.pid
        return None

    def rss_bytes(self) -> int | None:
        """Resident memory of the QEMU process on the host (psutil), or None without one."""
        pid = self.qemu_pid()
        if pid is None:
            return None
        import psutil

        return int(psutil.Process(pid).memory_info().rss)

    def process_facts(self) -> dict[str, Any]:
        """The VM as the host sees it: one QEMU process — user, threads, key arguments."""
        pid = self.qemu_pid()
        if pid is None:
            return {}
        import psutil

        p = psutil.Process(pid)
        argv = p.cmdline()
        keep = {"-accel", "-machine", "-m", "-smp", "-kernel", "-initrd", "-cpu"}
        args = [f"{a} {argv[i + 1]}" for i, a in enumerate(argv[:-1]) if a in keep]
        return {"exe": os.path.basename(argv[0]) if argv else p.name(), "user": p.username(),
                "threads": p.num_threads(), "args": args}

    def crash(self, timeout: float = 30) -> dict[str, Any]:
        """Panic the guest kernel (sysrq 'c') and wait for libvirt to report it crashed."""
        if self.console is None:
            raise VirtError("crash() needs a real guest (the test driver boots nothing)")
        if not self.marker.get("pvpanic"):
            raise VirtError("this guest has no pvpanic driver, so a panic cannot be reported")
        t0 = time.monotonic()
        self.console.send("echo c > /proc/sysrq-trigger")
        dl = Deadline(timeout, "guest panic reported by libvirt",
                      "the guest needs the pvpanic device + driver (DomainSpec.panic_device)")
        dl.wait_for(lambda: self.dom.state()[0] == 6, interval=0.05)
        seconds = time.monotonic() - t0
        with contextlib.suppress(DeadlineExceeded):  # the panic message may trail the event
            Deadline(2, "panic text").wait_for(lambda: self.console._pump() or "Kernel panic" in self.console.text)
        lines = [re.sub(r"^\[ *[0-9.]+\] ", "", ln) for ln in self.console.text.splitlines()
                 if "Kernel panic" in ln or "sysrq: Trigger a crash" in ln]
        return {"state": state_name(self.dom), "reason": self.dom.state()[1],
                "seconds": seconds, "console": lines[-3:], "events": list(self.events)}

    def save_restore(self, path: str | None = None) -> dict[str, Any]:
        """Save the running guest's RAM + device state to a file, then restore it; timings."""
        d = tempfile.mkdtemp(prefix=f"{PREFIX}save-") if path is None else None
        if d:
            os.chmod(d, 0o755)
        target = path or os.path.join(d or "/tmp", f"{self.name}.save")
        try:
            t0 = time.monotonic()
            self.dom.save(target)
            t_save = time.monotonic() - t0
            size = os.path.getsize(target) if os.path.exists(target) else None
            state_between = state_name(self.dom)
            t1 = time.monotonic()
            self.conn.restore(target)
            t_restore = time.monotonic() - t1
            self.dom = self.conn.lookupByName(self.name)
            if not self.embedded:
                self._reopen_console()
            return {"save_s": t_save, "restore_s": t_restore, "file_bytes": size,
                    "state_between": state_between, "state_after": state_name(self.dom)}
        finally:
            with contextlib.suppress(OSError):
                os.unlink(target)
            if d:
                shutil.rmtree(d, ignore_errors=True)

    def _reopen_console(self) -> None:
        if self.console is not None:
            self.console.close()
        self.console = Console(self.conn, self.dom)
        self._last_cmd_end = 0

    def snapshot(self, name: str, description: str = "") -> str:
        """Take a named snapshot (test driver: always; QEMU: needs a qcow2 disk — see notes)."""
        root = ET.Element("domainsnapshot")
        ET.SubElement(root, "name").text = course_name(name)
        if description:
            ET.SubElement(root, "description").text = description[:200]
        libvirt = _libvirt()
        try:
            snap = self.dom.snapshotCreateXML(ET.tostring(root, encoding="unicode"), 0)
        except libvirt.libvirtError as err:
            hint = ("" if self.embedded or self.spec.disk else
                    " — QEMU keeps internal snapshots in a qcow2 disk: boot with "
                    "vm(..., snapshot_disk=True)")
            raise VirtError(f"snapshot of {self.name} failed: {_err(err)}{hint}") from err
        return snap.getName()

    def snapshots(self) -> list[str]:
        return sorted(self.dom.snapshotListNames())

    def revert(self, name: str) -> None:
        """Go back to snapshot ``name``: RAM, devices and disk as they were when it was taken."""
        self.dom.revertToSnapshot(self.dom.snapshotLookupByName(name))
        if not self.embedded:
            self._reopen_console()  # the reverted QEMU state has a fresh console


# =========================================================================== boot and wait
def _on_lifecycle(guest: Guest) -> Any:
    libvirt = _libvirt()
    names = {getattr(libvirt, k): k[len("VIR_DOMAIN_EVENT_"):].lower() for k in dir(libvirt)
             if re.fullmatch(r"VIR_DOMAIN_EVENT_[A-Z]+", k) and k != "VIR_DOMAIN_EVENT_ID_LIFECYCLE"}

    def cb(_conn: Any, _dom: Any, event: int, detail: int, _opaque: Any) -> None:
        guest.events.append((round(time.monotonic() - guest._t0, 3), names.get(event, str(event)),
                             str(detail)))

    return cb


@contextlib.contextmanager
def vm(spec: DomainSpec | None = None, *, uri: str | None = None, boot_timeout: float = 60,
       wait_marker: bool = True, snapshot_disk: bool = False, guest_kernel: str | None = None,
       firmware: str = "course", **spec_args: Any) -> Iterator[Guest]:
    """Define + boot a course VM, wait for its marker, yield a :class:`Guest`; always remove it.

    ``spec`` or DomainSpec keyword arguments (``vm(name="demo", memory=96)``). On
    ``qemu:///system`` the boot is timed from create to the marker line; if the marker does not
    appear within ``boot_timeout`` seconds the domain is destroyed and DeadlineExceeded raised.
    On ``test:///default`` the domain "runs" at once (nothing boots; no marker, no console).
    ``snapshot_disk=True`` gives a QEMU guest a small scratch qcow2 disk, which is where QEMU
    keeps internal snapshots (RAM + devices); it is deleted with the domain.
    ``guest_kernel`` picks the course VM's kernel when ``spec.kernel`` is not set: "minimal"
    (the course's own, the default where built) or "stock" (the distribution's).
    ``firmware`` when ``spec.firmware`` is not set and the kernel is booted directly: "course"
    (``VIRTLAB_FIRMWARE``, by default qboot where installed), "auto", "qboot" or "seabios"
    (QEMU's default); see :func:`course_firmware`.
    """
    if spec is None:
        spec_args.setdefault("name", "vm-" + uuid.uuid4().hex[:6])
        spec = DomainSpec(**spec_args)
    elif spec_args:
        raise ValueError("give either a DomainSpec or its keyword arguments, not both")
    check_int(int(boot_timeout), minimum=1, maximum=600, what="boot_timeout (s)")
    # checked before anything is made (a bad firmware or VIRTLAB_FIRMWARE, a missing qboot)
    rom = course_firmware(None if firmware == "course" else firmware)
    conn = connect(uri)
    libvirt = _libvirt()
    test = is_test(conn)
    if test:
        accel = Accelerator("test", "test", "libvirt's in-process test driver: no guest runs")
        xml = spec.to_xml(domain_type="test")
    else:
        accel = accelerator()
        if spec.kernel is None:  # the course VM; a caller's own kernel boots only what it says
            try:
                a = artefacts(guest_kernel)
            except (MissingImage, ValueError):
                conn.close()
                raise
            if spec.memory_mib < a.min_memory_mib:
                conn.close()
                raise ValueError(f"the course VM's {a.name} kernel needs at least {a.min_memory_mib} "
                                 f"MiB (asked for {spec.memory_mib} MiB): give it more memory")
            spec = DomainSpec(**{**spec.__dict__, "kernel": spec.kernel or str(a.kernel),
                                 "initrd": spec.initrd or str(a.initrd)})
        if spec.kernel and spec.firmware is None and rom:
            # direct kernel boot: qboot where installed (measured: virtlab bench --boot-firmware)
            spec = DomainSpec(**{**spec.__dict__, "firmware": rom})
        if snapshot_disk and spec.disk is None:
            spec = DomainSpec(**{**spec.__dict__, "disk": str(_disk_dir() / f"{spec.name}.qcow2")})
        xml = spec.to_xml(domain_type=accel.domain_type)
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(spec.name)
        if not test:
            conn.close()
        raise ValueError(f"a domain named {spec.name} already exists: pick another name or run "
                         "`virtlab cleanup`")
    guest = Guest(conn, None, spec, accel)
    cb_id = None
    made_disk = None
    try:
        if spec.disk and not test and not os.path.exists(spec.disk):
            _make_qcow2(Path(spec.disk))
            made_disk = spec.disk
        try:
            guest.dom = conn.defineXML(xml)
        except libvirt.libvirtError as err:
            raise VirtError(f"libvirt refused the domain {spec.name}: {_err(err)}") from err
        if not test:
            cb_id = conn.domainEventRegisterAny(guest.dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                _on_lifecycle(guest), None)
        t0 = time.monotonic()
        guest._t0 = t0
        try:
            guest.dom.createWithFlags(0 if test else libvirt.VIR_DOMAIN_START_PAUSED)
        except libvirt.libvirtError as err:
            raise VirtError(f"{spec.name} did not start: {_err(err)}") from err
        if not test:
            guest.console = Console(conn, guest.dom)
            guest.dom.resume()
            if wait_marker:
                dl = Deadline(boot_timeout, f"{spec.name}: marker {MARKER} on the serial console",
                              "the domain was destroyed; the guest kernel or its /init did not "
                              "come up (see the serial log)")
                m = guest.console.read_until(_MARKER_RE.pattern, dl)
                guest.boot_seconds = time.monotonic() - t0
                guest.marker = {"release": m.group(1), "uptime_s": float(m.group(2)),
                                "cpus": int(m.group(3)), "pvpanic": m.group(4) == "yes"}
                guest._last_cmd_end = m.end()
        yield guest
    finally:
        if guest.console is not None:
            guest.console.close()
        if cb_id is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.domainEventDeregisterAny(cb_id)
        if guest.dom is not None:
            try:
                dom = conn.lookupByName(spec.name)
            except libvirt.libvirtError:
                dom = None  # already gone
            if dom is not None:
                _remove_domain(dom)
        if made_disk:
            with contextlib.suppress(OSError):
                os.unlink(made_disk)
        if not test:
            conn.close()


def boot_benchmark(memories: tuple[int, ...] = (96, 128, 256), repeat: int = 3,
                   uri: str = SYSTEM_URI) -> list[dict[str, Any]]:
    """Create -> marker time and QEMU RSS per guest size (one VM at a time)."""
    rows = []
    for mem in memories:
        check_int(mem, minimum=MIN_MEMORY_MIB, maximum=MAX_MEMORY_MIB, what="memory (MiB)")
        for i in range(repeat):
            with vm(name=f"bench-{mem}-{i}-{uuid.uuid4().hex[:4]}", memory=mem, uri=uri) as g:
                rows.append({"memory_mib": mem, "boot_s": g.boot_seconds,
                             "guest_uptime_s": g.marker.get("uptime_s"),
                             "qemu_rss_mib": (g.rss_bytes() or 0) / 1024**2})
    return rows
