"""The libvirt episode's demos (``@modes.demo``): each returns JSON-able data, prints nothing."""
from __future__ import annotations

import os
import time
from typing import Any

# =========================================================================== demos (notebook 06)
from virtlab import modes
from virtlab.virt.base import SYSTEM_URI, TEST_URI
from virtlab.virt.conn import domain_facts, state_name
from virtlab.virt.domain import DomainSpec, spec_from_xml
from virtlab.virt.guest import vm


def _uri_for(backend: modes.Backend) -> str:
    return SYSTEM_URI if backend.mode == "live" else TEST_URI


def _host_facts() -> dict[str, Any]:
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return {"release": os.uname().release, "uptime_s": up}


@modes.demo("libvirt.lifecycle", section="libvirt", embedded=True)
def demo_lifecycle(backend: modes.Backend) -> dict[str, Any]:
    """define -> start -> suspend -> resume -> destroy -> undefine, with the state after each."""
    uri = _uri_for(backend)
    steps: list[list[str]] = []
    with vm(name="demo-life", memory=96, uri=uri, wait_marker=False) as g:
        steps.append(["defineXML() + create()", state_name(g.dom)])
        g.dom.suspend()
        steps.append(["suspend()", state_name(g.dom)])
        g.dom.resume()
        steps.append(["resume()", state_name(g.dom)])
        g.dom.destroy()
        steps.append(["destroy()", state_name(g.dom)])
        persistent = bool(g.dom.isPersistent())
        xml = spec_from_xml(g.dom.XMLDesc(0))
        events = [e[1] for e in g.events]
    steps.append(["undefine()", "gone" if domain_facts("demo-life", uri=uri) is None else "still defined"])
    return {"uri": uri, "steps": steps, "persistent": persistent, "xml": xml, "events": events}


@modes.demo("libvirt.boot", section="libvirt", embedded=False)
def demo_boot(backend: modes.Backend) -> dict[str, Any]:
    """Boot the course VM; the guest's kernel vs the host's; boot time; QEMU's host memory."""
    uri = _uri_for(backend)
    spec = DomainSpec(name="demo-boot", memory=128, vcpus=1)
    host = _host_facts()
    with vm(spec, uri=uri, boot_timeout=90) as g:
        out: dict[str, Any] = {
            "uri": uri, "name": g.name, "accelerator": g.accelerator.name,
            "accelerator_reason": g.accelerator.reason, "memory_mib": spec.memory_mib,
            "vcpus": spec.vcpus, "state": g.state()[0], "host": host,
            "xml": spec_from_xml(g.dom.XMLDesc(0)),
        }
        if not g.embedded:
            out["boot_s"] = round(g.boot_seconds or 0, 2)
            out["guest"] = {"release": g.marker["release"], "uptime_s": g.marker["uptime_s"],
                            "uname": g.run("uname -sr").output,
                            "meminfo": g.run("head -1 /proc/meminfo").output}
            out["qemu_rss_mib"] = round((g.rss_bytes() or 0) / 1024**2)
            out["events"] = [e[1] for e in g.events]
            out["qemu"] = g.process_facts()
    return out


@modes.demo("libvirt.crash", section="libvirt", embedded=False)
def demo_crash(backend: modes.Backend) -> dict[str, Any]:
    """Two guests; panic one kernel; the other guest and the host carry on."""
    uri = _uri_for(backend)
    host_before = _host_facts()
    with vm(name="demo-crash", memory=96, uri=uri, boot_timeout=90) as a, \
            vm(name="demo-calm", memory=96, uri=uri, boot_timeout=90) as b:
        b_before = b.run("cat /proc/uptime").output.split()[0]
        crash = a.crash()
        b_after = b.run("cat /proc/uptime").output.split()[0]
        host_after = _host_facts()
        return {
            "crashed": {"name": a.name, "state": crash["state"], "console": crash["console"],
                        "events": [e[1] for e in a.events]},
            "other": {"name": b.name, "state": b.state()[0], "uptime_before": float(b_before),
                      "uptime_after": float(b_after)},
            "host": {"release": host_before["release"],
                     "uptime_grew": host_after["uptime_s"] > host_before["uptime_s"]},
        }


@modes.demo("libvirt.save", section="libvirt", embedded=True)
def demo_save_restore(backend: modes.Backend) -> dict[str, Any]:
    """Save a running guest to a file and restore it; state written before survives."""
    uri = _uri_for(backend)
    with vm(name="demo-save", memory=128, uri=uri, boot_timeout=90) as g:
        if not g.embedded:
            g.run("echo written-before-save > /tmp/note")
        r = g.save_restore()
        out = {"uri": uri, "state_between": r["state_between"], "state_after": r["state_after"],
               "save_s": round(r["save_s"], 2), "restore_s": round(r["restore_s"], 2),
               "file_mib": round((r["file_bytes"] or 0) / 1024**2, 1), "memory_mib": 128}
        if not g.embedded:
            out["note_after"] = g.run("cat /tmp/note").output
        return out


@modes.demo("libvirt.snapshot", section="libvirt", embedded=True)
def demo_snapshot(backend: modes.Backend) -> dict[str, Any]:
    """Snapshot, change, revert: the guest forgets what happened after the snapshot."""
    uri = _uri_for(backend)
    with vm(name="demo-snap", memory=96, uri=uri, boot_timeout=90,
            snapshot_disk=True) as g:
        steps: list[str] = []
        if not g.embedded:
            g.run("echo before > /tmp/file")
        t0 = time.monotonic()
        g.snapshot("before")
        t_snap = time.monotonic() - t0
        steps.append("snapshot 'vl-before' taken")
        if not g.embedded:
            g.run("echo after > /tmp/file")
            steps.append(f"/tmp/file changed to {g.run('cat /tmp/file').output!r}")
        t1 = time.monotonic()
        g.revert("vl-before")
        t_revert = time.monotonic() - t1
        steps.append("reverted to 'vl-before'")
        if not g.embedded:
            steps.append(f"/tmp/file is {g.run('cat /tmp/file').output!r} again")
        return {"uri": uri, "steps": steps, "snapshots": g.snapshots(),
                "snapshot_s": round(t_snap, 2), "revert_s": round(t_revert, 2)}
