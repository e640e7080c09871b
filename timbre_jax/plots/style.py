"""One style for every figure of the package, and the pieces every figure family uses.

The font sizes below, a plain-words title, axis labels in words with their units, and a
caption under the axes (:func:`caption`) that says what is plotted, so that a figure can
be read without the code; all are saved by :func:`save_figure` (PNG, 130 dpi).  The
families: :mod:`timbre_jax.plots.robustness` (Fig. 1a and 1b of the paper),
:mod:`timbre_jax.plots.null`, :mod:`timbre_jax.plots.crossval`,
:mod:`timbre_jax.plots.leaderboard`, :mod:`timbre_jax.plots.transfer`,
:mod:`timbre_jax.plots.weights`, :mod:`timbre_jax.plots.reliability`,
:mod:`timbre_jax.plots.raters`, :mod:`timbre_jax.plots.importance` and
:mod:`timbre_jax.plots.space`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from timbre_jax.data.registry import REPRESENTATIONS
from timbre_jax.data.store import atomic_write_bytes

TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE, CAPTION_SIZE = 10, 9, 8, 8, 8


def pyplot():
    """matplotlib's pyplot, on the Agg backend (files only, no window)."""
    import matplotlib  # lazy: matplotlib loads only when a figure is drawn, never for a fit

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above, and only once the backend is chosen

    return plt


def save_figure(fig, path: Path) -> Path:
    """Save a matplotlib figure atomically as PNG."""
    atomic_write_bytes(Path(path), lambda fh: fig.savefig(fh, format="png", dpi=130, bbox_inches="tight"))
    pyplot().close(fig)
    return Path(path)


def style_axes(ax, title: str = "", xlabel: str = "", ylabel: str = "") -> None:
    """The package's figure style on one axes: title, axis labels and tick sizes."""
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)


def colorbar(fig, mappable, ax, label: str, **placement):
    """A colorbar for ``mappable`` beside ``ax`` in the package's style: ``label`` at the
    label size, its ticks at the tick size; ``placement``: matplotlib's ``fraction``, ``pad``."""
    bar = fig.colorbar(mappable, ax=ax, **placement)
    bar.set_label(label, fontsize=LABEL_SIZE)
    bar.ax.tick_params(labelsize=TICK_SIZE)
    return bar


def caption(fig, text: str) -> None:
    """Write ``text`` (paragraphs separated by newlines) under everything already drawn
    on ``fig``, left-aligned with it and wrapped to the figure's width."""
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_tightbbox(renderer) for a in fig.axes]
    x0 = min(b.x0 for b in boxes) / fig.bbox.width
    y0 = min(b.y0 for b in boxes) / fig.bbox.height
    x1 = max(b.x1 for b in boxes) / fig.bbox.width
    chars = max(40, int((x1 - x0) * fig.get_figwidth() * 15.5))  # ~15 characters per inch at 8 pt
    wrapped = "\n".join(textwrap.fill(p, chars) for p in text.split("\n"))
    fig.text(x0, y0 - 0.015, wrapped, ha="left", va="top", fontsize=CAPTION_SIZE, color="0.2")


def representations_in(rows) -> list[str]:
    """The representations of ``rows`` (anything with ``.representation``): the paper's in
    its column order, then any other (an embedder, crepe) in the order it first appears."""
    present = dict.fromkeys(x.representation for x in rows)
    return [r for r in REPRESENTATIONS if r in present] + [r for r in present if r not in REPRESENTATIONS]


# The words every figure uses for its quantities, and where its numbers come from.
EV_AXIS = "explained variance P² (unitless)"
IMPORTANCE_UNITS = "arbitrary units: only ratios count"


def provenance(source: str | None = None, solver: str | None = None) -> str:
    """Where a figure's numbers come from, in words: 'upstream features, exact solver'
    (the parts that are known; '' when neither is)."""
    return ", ".join(p for p in (f"{source} features" if source else "", f"{solver} solver" if solver else "") if p)


def no_features(representation: str, dataset: str | None = None, source: str | None = None) -> str:
    """'no stmf features for Grey1977 in the upstream source': the text a figure shows
    where a (representation, dataset) has no data."""
    return (f"no {representation} features" + (f" for {dataset}" if dataset else "")
            + (f" in the {source} source" if source else ""))


def skipped_pairs(skipped, representation: str | None = None, dataset: str | None = None) -> list[tuple[str, str]]:
    """The (representation, dataset) of ``skipped`` ((representation, dataset, reason)
    triples, as the analyses record them) that match, in order, without repeats."""
    return list(dict.fromkeys((r, d) for r, d, *_ in skipped
                              if representation in (None, r) and dataset in (None, d)))


def missing_caption(pairs, source: str | None = None) -> str:
    """' Not shown, no features in the upstream source: stmf for Grey1977, Grey1978.'"""
    by_rep: dict[str, list[str]] = {}
    for r, d in pairs:
        by_rep.setdefault(r, []).append(d)
    if not by_rep:
        return ""
    where = f" in the {source} source" if source else ""
    return (f" Not shown, no features{where}: "
            + "; ".join(f"{r} for {', '.join(ds)}" for r, ds in by_rep.items()) + ".")


def say_empty(ax, text: str) -> None:
    """An axes with nothing to draw says why, in its middle."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=LABEL_SIZE, color="0.3",
            wrap=True)


def value_labels(ax, xs, values, width=None, fmt="{:.2f}") -> None:
    """Each bar's value over it, and 'n/a' where it has none (NaN)."""
    for x, v in zip(xs, values):
        if np.isfinite(v):
            ax.annotate(fmt.format(v), (x, max(v, 0.0)), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=6, rotation=90 if width is not None and width < 0.3 else 0)
        else:
            ax.annotate("n/a", (x, 0.0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=6, color="0.4", rotation=90)
