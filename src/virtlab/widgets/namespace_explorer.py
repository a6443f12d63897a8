"""Namespace explorer: tick namespace types, see what a child sees next to the host.

A thin view over :func:`virtlab.namespaces.view` and the pure
:func:`virtlab.namespaces.compare_views` (both tested).
"""

from __future__ import annotations

import html

from virtlab import namespaces as ns


def table_html(rows: list[tuple[str, str, str, bool]]) -> str:
    """Render compare_views rows as an HTML table (differences highlighted)."""
    out = ["<table><tr><th>what</th><th>host</th><th>child</th></tr>"]
    for what, host, child, same in rows:
        style = "" if same else " style='background:#fff3c4'"
        out.append(f"<tr{style}><td>{html.escape(what)}</td><td>{html.escape(host)}</td>"
                   f"<td>{html.escape(child)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def explore(types: list[str], hostname: str = "vl-inside") -> list[tuple[str, str, str, bool]]:
    """The model behind the widget: run a child in ``types`` and compare with the host."""
    types = list(ns.validate_types(types))
    if "pid" in types and "mnt" not in types:
        types.append("mnt")  # a PID namespace only shows in /proc with its own mount of /proc
    child = ns.view(types, hostname=hostname if "uts" in types else None,
                    boottime_offset=86400 * 365 if "time" in types else None)
    return ns.compare_views(ns.observe(), child)


def namespace_explorer():  # noqa: ANN201 - an ipywidgets box
    """The widget: one checkbox per namespace type and a result table."""
    import ipywidgets as w

    boxes = {t: w.Checkbox(value=t in ("uts", "pid"), description=t, indent=False,
                           tooltip=ns.DESCRIPTIONS[t]) for t in ns.TYPES}
    out = w.HTML()
    button = w.Button(description="run a child", button_style="primary")

    def refresh(_: object = None) -> None:
        chosen = [t for t, b in boxes.items() if b.value]
        try:
            out.value = table_html(explore(chosen))
        except Exception as err:  # noqa: BLE001 - shown to the learner
            out.value = f"<pre>{html.escape(str(err))}</pre>"

    button.on_click(refresh)
    refresh()
    return w.VBox([w.HBox(list(boxes.values())), button, out])
