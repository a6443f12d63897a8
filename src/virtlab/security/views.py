"""The security episode's views: readable renderings of the demos' results."""
from __future__ import annotations

from typing import Any

from virtlab import modes
from virtlab.security.attempts import ATTEMPTS, HARMLESS
from virtlab.security.caps import DANGEROUS, decode_caps


def show_panic(r: modes.Result) -> None:
    d = r.data
    _print_kv([
        ("guest kernel", f"Linux {d['guest_release']} (its own; the host runs Linux {d['host_release']})"),
        ("victim after sysrq-c", f"{d['victim_state']}  ← libvirt saw the guest kernel panic"),
        ("victim's last console line", (d["panic_console"] or ["-"])[-1]),
        ("neighbour VM", f"{d['neighbour_state']}, answers: {'yes' if d['neighbour_answers'] else 'no'}"),
        ("neighbour kept counting", "yes" if d["neighbour_uptime_after_s"] > d["neighbour_uptime_before_s"] else "no"),
        ("host rebooted?", "no — same boot id" if d["host_same_boot"] else "YES"),
    ])


# --------------------------------------------------------------------------- views
def _print_kv(rows: list[tuple[str, Any]]) -> None:
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


def show_kernel(r: modes.Result) -> None:
    d = r.data
    _print_kv([("host: uname -r", f"Linux {d['host_release']}"),
               ("in new namespaces: uname -r", f"Linux {d['ns_release']}"),
               ("same /proc/version text", "yes" if d["ns_version"] == d["host_version"] else "no"),
               ("same kernel", "yes — one kernel serves both" if d["same_kernel"] else "no"),
               ("kernel.panic_on_oops", d["oops_knobs"].get("panic_on_oops")),
               ("kernel.panic (s before reboot)", d["oops_knobs"].get("panic"))])


def show_attempts(r: modes.Result | dict[str, Any]) -> None:
    """Print the probe's result: one line per attempt, with errno and reason."""
    d = r.data if isinstance(r, modes.Result) else r
    print(f"runner: {d['runner']}")
    print(f"uid map (inside → host): {d['uid_map']}   seccomp mode: {d['seccomp']}   "
          f"PID 1 it sees: {d.get('pid1') or '?'}")
    print(f"effective capabilities inside: {len(d['cap_eff'])}")
    print()
    for a in d["attempts"]:
        mark = "✗ blocked" if a["status"] != 0 else "✓ worked "
        print(f"{mark}  {a['action']}")
        print(f"           {a['errno'] or 'ok'}: {a['reason']}")


def root_equivalence(probe_data: dict[str, Any]) -> dict[str, list[str]]:
    """Which of the :data:`DANGEROUS` capabilities a probe run had, and which it lacked."""
    caps = set(probe_data["cap_eff"])
    return {"has": [c for c in DANGEROUS if c in caps], "lacks": [c for c in DANGEROUS if c not in caps]}


def show_lxd(r: modes.Result) -> None:
    """Both LXD runs: the must-fail attempts (unprivileged), the counterparts (privileged)."""
    d = r.data
    show_attempts(d["unprivileged"])
    pol = [ln for ln in d["unprivileged"].get("seccomp_policy", []) if "errno" in ln]
    print(f"LXD's seccomp policy for it: {', '.join(pol) or 'not readable'}")
    dev = d["unprivileged"].get("device_cgroup")
    if dev:
        print(f"its device cgroup: {', '.join(dev)}")
    print()
    p = d["privileged"]
    show_attempts(p)
    dev = p.get("device_cgroup")
    if dev:
        print(f"its device cgroup allows {len(dev)} entries: {', '.join(dev)}")
    eq = root_equivalence(p)
    print(f"dangerous capabilities it holds in the host's user namespace: "
          f"{', '.join('cap_' + c for c in eq['has'])}")
    print(f"... and the few LXD still drops: {', '.join('cap_' + c for c in eq['lacks']) or 'none'}")


def show_privileged(r: modes.Result) -> None:
    """The harmless counterparts as host root and in a privileged mini container, side by side."""
    host = {a["name"]: a for a in r.data["host"]["attempts"]}
    cont = {a["name"]: a for a in r.data["container"]["attempts"]}
    print(f"{'counterpart (harmless)':<70} {'host root':<10} privileged container")
    for name in HARMLESS:
        h, c = host.get(name), cont.get(name)
        cell = [("ok" if x["status"] == 0 else x["errno"] or "failed") if x else "-" for x in (h, c)]
        print(f"{ATTEMPTS[name][0]:<70} {cell[0]:<10} {cell[1]}")
    c = r.data["container"]
    eq = root_equivalence(c)
    print(f"\ncontainer uid map: {c['uid_map']}; capabilities: {len(c['cap_eff'])}, including "
          f"{', '.join('cap_' + x for x in eq['has'])}")


def show_surface(r: modes.Result) -> None:
    d = r.data
    print(f"system calls a process can make (libseccomp's x86-64 table): {d['syscalls_libseccomp']} "
          f"(highest number {d['syscall_max_nr']})")
    print(f"  cross-check, kernel headers installed here: {d['syscalls_headers']} __NR_ entries")
    x86 = d["hypercalls_x86"]
    print(f"KVM hypercalls in <linux/kvm_para.h>: {len(d['hypercalls_all'])} "
          f"(all architectures), {len(x86)} on x86 ({len(d['hypercalls_x86_active'])} of them not deprecated):")
    print("  " + ", ".join(sorted(x86, key=x86.get)))
    if d["qemu"]:
        print("devices a QEMU guest can reach (info qtree, no disk, no NIC):")
        for m in d["qemu"]:
            fdc = "yes" if "isa-fdc" in m["models"] else "no"
            print(f"  {m['machine']:<8} {m['devices']:>3} devices, {len(m['models']):>2} models; "
                  f"floppy controller (VENOM): {fdc}")
    else:
        print(f"QEMU devices: not measured ({d['qemu_error']})")


def surface_figure(r: modes.Result) -> Any:
    """Bar chart: syscalls vs hypercalls vs emulated device models (log scale)."""
    from virtlab import plots

    d = r.data
    labels = ["syscalls\n(container → kernel)", "KVM hypercalls\n(x86)"]
    values = [d["syscalls_libseccomp"], len(d["hypercalls_x86"])]
    for m in d["qemu"]:
        labels.append(f"QEMU device\nmodels ({m['machine']})")
        values.append(len(m["models"]))
    fig = plots.figure(figsize=(7, 3.2))
    ax = fig.subplots()
    ax.bar(labels, values, color=["#c0504d", "#4f81bd"] + ["#9bbb59"] * len(d["qemu"]))
    for i, v in enumerate(values):
        ax.text(i, v, str(v), ha="center", va="bottom")
    ax.set_ylabel("count (log scale)")
    ax.set_yscale("log")
    ax.set_ylim(1, max(values) * 3)
    ax.set_title("Interfaces an isolated workload can reach, measured here")
    fig.tight_layout()
    return fig


def show_capabilities(r: modes.Result) -> None:
    d = r.data
    _print_kv([("where", d["where"]),
               ("capabilities before", f"{len(decode_caps(d['cap_eff_before']))}"),
               ("raw socket before", d["raw_socket_before"]),
               ("capset(2) dropping", ", ".join("cap_" + c for c in d["dropped"]) + f" → {d['capset']}"),
               ("capabilities after", f"{len(decode_caps(d['cap_eff_after']))}"),
               ("raw socket after", d["raw_socket_after"])])


def show_seccomp(r: modes.Result | dict[str, Any]) -> None:
    d = r.data if isinstance(r, modes.Result) else r
    for key in ("errno", "kill"):
        s = d[key] if key in d else d
        b, a = s["status_before"], s.get("status_after", {})
        print(f"filter: {s['syscall']} → {'EPERM' if s['action'] == 'errno' else 'kill (SIGSYS)'}")
        print(f"  before: {s['syscall']}() → {s['before']}   (Seccomp: {b.get('Seccomp')}, "
              f"NoNewPrivs: {b.get('NoNewPrivs')})")
        print(f"  after:  {s['syscall']}() → {s['after']}   (Seccomp: {a.get('Seccomp')}, "
              f"filters: {a.get('Seccomp_filters')}, NoNewPrivs: {a.get('NoNewPrivs')})")
        print(f"  exit status of the child: {s['exit_status']}"
              + (f" (killed by {s['signal']})" if s.get("signal") else ""))
        if key not in d:
            break


def show_lsm(r: modes.Result) -> None:
    d = r.data
    aa, se = d["apparmor"], d["selinux"]
    built = {"y": "built in", "n": "not built in", "?": "unknown (no /proc/config.gz)"}
    _print_kv([
        ("active LSMs", ", ".join(d["active"]) if d["active"] else "unknown (securityfs not mounted)"),
        ("AppArmor", f"{built.get(aa['built_in'], aa['built_in'])}; enabled: {aa['enabled']}"),
        ("SELinux", f"{built.get(se['built_in'], se['built_in'])}; enforcing: {se['enforcing']}"),
        ("Landlock ABI", d["landlock_abi"]),
        ("Yama ptrace_scope", d["yama_ptrace_scope"] if d["yama_ptrace_scope"] is not None else "absent"),
    ])
