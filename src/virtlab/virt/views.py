"""The libvirt episode's views: readable renderings of the demos' results (with a real run's
recording where the embedded driver has no guest).
"""
from __future__ import annotations

# =========================================================================== demos (notebook 06)
from virtlab import modes


def _show_lifecycle(r: modes.Result) -> None:
    d = r.data
    x = d["xml"]
    print(f"{x['name']} on {d['uri']}: <domain type='{x['type']}'>, {x['memory_mib']} MiB, "
          f"{x['vcpus']} vCPU, owner {x['owner']}, persistent: {d['persistent']}")
    for call, state in d["steps"]:
        print(f"  {call:<24} -> {state}")
    if d["events"]:
        print(f"  lifecycle events received: {', '.join(d['events'])}")
    else:
        print("  (lifecycle events are collected from a real libvirtd only)")


def show_boot(r: modes.Result) -> None:
    """Print a deterministic view of the ``libvirt.boot`` demo."""
    d = r.data
    print(f"domain {d['xml']['name']} on {d['uri']}: {d['memory_mib']} MiB, {d['vcpus']} vCPU, "
          f"<domain type='{d['xml']['type']}'>, state: {d['state']}")
    print(f"  owner metadata: {d['xml']['owner']}")
    print(f"  host kernel : Linux {d['host']['release']}")
    if "guest" not in d:
        print("  guest       : none — the test driver keeps a domain's state, it runs no guest")
        return
    print(f"  accelerator : {d['accelerator'].upper()} ({d['accelerator_reason']})")
    print(f"  guest kernel: {d['guest']['uname']}  (a kernel of its own, booted by QEMU)")
    print(f"  guest {d['guest']['meminfo']}")
    print(f"  create -> marker: {d['boot_s']} s (guest uptime at the marker {d['guest']['uptime_s']} s)")
    print(f"  QEMU process on the host: {d['qemu_rss_mib']} MiB resident for a {d['memory_mib']} MiB guest")
    print(f"  lifecycle events: {', '.join(d['events'])}")
    q = d.get("qemu")
    if q:
        print(f"  on the host it is one process: {q['exe']}, user {q['user']}, {q['threads']} threads")
        for a in q["args"]:
            print(f"      {a}")


def show_crash(r: modes.Result) -> None:
    d = r.data
    c, o = d["crashed"], d["other"]
    print(f"{c['name']}: guest kernel panicked (sysrq 'c'); libvirt reports state: {c['state']}")
    for line in c["console"]:
        print(f"   console| {line}")
    print(f"   lifecycle events: {', '.join(c['events'])}")
    print(f"{o['name']}: state {o['state']}, still answering; its uptime kept growing: "
          f"{o['uptime_after'] >= o['uptime_before']}")
    print(f"host (Linux {d['host']['release']}): still up, uptime kept growing: {d['host']['uptime_grew']}")


def _show_save_restore(r: modes.Result) -> None:
    d = r.data
    print(f"save: domain -> {d['state_between']} ({d['save_s']} s); "
          f"restore: -> {d['state_after']} ({d['restore_s']} s)")
    print(f"  state file: {d['file_mib']} MiB for a {d['memory_mib']} MiB guest")
    if "note_after" in d:
        print(f"  /tmp/note inside the guest after restore: {d['note_after']!r}")
    else:
        print("  (test driver: the state file holds the domain XML only; no guest RAM)")


def _show_snapshot(r: modes.Result) -> None:
    for i, s in enumerate(r.data["steps"], 1):
        print(f"{i}. {s}")
    print(f"snapshots of the domain: {', '.join(r.data['snapshots'])}")


# the views: after an embedded run (libvirt's test driver, no guest) each also prints the
# recording of a real run, labelled RECORDED (``real=False`` leaves it out)
show_lifecycle = modes.view_with_real_run(_show_lifecycle)


show_save_restore = modes.view_with_real_run(_show_save_restore)


show_snapshot = modes.view_with_real_run(_show_snapshot)
