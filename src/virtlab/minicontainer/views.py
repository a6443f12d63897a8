"""The container episode's view of the build demo."""
from __future__ import annotations

from virtlab import modes


def show_build(r: modes.Result) -> None:
    d = r.data
    for line in d["inside"]:
        print("inside |", line)
    h = d["host"]
    print(f"host   | started in {d['start_s'] * 1000:.0f} ms")
    print(f"host   | container init is pid {h['host_pid']} here")
    print(f"host   | namespaces of its own: {', '.join(h['own_namespaces'])}")
    print(f"host   | shared with the host: {', '.join(h['shared_namespaces']) or '-'}")
    print(f"host   | uid map: {h['uid_map']!r}")
    if "limits" in h:
        lim = h["limits"]
        print(f"host   | cgroup {h['cgroup']}: memory {lim['memory'] >> 20} MiB, pids {lim['pids']}, "
              f"cpu {lim['cpu_quota']}")
    else:
        print("host   | no cgroup limits (they need root or a delegated cgroup subtree): the "
              "container could use all memory")
