"""The leaderboard's figures (:mod:`timbre_jax.analyses.leaderboard`): the pooled rank
metric and the median explained variances of each representation over the studies, and
one study's comparison of the representations with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    EV_AXIS,
    TICK_SIZE,
    TITLE_SIZE,
    caption,
    provenance,
    pyplot,
    save_figure,
    say_empty,
    style_axes,
    value_labels,
)


def plot_leaderboard(rows: list[dict], path: Path, *, source: str = "") -> Path:
    """The leaderboard in two panels: the pooled per-anchor Spearman of each representation
    for the three distances (euclidean, cosine, learned), and the median EV over studies
    (zero-shot euclidean, in-sample and held-out of the learned metric); each bar's value
    printed over it, 'n/a' where it has none.  The title names the representations, the
    number of studies, ``source`` and the solver (exact)."""
    plt = pyplot()
    reps = list(dict.fromkeys(x["representation"] for x in rows))
    cell = {(x["representation"], x["distance"]): x for x in rows}
    kinds = [k for k in ("euclidean", "cosine", "learned") if any((r, k) in cell for r in reps)]
    x = np.arange(len(reps))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.3 * len(reps) + 4), 4.4))
    width = 0.8 / max(len(kinds), 1)
    for i, kind in enumerate(kinds):
        values = [cell[(r, kind)]["anchor_spearman"] if (r, kind) in cell else np.nan for r in reps]
        xs = x + (i - (len(kinds) - 1) / 2) * width
        axes[0].bar(xs, values, width, label=kind)
        value_labels(axes[0], xs, values, width)
    style_axes(axes[0], "pooled per-anchor Spearman (timbre benchmark)", "representation",
               "mean over anchors of Spearman's ρ (unitless)")
    bars = [("zero-shot (euclidean)", lambda r: cell.get((r, "euclidean"), {}).get("ev_median", np.nan)),
            ("in-sample optimum", lambda r: cell.get((r, "learned"), {}).get("ev_median", np.nan)),
            ("held-out", lambda r: cell.get((r, "learned"), {}).get("heldout_ev_median", np.nan))]
    width = 0.8 / len(bars)
    for i, (label, get) in enumerate(bars):
        xs, values = x + (i - (len(bars) - 1) / 2) * width, [get(r) for r in reps]
        axes[1].bar(xs, values, width, label=label)
        value_labels(axes[1], xs, values, width)
    style_axes(axes[1], "median explained variance over studies", "representation", EV_AXIS)
    for ax in axes:
        ax.set_xticks(x, reps, rotation=30, ha="right")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.margins(y=0.15)
        ax.legend(fontsize=TICK_SIZE, frameon=False)
    if not rows:
        for ax in axes:
            say_empty(ax, "no rows: no representation had features")
    studies = max((x_["studies"] for x_ in rows), default=0)
    fig.suptitle(f"Leaderboard of {', '.join(reps) or 'no representation'} over {studies} studies\n"
                 f"({provenance(source, 'exact')} for the learned metric)", fontsize=TITLE_SIZE)
    fig.tight_layout()
    caption(fig, "Left: rank metric of the field's benchmark, distances not squared, pooled over every anchor "
            "sound of every study. Right: medians over studies; held-out is leave-one-sound-out cross-validation. "
            "n/a: no data for that representation and distance.")
    return save_figure(fig, path)


def plot_comparison(names, points, lows, highs, significant_pairs, path: Path, title: str, ylabel: str, *,
                    absent=()) -> Path:
    """Representations side by side, in the style of representational similarity
    analysis: a bar per representation (its point estimate, printed) with whiskers from
    ``lows`` to ``highs`` (its bootstrap interval; none where NaN), and above the bars a
    line for each pair (i, j) of ``significant_pairs`` whose difference is significant.
    A representation whose point is NaN gets 'no data' in words instead of a bar ('no R
    features' for a name R of ``absent``)."""
    plt = pyplot()
    points = np.asarray(points, dtype=np.float64)
    lows, highs = np.asarray(lows, dtype=np.float64), np.asarray(highs, dtype=np.float64)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 2), 4.0))
    ax.bar(x, np.nan_to_num(points), color="0.6")
    has = np.isfinite(lows) & np.isfinite(highs) & np.isfinite(points)
    ax.errorbar(x[has], points[has], yerr=[points[has] - lows[has], highs[has] - points[has]], fmt="none",
                ecolor="k", capsize=3, lw=1)
    tops = np.where(has, highs, np.nan_to_num(points))
    top = float(np.nanmax(np.r_[tops, 0.0])) if len(points) else 1.0
    step = 0.06 * max(top, 0.1)
    for i, p in enumerate(points):
        if np.isfinite(p):
            ax.text(i, max(tops[i], 0.0) + step / 3, f"{p:.2f}", ha="center", va="bottom", fontsize=7)
        else:
            ax.text(i, step / 3, f"no {names[i]} features" if names[i] in absent else "no data", ha="center",
                    va="bottom", fontsize=7, color="0.4", rotation=90)
    for level, (i, j) in enumerate(sorted(significant_pairs, key=lambda p: abs(p[1] - p[0]))):
        y = top + step * (level + 2)
        ax.plot([i, i, j, j], [y - step / 4, y, y, y - step / 4], color="k", lw=0.8)
    style_axes(ax, title, "representation", ylabel)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.margins(y=0.12)
    if not len(names):
        say_empty(ax, "no representation to compare")
    fig.tight_layout()
    caption(fig, "Bars: point estimate (printed); whiskers: 95% bootstrap interval over sounds (the metric held "
            "fixed); lines: pairs whose difference is significant (paired bootstrap, Holm-corrected p < 0.05).")
    return save_figure(fig, path)
