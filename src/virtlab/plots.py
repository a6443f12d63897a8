"""Figures with alt text: every figure the course shows goes through :func:`show`."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def png(fig: plt.Figure, *, keep: bool = False) -> bytes:
    """``fig`` as PNG bytes; closed afterwards unless ``keep`` (a widget redrawing one figure:
    then its own fixed margins are used, as a tight bounding box costs a second draw)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches=None if keep else "tight",
                metadata={"Software": None})
    if not keep:
        plt.close(fig)
    return buf.getvalue()


def img_html(fig: plt.Figure, alt: str, *, keep: bool = False) -> str:
    """``fig`` as an inline ``<img>`` carrying ``alt`` — for widgets, which redraw by replacing
    HTML (an ``Output`` widget does not capture raw display data under ipykernel 7)."""
    import base64
    import html

    if not alt or len(alt) < 15:
        raise ValueError("every figure needs a real alt text (one or two sentences)")
    data = base64.b64encode(png(fig, keep=keep)).decode("ascii")
    return f'<img alt="{html.escape(alt, quote=True)}" src="data:image/png;base64,{data}">'


def show(fig: plt.Figure, alt: str) -> None:
    """Display ``fig`` as a PNG carrying ``alt`` (also the text/plain form nbval compares)."""
    from IPython.display import display

    if not alt or len(alt) < 15:
        raise ValueError("every figure needs a real alt text (one or two sentences)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    display({"image/png": buf.getvalue(), "text/plain": f"[Figure] {alt}"},
            raw=True, metadata={"image/png": {"alt": alt}})
