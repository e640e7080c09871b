"""Which named dimension a learned metric relies on: the figures of
:mod:`timbre_jax.stats.importance`.

:func:`plot_importance`: one metric's dimensions ranked by importance (1/w^2 normalized to
sum 1), a horizontal bar each with its 95% bootstrap interval over sounds, named with
their units (unnamed representations keep :func:`timbre_jax.plots.weights.plot_weights`).
:func:`plot_importance_map`: the importance of each dimension (rows) on each of several
studies (columns), one metric learned per study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    TICK_SIZE,
    TITLE_SIZE,
    caption,
    colorbar,
    missing_caption,
    provenance,
    pyplot,
    save_figure,
    skipped_pairs,
    style_axes,
)
from timbre_jax.stats.importance import Importance

SHOWN = 40  # dimensions drawn at most, the most important first
IMPORTANCE_AXIS = "importance: share of the learned distance, 1/w² normalized to sum 1 (unitless)"


def plot_importance(imp: Importance, path: Path, title: str, *, ev: float | None = None, solver: str | None = None,
                    source: str | None = None) -> Path:
    """The dimensions of ``imp`` ranked by importance (at most :data:`SHOWN`): a bar each
    (its value on all the sounds), a whisker for its 95% bootstrap interval and, at the
    right, the share of bootstrap samples whose exact optimum uses it.  ``title``: what
    was fitted (representation: datasets); ``ev``, ``solver``, ``source``: the fit's."""
    plt = pyplot()
    order = imp.order()
    shown = order[:SHOWN]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.24 * len(shown)))
    y = np.arange(len(shown))
    ax.barh(y, imp.value[shown], color="#4C72B0", height=0.7)
    has_interval = np.isfinite(imp.low[shown]) & np.isfinite(imp.high[shown])
    ax.hlines(y[has_interval], imp.low[shown][has_interval], imp.high[shown][has_interval], color="0.15", lw=1.2)
    top = float(np.nanmax(np.r_[imp.value[shown], imp.high[shown][has_interval]])) if len(shown) else 1.0
    ax.set_xlim(0, max(top, 1e-12) * 1.18)
    ax.set_yticks(y, [imp.label(k) for k in shown])
    ax.invert_yaxis()
    for yk, k in zip(y, shown):
        if np.isfinite(imp.selected[k]):
            ax.annotate(f"{100 * imp.selected[k]:.0f}%", (1, yk), xycoords=("axes fraction", "data"),
                        xytext=(4, 0), textcoords="offset points", va="center", fontsize=TICK_SIZE - 1,
                        color="0.3")
    style_axes(ax, xlabel=IMPORTANCE_AXIS, ylabel="")
    details = ", ".join(x for x in [provenance(source, solver)]
                        + ([f"in-sample explained variance P² = {ev:.3f}"] if ev is not None else []) if x)
    ax.set_title(f"{title} — which dimensions the learned metric relies on" + (f"\n{details}" if details else ""),
                 fontsize=TITLE_SIZE)
    if imp.samples:
        spread = (f"Whiskers: 95% percentile interval over {imp.samples} bootstrap samples of the sounds (the exact "
                  "optimum refitted on each); at the right: the share of those samples whose optimum uses the "
                  "dimension at all (the exact optimum sets the others to 0).")
        if imp.uncertified:
            spread += f" {imp.uncertified} of the refits were not certified."
    else:
        spread = f"No bootstrap interval: {imp.note or 'none was asked (--bootstrap 0)'}."
    rest = len(order) - len(shown)
    caption(fig, "Importance of a dimension = 1/w², the factor of its squared difference in the learned squared "
                 "distance, divided by the sum over all dimensions: the shares sum to 1. " + spread
            + (f" Not shown: the {rest} less important dimensions." if rest else ""))
    return save_figure(fig, path)


def plot_importance_map(representation: str, labels, studies, values: np.ndarray, path: Path, *,
                        reliable: np.ndarray | None = None, source: str | None = None, samples: int = 0,
                        skipped=()) -> Path:
    """The importance of each dimension (rows, ``labels`` (m,), in the order given) on
    each study (columns, ``studies`` (s,)): ``values`` (m, s), NaN where a study lacks the
    dimension; a dot where ``reliable`` (m, s) is True (the 95% interval excludes 0).
    The first :data:`SHOWN` rows are drawn, the caption counts the others.  ``skipped``:
    the (representation, dataset, reason) not shown, said in the caption."""
    plt = pyplot()
    values = np.asarray(values, dtype=np.float64)
    rest = max(len(values) - SHOWN, 0)
    values, labels = values[:SHOWN], list(labels)[:SHOWN]
    reliable = None if reliable is None else np.asarray(reliable, dtype=bool)[:SHOWN]
    m, s = values.shape
    fig, ax = plt.subplots(figsize=(2.6 + 0.42 * s, 1.6 + 0.22 * m))
    im = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="Blues", vmin=0,
                   vmax=max(float(np.nanmax(values)) if np.isfinite(values).any() else 1.0, 1e-12))
    if reliable is not None:
        r, c = np.nonzero(reliable)
        ax.scatter(c, r, s=14, color="#E8590C", marker="o", edgecolors="none")
    ax.set_xticks(range(s), list(studies), rotation=60, ha="right")
    ax.set_yticks(range(m), list(labels))
    style_axes(ax, xlabel="study (one metric learned on each, exact optimum)", ylabel="")
    colorbar(fig, im, ax, "importance (share of the learned distance)", pad=0.02, fraction=0.05)
    details = provenance(source, "exact")
    ax.set_title(f"{representation}: which dimensions matter on which study" + (f"\n{details}" if details else ""),
                 fontsize=TITLE_SIZE)
    dots = (f" An orange dot: its 95% interval over {samples} bootstrap samples of the sounds excludes 0 (used by the "
            "optimum on more than 97.5% of them)." if samples else " No bootstrap (--bootstrap 0): no dots.")
    caption(fig, "Importance of a dimension = 1/w² of the metric learned on that study, divided by the sum over its "
                 "dimensions (each column sums to 1; white: 0 or not in that study). Rows ordered by their median "
                 "importance over the studies (equal medians: by their mean), the largest first." + dots
            + (f" Not shown: {rest} dimensions further down that order (all are in the wide CSV)." if rest else "")
            + missing_caption(skipped_pairs(skipped, representation), source))
    return save_figure(fig, path)
