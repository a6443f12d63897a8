"""The claims ledger: every factual claim of the seed article, with a verdict and its evidence.

The seed article ("KVM vs LXC", in ``shared/seed/``) is the course's source brief. Each claim is
quoted (a verbatim fragment of one sentence of the seed), given a verdict and backed by evidence
of one of three kinds:

``live``         a cell of the course that shows it on the learner's own machine (episode + what)
``measurement``  a row of the benchmark (``virtlab bench``; episode 08)
``source``       a published source (paper, specification, project documentation), with its URL

Verdicts: ``holds`` (true as written), ``partly`` (true with important conditions the seed
leaves out), ``wrong`` (false or outdated), ``unsupported`` (no evidence could be found, or the
statement is an opinion that cannot be checked).

The entries live in ``virtlab/data/claims.json``; sentences of the article that state nothing
checkable (headings, advice, page furniture) are listed there under ``not_claims``, so that
``tests/unit/test_claims.py`` can split the article into sentences and find any that has neither.
"""

from __future__ import annotations

import html
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

VERDICTS = ("holds", "partly", "wrong", "unsupported")
EVIDENCE_KINDS = ("live", "measurement", "source")
TOPICS = ("containers", "kvm", "performance", "security", "use-cases", "orchestration")


@dataclass(frozen=True)
class Evidence:
    kind: str  # one of EVIDENCE_KINDS
    what: str  # one line: what it shows
    where: str  # episode/cell, benchmark metric, or URL


@dataclass(frozen=True)
class Claim:
    id: str
    topic: str
    quote: str  # verbatim fragment of the seed article
    verdict: str
    why: str
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- the data file
#: The ledger itself: a JSON file a teacher can edit (``virtlab/data/claims.json``). Evidence of
#: kind ``source`` may name a key of its ``sources`` table instead of spelling out the URL.
DATA_FILE = Path(__file__).with_name("data") / "claims.json"


def _load(path: Path = DATA_FILE) -> tuple[tuple[Claim, ...], tuple[dict[str, str], ...], dict[str, str]]:
    """(claims, not-a-claim sentences, sources) from the data file, validated."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    sources: dict[str, str] = raw.get("sources", {})
    out = []
    for c in raw["claims"]:
        ev = tuple(Evidence(e["kind"], e["what"], sources.get(e["where"], e["where"]))
                   for e in c["evidence"])
        claim = Claim(c["id"], c["topic"], c["quote"], c["verdict"], c["why"], ev)
        if claim.verdict not in VERDICTS or claim.topic not in TOPICS:
            raise ValueError(f"{path}: claim {claim.id!r} has verdict {claim.verdict!r} / topic "
                             f"{claim.topic!r}; verdicts: {VERDICTS}, topics: {TOPICS}")
        out.append(claim)
    return tuple(out), tuple(raw.get("not_claims", ())), sources


CLAIMS, NOT_CLAIMS, SOURCES = _load()


# --------------------------------------------------------------------------- the article
def norm(text: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(text.split())


def article_sentences(text: str) -> list[str]:
    """The article split into sentences: each table row is one; list bullets lose their "- ";
    prose is split after ``.``, ``!`` or ``?`` followed by a capital letter or digit."""
    import re

    out: list[str] = []
    for line in text.splitlines():
        line = norm(line)
        if not line:
            continue
        if line.startswith("|"):
            out.append(line)
            continue
        line = re.sub(r"^[-*•] ", "", line)
        out.extend(p for p in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", line) if p)
    return out


def coverage(sentences: list[str]) -> dict[str, list[str]]:
    """For each sentence: the ids of the ledger entries quoting from it, or ``["not a claim"]``
    if it is listed as such, or ``[]`` if it has neither (a gap in the ledger)."""
    skip = {norm(n["sentence"]) for n in NOT_CLAIMS}
    out = {}
    for s in sentences:
        ids = [c.id for c in CLAIMS if norm(c.quote) in s]
        out[s] = ids or (["not a claim"] if s in skip else [])
    return out


# --------------------------------------------------------------------------- access
def claims(topic: str | None = None, verdict: str | None = None) -> list[Claim]:
    """The ledger, optionally filtered by topic and/or verdict (both validated)."""
    if topic is not None and topic not in TOPICS:
        raise ValueError(f"unknown topic {topic!r}; choose one of: {', '.join(TOPICS)}")
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; choose one of: {', '.join(VERDICTS)}")
    return [c for c in CLAIMS if (topic is None or c.topic == topic)
            and (verdict is None or c.verdict == verdict)]


def get(claim_id: str) -> Claim:
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise LookupError(f"no claim {claim_id!r} in the ledger; list them with virtlab.claims.ids()")


def ids() -> list[str]:
    return [c.id for c in CLAIMS]


def counts() -> dict[str, int]:
    """How many claims have each verdict (every verdict listed, in VERDICTS order)."""
    return {v: sum(1 for c in CLAIMS if c.verdict == v) for v in VERDICTS}


def table(topic: str | None = None):  # noqa: ANN201 - pandas is imported lazily
    """The ledger as a pandas DataFrame (id, topic, claim, verdict, evidence kinds, sources)."""
    import pandas as pd

    rows = [{"id": c.id, "topic": c.topic, "claim": c.quote, "verdict": c.verdict,
             "evidence": ", ".join(sorted({e.kind for e in c.evidence})),
             "sources": len([e for e in c.evidence if e.kind == "source"])}
            for c in claims(topic)]
    return pd.DataFrame(rows)


BADGE_COLOURS = {"holds": "#1a7f37", "partly": "#9a6700", "wrong": "#cf222e", "unsupported": "#57606a"}


def rows(topic: str | None = None, verdict: str | None = None) -> list[dict[str, str]]:
    """One plain row per claim: id, topic, verdict, the article's words, why, evidence (pure)."""
    return [{"id": c.id, "topic": c.topic, "verdict": c.verdict, "claim": c.quote, "why": c.why,
             "evidence": "; ".join(f"{e.kind}: {e.what}" for e in c.evidence)}
            for c in claims(topic, verdict)]


def table_html(topic: str | None = None, verdict: str | None = None) -> str:
    """The ledger as an HTML table with coloured verdict badges and linked sources (pure)."""
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("verdict", "topic", "the article says", "why"))
    body = []
    for c in claims(topic, verdict):
        badge = (f"<span style='background:{BADGE_COLOURS[c.verdict]};color:white;padding:1px 6px;"
                 f"border-radius:8px;white-space:nowrap'>{_MARK[c.verdict]}</span>")
        links = " ".join(f"<a href='{html.escape(e.where)}' target='_blank'>[{i}]</a>"
                         for i, e in enumerate((e for e in c.evidence if e.kind == "source"), 1))
        body.append(f"<tr><td>{badge}</td><td>{c.topic}</td><td>“{html.escape(c.quote)}”</td>"
                    f"<td>{html.escape(c.why)} {links}</td></tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


class LedgerTable:
    """A notebook display of the ledger: an HTML table (badges) and a plain-text fallback.

    Jupyter shows the HTML; nbval and plain consoles compare the text, which is deterministic.
    """

    def __init__(self, topic: str | None = None, verdict: str | None = None) -> None:
        claims(topic, verdict)  # validate now
        self.topic, self.verdict = topic, verdict

    def _repr_html_(self) -> str:
        return table_html(self.topic, self.verdict)

    def __repr__(self) -> str:
        rs = rows(self.topic, self.verdict)
        lines = [f"{len(rs)} claims" + (f", topic {self.topic}" if self.topic else "")
                 + (f", verdict {self.verdict}" if self.verdict else "")]
        for r in rs:
            lines.append(f"  {_MARK[r['verdict']]:<14} {r['topic']:<14} {textwrap.shorten(r['claim'], 60)}")
        return "\n".join(lines)


def ledger(topic: str | None = None, verdict: str | None = None) -> LedgerTable:
    """The ledger (optionally one topic / one verdict) as a scannable table for a notebook."""
    return LedgerTable(topic, verdict)


_MARK = {"holds": "✔ holds", "partly": "◐ partly", "wrong": "✘ wrong", "unsupported": "? unsupported"}


def show(topic: str | None = None, *, width: int = 96) -> None:
    """Print the ledger (or one topic) as readable text: quote, verdict, why, evidence."""
    for c in claims(topic):
        show_one(c.id, width=width)
        print()


def show_one(claim_id: str, *, width: int = 96) -> None:
    """Print one claim of the ledger (quote, verdict, why, evidence)."""
    c = get(claim_id)
    print(f"[{c.id}] {_MARK[c.verdict]}")
    print(textwrap.fill(f"seed: “{c.quote}”", width, subsequent_indent="      "))
    print(textwrap.fill(f"why:  {c.why}", width, subsequent_indent="      "))
    for e in c.evidence:
        print(textwrap.fill(f"  - {e.kind}: {e.what} ({e.where})", width, subsequent_indent="      "))


def summary() -> None:
    """One line per verdict with its count, then the total."""
    cs = counts()
    for v, n in cs.items():
        print(f"{_MARK[v]:<14} {n:>3}")
    print(f"{'total':<14} {sum(cs.values()):>3}")
