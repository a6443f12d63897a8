"""Figures with alt text: every figure the course shows goes through :func:`show` (or, inside a
widget, :func:`img_html`).

Course figures are plain :class:`matplotlib.figure.Figure` objects (see :func:`figure`), drawn
to PNG by the Agg canvas explicitly: nothing here touches pyplot's global backend, so a
learner's own ``plt.plot()`` in the same kernel keeps working as usual.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def figure(**kwargs: Any) -> Figure:
    """A new figure outside pyplot (``figsize=...`` etc.); add axes with ``fig.subplots()``."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _release(fig: Figure) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made through pyplot: do not show it a second time
        pyplot.close(fig)


def png(fig: Figure, *, keep: bool = False) -> bytes:
    """``fig`` as PNG bytes (96 dpi, no software stamp: the same bytes on any machine). Tight
    unless ``keep`` (a widget redrawing one figure uses its own fixed margins, as a tight
    bounding box costs a second draw); released from pyplot unless ``keep``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches=None if keep else "tight",
                metadata={"Software": None})
    if not keep:
        _release(fig)
    return buf.getvalue()


def _check_alt(alt: str) -> None:
    if not alt or len(alt) < 15:
        raise ValueError("every figure needs a real alt text (one or two sentences)")


def img_html(fig: Figure, alt: str, *, keep: bool = False) -> str:
    """``fig`` as an inline ``<img>`` carrying ``alt`` — for widgets, which redraw by replacing
    HTML (an ``Output`` widget does not capture raw display data under ipykernel 7)."""
    import base64
    import html

    _check_alt(alt)
    data = base64.b64encode(png(fig, keep=keep)).decode("ascii")
    return f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">'


def show(fig: Figure, alt: str) -> None:
    """Display ``fig`` as a PNG carrying ``alt`` (also the text/plain form nbval compares)."""
    from IPython.display import display

    _check_alt(alt)
    display({"image/png": png(fig), "text/plain": f"[Figure] {alt}"},
            raw=True, metadata={"image/png": {"alt": alt}})
