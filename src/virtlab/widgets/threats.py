"""Threat-model widget: pick a threat, see which boundary stops it and why.

A thin view over the pure model :func:`virtlab.security.assess` (tested there).
"""

from __future__ import annotations

import html
from typing import Any

from virtlab import security
from virtlab.widgets import ModelView

_COLOURS = {security.STOPS: "#2e7d32", security.PARTLY: "#b26a00", security.FAILS: "#c62828",
            security.NA: "#666666"}


def render(threat: str) -> str:
    """HTML table for ``threat`` (what the widget shows; pure, so it is tested)."""
    rows = []
    for r in security.assess(threat):
        colour = _COLOURS[r["verdict"]]
        example = "" if r["example"] == "—" else f"<br><i>e.g. {html.escape(r['example'])}</i>"
        rows.append(
            f"<tr><td><b>{html.escape(r['boundary'])}</b></td>"
            f"<td style='color:{colour}'><b>{html.escape(r['verdict'])}</b></td>"
            f"<td>{html.escape(r['why'])}{example}</td></tr>")
    return ("<table style='font-size:12px'><tr><th>boundary</th><th>verdict</th><th>why</th></tr>"
            + "".join(rows) + "</table>")


class ThreatWidget(ModelView):
    """A dropdown of threats above the assessment table."""

    vertical = True

    def __init__(self, threat: str | None = None) -> None:
        import ipywidgets as w

        options = security.threats()
        self.dropdown = w.Dropdown(options=options, value=threat or options[0],
                                   description="threat")
        self._build({"threat": self.dropdown})

    def render(self) -> str:
        return render(self.dropdown.value)


def threat_widget(threat: str | None = None) -> Any:
    """Build the widget (display it as the last expression of a cell)."""
    return ThreatWidget(threat)
