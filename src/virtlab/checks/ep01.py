"""Self-checks for episode 01 (namespaces)."""

from __future__ import annotations

from typing import Any

from virtlab.checks import check_answer, verdict


def check_isolated(view: dict[str, Any]) -> bool:
    """Exercise 1: the child must be pid 1, see only its own process and only ``lo``."""
    ok = view.get("pid") == 1 and view.get("visible_processes") == 1 and view.get("interfaces") == ["lo"]
    bad = []
    if view.get("pid") != 1 or view.get("visible_processes") != 1:
        bad.append("it is not pid 1 with its own /proc (which two types give that?)")
    if view.get("interfaces") != ["lo"]:
        bad.append("it still sees the host's network interfaces")
    return verdict(ok, "the child is pid 1, alone in its /proc, with only a loopback interface",
                   "not yet: " + "; ".join(bad))


def check_hostname_and_uid(view: dict[str, Any], hostname: str = "vl-ex") -> bool:
    """Exercise 2: hostname ``vl-ex`` and uid 0 inside a user namespace mapped to a non-root uid."""
    mapped = view.get("uid_map", "").split()
    asked = view.get("requested", [])
    ok = (view.get("hostname") == hostname and view.get("uid") == 0 and len(mapped) == 3
          and mapped[1] != "0" and {"uts", "user"} <= set(asked))
    if ok is False and "user" not in asked:
        print("(hint: you did not ask for a user namespace yourself)")
    return verdict(ok, f"hostname {hostname!r} and root inside, an unprivileged uid outside",
                   f"not yet: hostname is {view.get('hostname')!r}, uid {view.get('uid')}, "
                   f"uid_map {view.get('uid_map')!r}")


def check_outside_uid(answer: object) -> bool:
    """Exercise 3: which uid does 'root' in the unprivileged user namespace have outside?"""
    return check_answer(answer, "04f720b424d7e324",
                        hint="look at the middle number of the uid_map line")
