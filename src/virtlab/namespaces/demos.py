"""The namespaces episode's demos (``@modes.demo``): each returns JSON-able data, prints nothing."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from virtlab import modes
from virtlab.namespaces.inside import view
from virtlab.namespaces.launcher import mount, run
from virtlab.namespaces.netns import VethPair, course_netns
from virtlab.namespaces.procns import MS_NODEV, MS_NOSUID, observe


# --------------------------------------------------------------------------- demos
def _backend_unpriv(backend: modes.Backend) -> bool:
    """Only a live backend served as root runs the demos as root."""
    return not backend.privileged


@modes.demo("namespaces.tour", section="namespaces", embedded=True)
def demo_tour(backend: modes.Backend) -> dict[str, Any]:
    """One child per namespace type; what it sees compared with the host."""
    unpriv = _backend_unpriv(backend)
    host = observe()
    out: dict[str, Any] = {"unprivileged": unpriv, "host": host, "children": {}}
    for t in ("uts", "pid", "net", "user", "time"):
        types = {"pid": ["pid", "mnt"], "time": ["time"]}.get(t, [t])
        # the user namespace is always shown unprivileged: that is its point
        out["children"][t] = view(types, unprivileged=unpriv or t == "user",
                                  boottime_offset=86400 * 1000 if t == "time" else None)
    return out


def _view_demo(types: list[str], **kw: Any) -> Callable[[modes.Backend], dict[str, Any]]:
    def fn(backend: modes.Backend) -> dict[str, Any]:
        # the user namespace is always shown unprivileged: that is its point
        unpriv = _backend_unpriv(backend) or "user" in types
        return {"types": types, "unprivileged": unpriv,
                "view": view(types, unprivileged=unpriv, **kw), "host": observe()}
    return fn


for _key, _types, _kw in (("uts", ["uts"], {"hostname": "vl-inside"}),
                          ("pid", ["pid", "mnt"], {}),
                          ("net", ["net"], {}),
                          ("user", ["user"], {}),
                          ("time", ["time"], {"boottime_offset": 86400 * 1000})):
    modes.demo(f"namespaces.{_key}", section="namespaces", embedded=True)(_view_demo(_types, **_kw))


def _private_mount_probe() -> dict[str, Any]:
    mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
    Path("/mnt/hello.txt").write_text("only in here\n")
    return {"inside": sorted(os.listdir("/mnt")), "mounts": observe()["mounts"]}


@modes.demo("namespaces.mounts", section="namespaces", embedded=True)
def demo_mounts(backend: modes.Backend) -> dict[str, Any]:
    """A tmpfs mounted on /mnt inside a mount namespace is invisible to the host."""
    inside = run(_private_mount_probe, ["mnt"], unprivileged=_backend_unpriv(backend))
    return {"inside": inside["inside"], "host_sees": "hello.txt" in os.listdir("/mnt")}


@modes.demo("namespaces.veth", section="namespaces",
            requires=modes.needs_root("it makes named network namespaces in /run/netns"))
def demo_veth(backend: modes.Backend) -> dict[str, Any]:
    """Two network namespaces joined by a veth pair; a TCP echo through it."""
    with VethPair("demo") as v:
        a = [line for line in v.addresses(0) if line.strip()]
        b = [line for line in v.addresses(1) if line.strip()]
        rt = v.tcp_roundtrip(50)
        names = list(v.ns)
    gone = not any(n in course_netns() for n in names)
    return {"a": a, "b": b, "roundtrip": rt, "removed": gone, "netns": names}
