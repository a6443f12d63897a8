"""The two-dimensional page walk of nested paging (EPT/NPT), as a model you can step through.

With nested paging the guest's page tables hold *guest-physical* addresses. On a TLB miss the CPU
walks the guest's tables, but each guest table lives at a guest-physical address that must first
be translated through the host's (EPT/NPT) tables; and so must the final data address. With
``g`` guest levels and ``h`` host levels that is ``g`` guest entries, each preceded by a host walk
of ``h`` references, plus a last host walk of ``h``: ``g*h + g + h`` references, 24 for 4 x 4
(Bhargava et al., ASPLOS 2008). ``h = 0`` is a machine without nested paging (native: ``g``).
"""

from __future__ import annotations

from dataclasses import dataclass

from virtlab.safety import check_int


@dataclass(frozen=True)
class Ref:
    n: int  # 1-based position in the walk
    table: str  # "guest" or "host"
    level: int  # level of the table read (g..1 or h..1; 1 is the last level)
    purpose: str  # what this reference is for


def walk(guest_levels: int = 4, host_levels: int = 4) -> list[Ref]:
    """Every memory reference of one TLB miss, in order."""
    check_int(guest_levels, minimum=1, maximum=5, what="guest_levels (x86: 4, or 5 with LA57)")
    check_int(host_levels, minimum=0, maximum=5, what="host_levels (0 = no nested paging)")
    refs: list[Ref] = []

    def host_walk(for_what: str) -> None:
        for lvl in range(host_levels, 0, -1):
            refs.append(Ref(len(refs) + 1, "host", lvl, f"translate the gPA of {for_what}"))

    for lvl in range(guest_levels, 0, -1):
        host_walk(f"the guest's level-{lvl} table")
        refs.append(Ref(len(refs) + 1, "guest", lvl, f"read the guest's level-{lvl} entry"))
    host_walk("the data page")
    return refs


def references(guest_levels: int = 4, host_levels: int = 4) -> int:
    """How many memory references one TLB miss costs (the model's answer)."""
    return len(walk(guest_levels, host_levels))


def show_walk(guest_levels: int = 2, host_levels: int = 2) -> None:
    """Print the walk step by step, then the total."""
    for r in walk(guest_levels, host_levels):
        print(f"  {r.n:>2}. {r.table:<5} L{r.level}  {r.purpose}")
    print(f"total: {references(guest_levels, host_levels)} memory references "
          f"(native, without nested paging: {guest_levels})")
