"""Figures with alt text: every figure the course shows goes through :func:`show`.

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


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes (96 dpi, tight, no software stamp: the same bytes on any machine)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def show(fig: Figure, alt: str) -> None:
    """Display ``fig`` as a PNG carrying ``alt`` (also the text/plain form nbval compares)."""
    from IPython.display import display

    if not alt or len(alt) < 15:
        raise ValueError("every figure needs a real alt text (one or two sentences)")
    data = png(fig)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made through pyplot: do not show it a second time
        pyplot.close(fig)
    display({"image/png": data, "text/plain": f"[Figure] {alt}"},
            raw=True, metadata={"image/png": {"alt": alt}})
