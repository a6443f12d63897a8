"""The claims ledger as a filterable table: two dropdowns over :func:`virtlab.claims.table_html`."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from virtlab import claims

ALL = "all"


class LedgerWidget:
    """Dropdowns for topic and verdict; the table below shows the matching claims."""

    def __init__(self) -> None:
        self.topic = w.Dropdown(options=[ALL, *claims.TOPICS], value=ALL, description="topic")
        self.verdict = w.Dropdown(options=[ALL, *claims.VERDICTS], value=ALL, description="verdict")
        self.count = w.Label()
        self.html = w.HTML()
        for d in (self.topic, self.verdict):
            d.observe(self._update, names="value")
        self._update()
        self.box = w.VBox([w.HBox([self.topic, self.verdict, self.count]), self.html])

    def _update(self, _change: Any = None) -> None:
        t = None if self.topic.value == ALL else self.topic.value
        v = None if self.verdict.value == ALL else self.verdict.value
        self.html.value = claims.table_html(t, v)
        n = len(claims.claims(t, v))
        self.count.value = f"{n} claim{'s' if n != 1 else ''}"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)


def ledger_widget() -> LedgerWidget:
    """The filterable ledger table (for a notebook cell)."""
    return LedgerWidget()
