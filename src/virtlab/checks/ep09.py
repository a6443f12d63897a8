"""Self-checks for episode 09 (choosing: claims ledger, density, decision)."""

from __future__ import annotations

from typing import Any

from virtlab import claims, decision, density
from virtlab.checks import verdict


def check_wrong_claims(ids: list[str] | set[str] | tuple[str, ...]) -> bool:
    """Exercise 1: the ids of every claim the ledger marks ``wrong``."""
    want = {c.id for c in claims.claims(verdict="wrong")}
    got = set(ids) if isinstance(ids, list | set | tuple) else set()
    missing, extra = want - got, got - want
    return verdict(not missing and not extra, f"yes: {len(want)} claims are wrong",
                   f"not yet — {len(missing)} missing, {len(extra)} not wrong "
                   "(hint: claims.claims(verdict='wrong'))")


def check_verdicts(answers: dict[str, str]) -> bool:
    """Exercise 1: the learner's verdicts for some ledger entries, compared with the ledger."""
    if not isinstance(answers, dict) or not answers:
        return verdict(False, "", "pass a dict {claim id: verdict}")
    if all(not str(v).strip() for v in answers.values()):
        return verdict(False, "", "not answered yet: fill in your verdict for each claim")
    wrong = []
    for cid, mine in answers.items():
        try:
            c = claims.get(cid)
        except LookupError as err:
            return verdict(False, "", str(err))
        mine = str(mine).strip().lower()
        if mine not in claims.VERDICTS:
            return verdict(False, "", f"{cid}: {mine!r} is not a verdict; one of {', '.join(claims.VERDICTS)}")
        if mine != c.verdict:
            wrong.append(c)
    for c in wrong:
        print(f"  {c.id}: you said {answers[c.id]!r}; the ledger's reasons:")
        claims.show_one(c.id)
    return verdict(not wrong, f"your {len(answers)} verdicts agree with the ledger",
                   f"{len(wrong)} of {len(answers)} differ — read the evidence above; if you "
                   "think the ledger is wrong, the data file is there to be corrected")


def check_next_bottleneck(limits: dict[str, int], answer: str) -> bool:
    """Exercise 2: after raising ``limits`` (e.g. inotify as LXD's guide says), what limits the
    number of containers in the exercise's scenario? ``answer`` is the bottleneck's name."""
    host = density.Host(ram_mib=24 * 1024, cpus=2)
    wl = density.Workload(ram_mib=64, cpu=0.05)
    ov = density.Overheads(container_mib=4, vm_mib=100, guest_os_mib=100)
    try:
        want = density.fit(host, wl, ov, limits)["containers"].bottleneck
    except ValueError as err:
        return verdict(False, "", f"those limits are not valid: {err}")
    return verdict(str(answer).strip() == want, f"yes: {want} bites next",
                   "not yet — run density.fit(...) with your limits and read .bottleneck")


def check_kata_wins(req: Any) -> bool:
    """Exercise 3: requirements for which Kata Containers is the top recommendation."""
    if not isinstance(req, decision.Requirements):
        return verdict(False, "", "pass a decision.Requirements(...)")
    best = decision.recommend(req).best
    return verdict(best is not None and best.key == "kata", "yes: Kata Containers comes first",
                   f"not yet — the best is {best.name if best else 'nothing'}; what does Kata "
                   "offer that Firecracker alone does not?")
