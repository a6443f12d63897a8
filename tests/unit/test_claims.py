"""The claims ledger must cover every factual claim of the seed article."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from virtlab import claims

#: Every factual claim of the seed article (a distinctive fragment of each). The ledger must hold
#: a claim whose quote contains the fragment; add a ledger entry when you add a line here.
SEED_CLAIMS = (
    "share the host kernel while maintaining separate user spaces",
    "completely isolated environments",
    "similar to Solaris Zones or FreeBSD Jails",
    "consume minimal system resources",
    "6,000 containers with 12,000 root filesystem directory mounts",
    "creation and destruction happens in seconds",
    "propagate automatically to all containers",
    "No virtualization overhead",
    "focuses primarily on application isolation",
    "suitable for microservices",
    "hardware-assisted virtualization built directly into the Linux kernel",
    "full virtualization of x86 hardware platforms",
    "complete isolation from the host system",
    "Run Linux, Windows, BSD",
    "dedicated virtual CPU, memory, and I/O resources",
    "without downtime",
    "Complete kernel separation prevents cross-contamination",
    "point-in-time VM backups",
    "require significantly more resources than containers",
    "ideal for enterprise environments requiring mixed OS",
    "1-5 seconds",
    "30-60 seconds",
    "Minimal (shared kernel)",
    "Near-native (99%+)",
    "5-10% virtualization overhead",
    "Duplicate OS files per VM",
    "Virtual network layer overhead",
    "Performance benchmarks consistently show",
    "creating potential attack vectors",
    "affect the entire host system",
    "other VMs and the host system remain unaffected",
    "management complexity",
    "without sacrificing performance",
    "requiring rapid scaling",
    "requiring live migration capabilities",
    "strict resource separation",
    "often combines both technologies",
    "VPS hosting solution",
    "revolutionized LXC deployment",
    "OpenStack, oVirt, and Proxmox",
    "rather than pure technical capabilities",
)

SEED_DIRS = (Path(__file__).resolve().parents[3] / "shared" / "seed", Path("/work/shared/seed"))


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def test_every_seed_claim_is_in_the_ledger():
    quotes = [_norm(c.quote) for c in claims.CLAIMS]
    missing = [s for s in SEED_CLAIMS if not any(s in q for q in quotes)]
    assert not missing, f"seed claims without a ledger entry: {missing}"


def test_every_ledger_claim_answers_a_listed_seed_claim():
    orphans = [c.id for c in claims.CLAIMS if not any(s in _norm(c.quote) for s in SEED_CLAIMS)]
    assert not orphans, f"ledger entries not listed in SEED_CLAIMS: {orphans}"


def test_quotes_are_verbatim_seed_text():
    seed = next((d for d in SEED_DIRS if d.is_dir() and any(d.glob("*.txt"))), None)
    if seed is None:
        pytest.skip("the seed article (shared/seed) is not beside the repository")
    text = _norm(" ".join(p.read_text() for p in seed.glob("*.txt")))
    not_found = [c.id for c in claims.CLAIMS if _norm(c.quote) not in text]
    assert not not_found, f"quotes that are not verbatim seed text: {not_found}"


def test_ledger_is_well_formed():
    ids = claims.ids()
    assert len(ids) == len(set(ids))
    for c in claims.CLAIMS:
        assert c.verdict in claims.VERDICTS, c.id
        assert c.topic in claims.TOPICS, c.id
        assert c.evidence, f"{c.id} has no evidence"
        assert len(c.why) > 40, c.id
        for e in c.evidence:
            assert e.kind in claims.EVIDENCE_KINDS, c.id
            if e.kind == "source":
                assert e.where.startswith("https://"), (c.id, e.where)
            if e.kind == "live":
                assert "episode" in e.where, (c.id, e.where)
            if e.kind == "measurement":
                assert "virtlab bench" in e.where, (c.id, e.where)


def test_wrong_and_partly_claims_carry_external_or_measured_evidence():
    for c in claims.CLAIMS:
        if c.verdict in ("wrong", "partly"):
            kinds = {e.kind for e in c.evidence}
            assert kinds & {"source", "measurement", "live"}, c.id


def test_known_verdicts():
    assert claims.get("lxc-density-6000").verdict == "unsupported"
    assert claims.get("table-startup-kvm").verdict == "wrong"
    assert claims.get("orch-revolutionised-lxc").verdict == "wrong"
    assert claims.get("lxc-app-isolation-focus").verdict == "wrong"
    assert claims.get("kvm-live-migration-no-downtime").verdict == "partly"


def test_counts_and_filters():
    cs = claims.counts()
    assert list(cs) == list(claims.VERDICTS)
    assert sum(cs.values()) == len(claims.CLAIMS)
    assert all(c.verdict == "wrong" for c in claims.claims(verdict="wrong"))
    assert len(claims.table("performance")) == len(claims.claims("performance"))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        claims.claims(topic="nope")
    with pytest.raises(ValueError, match="choose one of"):
        claims.claims(verdict="maybe")
    with pytest.raises(LookupError, match="ids"):
        claims.get("no-such-claim")


def test_show_prints_every_claim(capsys):
    claims.show()
    out = capsys.readouterr().out
    assert out.count("seed: “") == len(claims.CLAIMS)
