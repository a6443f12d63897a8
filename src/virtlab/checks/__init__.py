"""Exercise self-checks: state checks on real resources, and hashed answers.

Each episode has a module ``virtlab.checks.epNN`` with its ``check_*`` functions. They print one
line starting with ✅ or ❌ and return a bool, so a learner sees at once whether they are done.
"""

from __future__ import annotations

import hashlib


def _norm(value: object) -> str:
    return str(value).strip().lower()


def answer_hash(value: object) -> str:
    """The hash stored in a check instead of the answer itself (so solutions are not spoiled)."""
    return hashlib.sha256(_norm(value).encode()).hexdigest()[:16]


def verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✅ " + good) if ok else ("❌ " + bad))
    return ok


def check_answer(value: object, expected_hash: str, *, hint: str = "") -> bool:
    """Compare a learner's answer with a stored hash (case and surrounding spaces ignored)."""
    ok = answer_hash(value) == expected_hash
    return verdict(ok, "correct", "not yet" + (f" — hint: {hint}" if hint else ""))
