"""The KVM episode's views: the host's KVM facts, a program's exits, the round trip."""
from __future__ import annotations

from virtlab import modes
from virtlab.kvm.vmm import Program, RunResult, rip_at_out, rip_sentence, run


def show_host(r: modes.Result) -> None:
    d = r.data
    print(f"/dev/kvm present: {d['present']}; KVM API answers: {d['api_usable']} "
          f"(version {d['api_version']})")
    print(f"CPU flags of interest: {', '.join(d['flags']) or '-'}  (vmx/svm present: {d['vmx_svm']})")
    print(f"KVM provided by kvm-pvm (no VT-x): {d['pvm']}")
    print(f"libvirt guests use: {d['accelerator'].upper()} — {d['reason']}")


def show_program(r: modes.Result, which: str = "add") -> None:
    d = r.data[which]
    print("guest code at 0x1000 (16-bit real mode):")
    for line in d["listing"]:
        print("   " + line)
    print("VM exits, and what the hypervisor did:")
    for e in d["exits"]:
        print(f"  #{e['n']:<2} {e['reason']:<4} rip=0x{e['rip']:04x}  {e['detail']:<34} -> {e['action']}")
    if which == "add":
        print(f"result the guest wrote: {d['results']}")
        whose = "this machine" if r.live else "the machine this was recorded on"
        print(rip_sentence(rip_at_out(d["listing"], d["exits"]), whose))
    else:
        print(f"what the guest printed: {d['output']!r}")


def show_roundtrip(r: modes.Result) -> None:
    d = r.data
    print(f"{d['exits_per_run']} VM exits per run; median {d['us_per_exit_median']} µs per exit "
          "(guest -> KVM -> Python -> guest)")


def run_and_show(program: Program, regs: dict[str, int] | None = None) -> RunResult | None:
    """Run ``program`` when the kvm section is live here and print its exits; else say why not."""
    b = modes.resolve("kvm", has_embedded=False)
    if b.mode != "live":
        print(f"[virtlab] kvm: not run ({b.reason or b.mode}) — this needs a usable /dev/kvm; "
              "the recorded run above shows what happens")
        return None
    print(b.banner())
    res = run(program, regs=regs)
    show_exits(res)
    print(rip_sentence(rip_at_out(program.listing, [e.as_dict() for e in res.exits]), "this machine"))
    return res


def show_exits(res: RunResult) -> None:
    """Print a run's exits and what the guest sent to the two devices."""
    for e in res.exits:
        print(f"  #{e.n:<2} {e.reason:<4} rip=0x{e.rip:04x}  {e.detail:<34} -> {e.action}")
    if res.results:
        print(f"result port received: {res.results}")
    if res.output:
        print(f"serial port received: {res.output!r}")
