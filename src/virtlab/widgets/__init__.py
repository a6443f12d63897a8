"""ipywidgets views. Each widget is a thin view over a pure, tested model function.

:class:`ModelView` is the shared shape: controls on one side, the model's answer (HTML) on the
other, recomputed synchronously on every change. A subclass only builds its controls and says
how to render the model's answer (:meth:`ModelView.render`).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any


def pre(text: str) -> str:
    """Plain model text as a small preformatted HTML block."""
    return f"<pre style='font-size:12px'>{html.escape(text)}</pre>"


class ModelView:
    """Base class: ``controls`` (name -> ipywidget) and an HTML ``output`` kept up to date."""

    controls: dict[str, Any]
    vertical: bool = False  # controls above the output instead of beside it

    def _build(self, controls: dict[str, Any]) -> None:
        import ipywidgets as w

        self.controls = controls
        self.output = w.HTML()
        for c in controls.values():
            c.observe(self._changed, names="value")
        box = w.VBox if self.vertical else w.HBox
        self.box = box([w.VBox(list(controls.values())), self.output])
        self.update()

    def values(self) -> dict[str, Any]:
        return {k: c.value for k, c in self.controls.items()}

    def render(self) -> str:  # pragma: no cover - abstract
        """The model's answer for the current control values, as HTML."""
        raise NotImplementedError

    def update(self) -> str:
        self.output.value = self.render()
        return self.output.value

    def _changed(self, _change: dict) -> None:
        self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def measure_latency(change: Callable[[int], None], n: int = 50) -> dict[str, float]:
    """Median and worst time (ms) of ``change(i)`` — a control change plus the synchronous
    refresh it triggers — over ``n`` changes."""
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        change(i)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": times[len(times) // 2], "max_ms": times[-1], "n": n}
