"""The namespaces episode's views: readable renderings of the demos' results."""
from __future__ import annotations

import socket

from virtlab import modes


def show_view(r: modes.Result, *keys: str) -> None:
    """Print chosen fields of a child's view, and whether the host sees the same."""
    v, host = r.data["view"], r.data["host"]
    print(f"child in new {' + '.join(r.data['types'])} namespace(s)"
          + (", created by an unprivileged user" if r.data["unprivileged"] else ", created by root"))
    # inside a user namespace, compare the uid with the one that made it (its uid map's middle
    # field: 65534 when root ran the demo as nobody, your own uid otherwise), not with whoever
    # happens to run this notebook
    outside = dict(host)
    umap = str(v.get("uid_map") or "").split()
    if "user" in r.data["types"] and len(umap) >= 2 and umap[1].isdigit():
        outside["uid"] = int(umap[1])
    for k in keys:
        val = v[k]
        shown = ", ".join(val) if isinstance(val, list) else val
        print(f"  {k:<18} {shown!s:<22} {'(same as the host)' if val == outside.get(k) else '(host differs)'}")


def show_tour(r: modes.Result) -> None:
    d = r.data
    h = d["host"]
    c = d["children"]
    print(f"as {'an unprivileged user (uid 0 inside a user namespace; see its uid_map)' if d['unprivileged'] else 'root'}")
    print(f"uts : hostname inside = {c['uts']['hostname']!r}; host's hostname unchanged: "
          f"{socket.gethostname() == h['hostname']}")
    print(f"pid : my pid inside = {c['pid']['pid']}; processes I can see = {c['pid']['visible_processes']}")
    print(f"net : interfaces inside = {c['net']['interfaces']}")
    print(f"user: uid inside = {c['user']['uid']}; uid_map = {c['user']['uid_map']!r}")
    print(f"time: uptime inside = host + {round(c['time']['uptime_days'] - h['uptime_days'])} days")


def show_veth(r: modes.Result) -> None:
    d = r.data
    print("side a:", *d["a"], sep="\n  ")
    print("side b:", *d["b"], sep="\n  ")
    rt = d["roundtrip"]
    print(f"TCP echo a -> {rt['peer']} ({rt['messages']} messages): median {rt['median_s'] * 1e6:.0f} µs")
    print(f"both namespaces removed afterwards: {d['removed']}")
