"""Lab 3 — a VM with libvirt, and a guest on the raw KVM API.

t1 (4)  a course domain with *your* memory and vCPUs, running (libvirt reports it)
t2 (2)  the domain paused: its vCPUs stopped, its memory kept (libvirt reports it)
t3 (4)  registers that make the countdown guest print *your* countdown (the check runs it on KVM)

t1 and t2 also run on libvirt's embedded test driver (no guest runs there): they show the
method, but only a live run counts for a grade.
"""

from __future__ import annotations

import contextlib
from typing import Any

from virtlab import kvm, virt
from virtlab.labs import C, Lab, Task


def make_params(rng: Any, tag: str) -> dict[str, Any]:
    return {"domain": f"vl-lab3-{tag}", "memory_mib": rng.choice((64, 96, 128, 160)),
            "vcpus": rng.choice((1, 2)), "countdown": rng.randint(3, 9)}


@contextlib.contextmanager
def _domain(name: str):  # noqa: ANN202 - yields (conn, dom or None)
    libvirt = virt._libvirt()
    conn = virt.connect()
    try:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            dom = None
        yield conn, dom
    finally:
        if not virt.is_test(conn):
            conn.close()


def check_t1(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    with _domain(p["domain"]) as (_conn, dom):
        if dom is None:
            return [C("domain exists", False, p["domain"], "no such domain")]
        state, max_kib, _mem, vcpus, _cpu = dom.info()
        return [C("domain exists", True, p["domain"], dom.name()),
                C("course-owned", virt.is_course_domain(dom), True, virt.is_course_domain(dom)),
                C("memory", max_kib == p["memory_mib"] * 1024, p["memory_mib"] * 1024, max_kib),
                C("vCPUs", vcpus == p["vcpus"], p["vcpus"], vcpus),
                C("hidden: it was started", bool(dom.isActive()), "running or paused",
                  virt.STATES.get(state, "unknown"), hidden=True)]


def check_t2(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    with _domain(p["domain"]) as (_conn, dom):
        if dom is None:
            return [C("paused", False, "paused", "no such domain")]
        name = virt.state_name(dom)
        return [C("paused", name == "paused", "paused", name),
                C("hidden: persistent (defined, not transient)", bool(dom.isPersistent()), True,
                  bool(dom.isPersistent()), hidden=True)]


def check_t3(p: dict[str, Any], answers: dict[str, Any]) -> list[C]:
    regs = answers.get("t3")
    want = "".join(str(i) for i in range(p["countdown"], 0, -1)) + "\n"
    if not isinstance(regs, dict):
        return [C("guest output", False, want, f"no registers handed in (lab.answer('t3', ...)): {regs!r}")]
    try:
        res = kvm.run(kvm.countdown_program(), regs=regs, max_exits=50)
    except (ValueError, kvm.KvmError) as err:
        return [C("guest output", False, want, f"{type(err).__name__}: {err}")]
    return [C("guest output", res.output == want, want, res.output),
            C("hidden: one VM exit per character, plus HLT", len(res.exits) == len(want) + 1,
              len(want) + 1, len(res.exits), hidden=True)]


def cleanup(p: dict[str, Any]) -> list[str]:
    return virt.cleanup(prefix=p["domain"])


LAB = Lab(
    id="lab3", title="a VM with libvirt, a guest on the raw KVM API", sections=("libvirt", "kvm"),
    tasks=[
        Task("t1", "a domain with your memory and vCPUs", 4, "libvirt", check_t1,
             ("domain exists", "course-owned", "memory", "vCPUs", "hidden: it was started"),
             embedded_ok=True),
        Task("t2", "pause it", 2, "libvirt", check_t2,
             ("paused", "hidden: persistent (defined, not transient)"), embedded_ok=True),
        Task("t3", "registers for your countdown", 4, "kvm", check_t3,
             ("guest output", "hidden: one VM exit per character, plus HLT")),
    ],
    make_params=make_params, cleanup_fn=cleanup)
