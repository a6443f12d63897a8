"""Connections to libvirt (qemu:///system, test:///default), domain state, ownership, definition and
cleanup.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from virtlab import LIBVIRT_METADATA_NS, OWNER_VALUE, PREFIX, modes, owners

# =========================================================================== demos (notebook 06)
from virtlab.core.registry import cleans
from virtlab.safety import (
    cleanup_all,
    course_name,
)
from virtlab.virt.base import SYSTEM_URI, TEST_URI, VirtError
from virtlab.virt.domain import DomainSpec, accelerator, spec_from_xml

ET.register_namespace("virtlab", LIBVIRT_METADATA_NS)


# =========================================================================== connections
def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError as err:
        raise VirtError("libvirt-python is not installed: `make lab` installs it (it needs "
                        "libvirt-dev + pkg-config to build)") from err
    from virtlab.probe import silence_libvirt

    silence_libvirt()
    return libvirt


_EVENT_LOCK = threading.Lock()


_EVENT_LOOP: threading.Thread | None = None


def _ensure_event_loop() -> None:
    """libvirt's default event loop in a daemon thread (lifecycle events, console streams)."""
    global _EVENT_LOOP
    libvirt = _libvirt()
    with _EVENT_LOCK:
        if _EVENT_LOOP is not None:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        _EVENT_LOOP = threading.Thread(target=loop, daemon=True, name="virtlab-libvirt-events")
        _EVENT_LOOP.start()


_TEST_CONN: Any = None


def _close_test_conn() -> None:
    global _TEST_CONN
    if _TEST_CONN is not None:
        with contextlib.suppress(Exception):
            _TEST_CONN.close()
        _TEST_CONN = None


def default_uri() -> str:
    """``qemu:///system`` when the libvirt section runs live here, else ``test:///default``."""

    b = modes.resolve("libvirt")
    return SYSTEM_URI if b.mode == "live" else TEST_URI


def connect(uri: str | None = None) -> Any:
    """Open a libvirt connection (default: :func:`default_uri`); clear error when impossible."""
    global _TEST_CONN
    libvirt = _libvirt()
    uri = uri or default_uri()
    if uri == TEST_URI:
        # the test driver's state lives only while a connection is open: keep one for the process
        if _TEST_CONN is not None:
            try:
                _TEST_CONN.getURI()  # somebody may have closed the shared connection
            except Exception:  # noqa: BLE001 - reopen below
                _TEST_CONN = None
        if _TEST_CONN is None:
            _TEST_CONN = libvirt.open(TEST_URI)
            atexit.register(_close_test_conn)
        return _TEST_CONN
    _ensure_event_loop()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise VirtError(f"cannot connect to {uri}: {err.get_error_message()}. Is libvirtd "
                        "running and are you in the `libvirt` group? (sudo labs/lab-vm/provision.sh)") from err


def is_test(conn: Any) -> bool:
    return conn.getURI().startswith("test:")


def _err(err: Exception) -> str:
    return err.get_error_message() if hasattr(err, "get_error_message") else str(err)


STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
          6: "crashed", 7: "pmsuspended"}


def state_name(dom: Any) -> str:
    return STATES.get(dom.state()[0], "unknown")


def _owner_element(dom: Any) -> ET.Element | None:
    """The course's metadata element of ``dom`` (None: absent, unreadable or not XML)."""
    libvirt = _libvirt()
    try:
        xml = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, LIBVIRT_METADATA_NS)
    except libvirt.libvirtError:
        return None
    try:
        return ET.fromstring(xml)
    except ET.ParseError:
        return None


def is_course_domain(dom: Any) -> bool:
    """Both marks: the ``vl-`` name and the course metadata element."""
    if not dom.name().startswith(PREFIX):
        return False
    el = _owner_element(dom)
    return el is not None and (el.text or "").strip() == OWNER_VALUE


def domain_uid(dom: Any) -> int | None:
    """The uid recorded as the course domain's creator (None: not recorded)."""
    el = _owner_element(dom)
    return None if el is None else owners.parse_uid(el.get(owners.LIBVIRT_UID_TAG))


def _remove_domain(dom: Any) -> None:
    libvirt = _libvirt()
    if dom.isActive():
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()
    if dom.isPersistent():
        flags = (libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                 | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        if not is_test(dom.connect()):  # the test driver knows no checkpoints
            flags |= getattr(libvirt, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0)
        dom.undefineFlags(flags)


#: where learners keep disks qemu:///system's QEMU (user libvirt-qemu) must open: a learner's
#: home may be closed to it, so provisioning makes this sticky, world-writable folder
SHARED_DISK_DIR = Path("/var/lib/virtlab/disks")


def _disk_dir() -> Path:
    from virtlab.rootfs import data_dir

    if os.geteuid() != 0 and SHARED_DISK_DIR.is_dir() and os.access(SHARED_DISK_DIR, os.W_OK | os.X_OK):
        return SHARED_DISK_DIR
    d = data_dir() / "disks"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    return d


def _make_qcow2(path: Path, size: str = "64M") -> None:
    qemu_img = shutil.which("qemu-img")
    if qemu_img is None:
        raise VirtError("qemu-img is needed for a snapshot disk (Debian: apt-get install qemu-utils)")
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", str(path), size], check=True,
                   capture_output=True, timeout=30)
    os.chmod(path, 0o644)


def define_domain(spec: DomainSpec, *, uri: str | None = None) -> str:
    """Define (not start) a course domain — e.g. for an exercise; returns its name."""
    libvirt = _libvirt()
    conn = connect(uri)
    try:
        dtype = "test" if is_test(conn) else accelerator().domain_type
        try:
            return conn.defineXML(spec.to_xml(domain_type=dtype)).name()
        except libvirt.libvirtError as err:
            raise VirtError(f"libvirt refused the domain {spec.name}: {_err(err)}") from err
    finally:
        if not is_test(conn):
            conn.close()


SESSION_URI = "qemu:///session"


def session_socket() -> Path:
    """Where the caller's own ``qemu:///session`` daemon listens (libvirt's rule)."""
    run = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(run) if run else Path.home() / ".cache"
    return base / "libvirt" / "libvirt-sock"


def session_running() -> bool:
    """Whether the caller's per-user libvirt daemon is up (non-root only)."""
    return os.geteuid() != 0 and session_socket().is_socket()


def course_domains(conn: Any) -> list[str]:
    return sorted(d.name() for d in conn.listAllDomains() if is_course_domain(d))


@cleans(order=10)  # VMs first: their disks and the daemons' lists
def cleanup(uris: tuple[str, ...] | None = None, *, prefix: str = PREFIX) -> list[str]:
    """Destroy + undefine course domains (``vl-`` name *and* course metadata) only.

    ``prefix`` narrows it further (a test removes only the domains it made). Scratch snapshot
    disks left by a killed kernel go too. Every step is tried; failures are raised together.
    """
    libvirt = _libvirt()
    from virtlab import probe

    if not prefix.startswith(PREFIX):
        raise ValueError(f"prefix must start with {PREFIX!r}")
    if uris is None:
        info = probe.libvirt_info()
        uris = tuple(u for u in (SYSTEM_URI,) if info.uris.get(u, {}).get("ok")) + (TEST_URI,)
        if session_running():  # a learner's own per-user daemon (never started just to clean)
            uris = (SESSION_URI, *uris)
    steps = []
    for uri in uris:
        try:
            conn = connect(uri) if uri == TEST_URI else libvirt.open(uri)
        except (libvirt.libvirtError, VirtError):
            continue
        for dom in conn.listAllDomains():
            # only the caller's own domains, unless root asked for every user's
            if dom.name().startswith(prefix) and is_course_domain(dom) \
                    and owners.mine(domain_uid(dom)):
                steps.append((f"domain {dom.name()} ({uri})", lambda d=dom: _remove_domain(d)))
    with contextlib.suppress(OSError):
        for disk in sorted(_disk_dir().glob(f"{prefix}*.qcow2")):
            # in the shared folder a learner removes only their own disks (root: every one)
            if owners.path_is_mine(disk):
                steps.append((f"disk {disk}", disk.unlink))
    return _run_steps(steps)


def _run_steps(steps: list[tuple[str, Any]]) -> list[str]:
    return cleanup_all(steps)


def undefine_domain(name: str, *, uri: str | None = None) -> bool:
    """Remove one course domain by name (refuses anything the course did not create)."""
    libvirt = _libvirt()
    full = course_name(name)
    conn = connect(uri)
    try:
        try:
            dom = conn.lookupByName(full)
        except libvirt.libvirtError:
            return False
        if not is_course_domain(dom):
            raise ValueError(f"{full} was not created by the course (no course metadata): "
                             "leaving it alone")
        _remove_domain(dom)
        return True
    finally:
        if not is_test(conn):
            conn.close()


def domain_facts(name: str, *, uri: str | None = None) -> dict[str, Any] | None:
    """Name, type, memory MiB, vCPUs, owner of a defined domain — None when there is none."""
    libvirt = _libvirt()
    conn = connect(uri)
    try:
        try:
            dom = conn.lookupByName(course_name(name))
        except libvirt.libvirtError:
            return None
        facts = spec_from_xml(dom.XMLDesc(0))
        facts["state"] = state_name(dom)
        return facts
    finally:
        if not is_test(conn):
            conn.close()
