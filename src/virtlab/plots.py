"""Figures with alt text: every figure the course shows goes through :func:`show`."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
