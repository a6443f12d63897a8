"""What the course can clean up and build, found by walking the package — no list of modules.

A concept that creates host resources marks its ``cleanup() -> list[str]`` with
:func:`cleans`; one that builds images for ``virtlab images build`` marks its builder with
:func:`builds`. :func:`cleanups` and :func:`builders` import every top-level module and package of
``virtlab`` (``pkgutil``: nothing to keep in step when a concept is added or split) and collect
the marked functions, in their declared order. A module whose *third-party* dependency is missing
here is skipped, as ``modes.demos()`` does; a broken course module is an error.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_CLEANS = "__virtlab_cleans__"
_BUILDS = "__virtlab_builds__"


def cleans(order: int) -> Callable[[F], F]:
    """Mark a concept's ``cleanup()``: ``virtlab cleanup`` calls it, lowest ``order`` first
    (instances before the cgroups and namespaces they lived in; stray processes last)."""
    def mark(fn: F) -> F:
        setattr(fn, _CLEANS, order)
        return fn
    return mark


def builds(name: str, order: int) -> Callable[[F], F]:
    """Mark an image builder ``fn(force=False)`` as ``virtlab images build --only NAME``."""
    if not name.isidentifier():
        raise ValueError(f"an image name is a plain word, not {name!r}")

    def mark(fn: F) -> F:
        setattr(fn, _BUILDS, (order, name))
        return fn
    return mark


def _modules() -> list[Any]:
    import virtlab

    found = []
    for info in pkgutil.iter_modules(virtlab.__path__):
        if info.name.startswith("_"):
            continue
        name = f"virtlab.{info.name}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as err:  # an optional library is not installed here
            if (err.name or "").split(".")[0] == "virtlab":
                raise
    return found


def _marked(attr: str) -> list[tuple[Any, str, Callable[..., Any]]]:
    seen: dict[int, tuple[Any, str, Callable[..., Any]]] = {}
    for mod in _modules():
        for value in vars(mod).values():
            mark = getattr(value, attr, None) if callable(value) else None
            if mark is not None and id(value) not in seen:
                seen[id(value)] = (mark, mod.__name__, value)
    return sorted(seen.values(), key=lambda t: (t[0], t[1]))


def cleanups() -> list[tuple[str, Callable[[], list[str]]]]:
    """``(module, cleanup)`` for every concept that owns host resources, in cleanup order."""
    return [(mod, fn) for _, mod, fn in _marked(_CLEANS)]


def builders() -> dict[str, Callable[..., Any]]:
    """Image name -> builder, in build order (the rootfs before the images made from it)."""
    return {mark[1]: fn for mark, _, fn in _marked(_BUILDS)}
