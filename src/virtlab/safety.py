"""Names, sizes, deadlines and cleanup: the rules every course resource follows.

* Names: lowercase letters, digits and '-', start with a letter, at most 40 characters, always
  carrying the course prefix ``vl-`` (added when missing). Anything else is refused *before*
  anything is created.
* Sizes: "64MiB", "1G", 67108864 ... parsed to bytes and checked against bounds.
* Deadlines: every wait has one; running out raises :class:`DeadlineExceeded` naming the wait.
* Cleanup: :class:`CleanupErrors` collects every failure and raises once at the end.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from virtlab import PREFIX

T = TypeVar("T")

_NAME_RE = re.compile(r"[a-z][a-z0-9-]*")
MAX_NAME = 40


class VirtlabError(Exception):
    """Base class of the errors virtlab raises on purpose (clear message, no traceback needed)."""


class DeadlineExceeded(VirtlabError, TimeoutError):
    """A wait ran past its deadline."""

    def __init__(self, what: str, seconds: float, hint: str = "") -> None:
        msg = f"{what}: no result within {seconds:g} s"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)
        self.what = what
        self.seconds = seconds


def course_name(name: str, *, prefix: str = PREFIX) -> str:
    """Validate ``name`` and return it with the course prefix.

    >>> course_name("web")
    'vl-web'
    >>> course_name("vl-web")
    'vl-web'
    """
    if not isinstance(name, str):
        raise ValueError(f"a name must be a string, not {type(name).__name__}")
    full = name if name.startswith(prefix) else prefix + name
    if len(full) > MAX_NAME:
        raise ValueError(
            f"name {name!r} is too long ({len(full)} characters with the prefix, at most {MAX_NAME})"
        )
    if not _NAME_RE.fullmatch(full) or full.endswith("-") or "--" in full:
        raise ValueError(
            f"name {name!r} is not allowed: use lowercase letters, digits and single '-', "
            "starting with a letter (for example 'web1')"
        )
    return full


def is_course_name(name: str, *, prefix: str = PREFIX) -> bool:
    """True when ``name`` carries the course prefix and is a valid course name."""
    try:
        return course_name(name, prefix=prefix) == name
    except ValueError:
        return False


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_size(value: int | str, *, minimum: int = 1, maximum: int = 64 * 1024**3,
               what: str = "size") -> int:
    """Parse ``value`` ("64MiB", "1G", "512k", or an int of bytes) and check its bounds.

    >>> parse_size("64MiB")
    67108864
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number of bytes or a string like '64MiB', not {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(
                f"{what} {value!r} is not understood: write it like '64MiB', '1GiB' or '512k'"
            )
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise ValueError(f"{what} must be a number of bytes or a string like '64MiB', not {value!r}")
    if n < minimum or n > maximum:
        raise ValueError(
            f"{what} {value!r} is out of range: it must be between {human_bytes(minimum)} "
            f"and {human_bytes(maximum)}"
        )
    return n


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_int(value: int, *, minimum: int, maximum: int, what: str) -> int:
    """Check an integer setting (vCPUs, pids, percent ...) and return it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, not {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{what} {value} is out of range: it must be between {minimum} and {maximum}")
    return value


@dataclass
class Deadline:
    """A point in time after which a wait gives up.

    >>> d = Deadline(5, "LXD start")
    >>> d.remaining() > 0
    True
    """

    seconds: float
    what: str = "operation"
    hint: str = ""
    start: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.start + self.seconds - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        if self.expired():
            raise DeadlineExceeded(self.what, self.seconds, self.hint)

    def wait_for(self, predicate: Callable[[], T], interval: float = 0.05) -> T:
        """Poll ``predicate`` until it returns something truthy; raise at the deadline."""
        while True:
            value = predicate()
            if value:
                return value
            if self.expired():
                raise DeadlineExceeded(self.what, self.seconds, self.hint)
            time.sleep(min(interval, max(self.remaining(), 0.001)))


class CleanupErrors(VirtlabError):
    """Several cleanup steps failed; every one was still attempted."""

    def __init__(self, errors: list[tuple[str, BaseException]]) -> None:
        self.errors = errors
        lines = "; ".join(f"{what}: {err}" for what, err in errors)
        super().__init__(f"{len(errors)} cleanup step(s) failed: {lines}")


def cleanup_all(steps: Iterable[tuple[str, Callable[[], object]]]) -> list[str]:
    """Run every ``(description, action)``; collect failures; raise once at the end.

    Returns the descriptions of the steps that succeeded.
    """
    done: list[str] = []
    errors: list[tuple[str, BaseException]] = []
    for what, action in steps:
        try:
            action()
            done.append(what)
        except Exception as err:  # noqa: BLE001 - collected and re-raised below
            errors.append((what, err))
    if errors:
        raise CleanupErrors(errors)
    return done
