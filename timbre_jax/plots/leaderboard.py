"""The leaderboard's figures (:mod:`timbre_jax.analyses.leaderboard`): the pooled rank
metric and the median explained variances of each representation over the studies, ranked
by a held-out number, each bar labelled zero-shot, in-sample or held-out, and one study's
comparison of the representations with bootstrap intervals."""

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

# The bars of each panel: (label, distance, column, colour, hatch).  Every label says how the
# number was scored: zero-shot (no fit), in-sample (the fit saw the pairs) or held-out.
SPEARMAN_BARS = (("euclidean, zero-shot (no fit)", "euclidean", "anchor_spearman", "0.78", ""),
                 ("cosine, zero-shot (no fit)", "cosine", "anchor_spearman", "0.55", ""),
                 ("learned, in-sample", "learned", "anchor_spearman", "#f4a582", "///"),
                 ("learned, held-out", "learned", "heldout_anchor_spearman", "#2166ac", ""))
EV_BARS = (("euclidean, zero-shot (no fit)", "euclidean", "ev_median", "0.78", ""),
           ("learned, in-sample", "learned", "ev_median", "#f4a582", "///"),
           ("learned, held-out", "learned", "heldout_ev_median", "#2166ac", ""))
RANKED_BY_WORDS = "held-out per-anchor Spearman of the learned metric"


def plot_leaderboard(rows: list[dict], path: Path, *, source: str = "") -> Path:
    """The leaderboard in two panels, the representations in the order of their
    ``heldout_rank`` (best first; the order of ``rows`` where they have none): the pooled
    per-anchor Spearman of each representation (euclidean and cosine zero-shot, the learned
    metric in-sample and held-out), and the median EV over studies (zero-shot euclidean,
    the learned metric in-sample and held-out); each bar's value printed over it, 'n/a'
    where it has none.  Every legend entry and the title say which numbers are in-sample,
    held-out or zero-shot, and the title what ranks the representations; it names them,
    the number of studies, ``source`` and the solver (exact)."""
    plt = pyplot()
    reps = list(dict.fromkeys(x["representation"] for x in rows))
    rank = {x["representation"]: x["heldout_rank"] for x in rows if "heldout_rank" in x}
    ranked = bool(rank)
    reps.sort(key=lambda r: rank.get(r, np.inf))  # stable: unranked keep their order, last
    cell = {(x["representation"], x["distance"]): x for x in rows}
    x = np.arange(len(reps))
    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 1.6 * len(reps) + 5), 4.6))
    for ax, bars in zip(axes, (SPEARMAN_BARS, EV_BARS)):
        bars = [b for b in bars if any((r, b[1]) in cell for r in reps)]
        width = 0.8 / max(len(bars), 1)
        for i, (label, kind, column, colour, hatch) in enumerate(bars):
            values = [cell.get((r, kind), {}).get(column, np.nan) for r in reps]
            xs = x + (i - (len(bars) - 1) / 2) * width
            ax.bar(xs, values, width, label=label, color=colour, hatch=hatch, edgecolor="white", linewidth=0.5)
            value_labels(ax, xs, values, width)
    order = "representation (#: rank by held-out Spearman)" if ranked else "representation (not ranked)"
    style_axes(axes[0], "pooled per-anchor Spearman (timbre benchmark)", order,
               "mean over anchors of Spearman's ρ (unitless)")
    style_axes(axes[1], "median explained variance over studies", order, EV_AXIS)
    names = [f"#{rank[r]} {r}" if r in rank else r for r in reps]
    for ax in axes:
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.margins(y=0.15)
        low, high = ax.get_ylim()
        entries = len(ax.get_legend_handles_labels()[1])
        ax.set_ylim(low, high + 0.075 * entries * (high - low))  # room for the legend above the bars
        ax.legend(fontsize=TICK_SIZE, frameon=False, loc="upper left", ncol=1)
    if not rows:
        for ax in axes:
            say_empty(ax, "no rows: no representation had features")
    studies = max((x_["studies"] for x_ in rows), default=0)
    fig.suptitle(f"Leaderboard of {', '.join(reps) or 'no representation'} over {studies} studies, "
                 + (f"ranked by the {RANKED_BY_WORDS}" if ranked else "not ranked")
                 + f"\n({provenance(source, 'exact')} for the learned metric)", fontsize=TITLE_SIZE)
    fig.tight_layout()
    caption(fig, "Left: rank metric of the field's benchmark, distances not squared, pooled over every anchor "
            "sound of every study. Right: medians over studies. Zero-shot: the distance without a fit. "
            "In-sample: the learned metric fitted on every rated pair and scored on the same pairs (it grows "
            "with the number of weights). Held-out: leave-one-sound-out cross-validation, each sound's pairs "
            "scored by the metric learned without them; the rank (#) is by the held-out per-anchor Spearman "
            "(ties: held-out EV), never by an in-sample number. n/a: no data for that representation and "
            "distance.")
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
