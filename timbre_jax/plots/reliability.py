"""The reliability figure (:mod:`timbre_jax.analyses.reliability`): one study's listeners,
how well each agrees with the others, how reliable their mean is, and the measured rater
noise beside the paper's guess δ̄."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import LEGEND_SIZE, caption, pyplot, save_figure, say_empty, style_axes, value_labels
from timbre_jax.stats.reliability import PairSpread, SplitHalf


def plot_reliability(study: str, ids, loo: np.ndarray, flagged: np.ndarray, bounds: tuple[float, float],
                     split: SplitHalf, spread: PairSpread, delta_bar: float, delta_bar_m: int, path: Path) -> Path:
    """Three panels for ``study``: each participant's leave-one-out r (``loo`` (m,), ``ids``;
    ``flagged`` (m,) outliers in red) with rsatoolbox's ``bounds`` (lower, upper); the
    distribution of the Spearman–Brown split-half reliability over the splits (``split``),
    its median and 95% interval; the measured noise of the mean ratings (``spread``) beside
    the paper's ``delta_bar`` = 0.1·√``delta_bar_m``."""
    plt = pyplot()
    loo, flagged = np.asarray(loo, dtype=float), np.asarray(flagged, dtype=bool)
    m = len(ids)
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(max(7.0, 0.28 * m + 2.5) + 7.0, 3.8),
                                     gridspec_kw={"width_ratios": [max(1.2, 0.1 * m), 1.0, 0.9]})
    x = np.arange(m)
    a1.bar(x, np.nan_to_num(loo), color=np.where(flagged, "C3", "C0"))
    lower, upper = bounds
    a1.axhline(lower, color="k", lw=1, ls="--", label=f"lower bound {lower:.3f}")
    a1.axhline(upper, color="k", lw=1, ls=":", label=f"upper bound {upper:.3f}")
    a1.set_xticks(x, ids, rotation=90, fontsize=6.5 if m > 20 else 7.5)
    a1.set_ylim(min(0.0, float(np.nanmin(loo)) - 0.05) if np.isfinite(loo).any() else 0.0, 1.08)
    a1.legend(fontsize=LEGEND_SIZE, loc="upper right", ncol=2)
    style_axes(a1, "Each listener against the others", "participant (red: flagged outlier)",
               "Pearson r with the others' mean ratings")

    values = split.values[np.isfinite(split.values)]
    if values.size:
        a2.hist(values, bins=30, color="0.6")
        a2.axvspan(split.low, split.high, color="C0", alpha=0.15, label=f"95% [{split.low:.3f}, {split.high:.3f}]")
        a2.axvline(split.median, color="C0", lw=1.5, label=f"median {split.median:.3f}")
        a2.legend(fontsize=LEGEND_SIZE, loc="upper left")
    else:
        say_empty(a2, "no split had 3 pairs rated by both halves")
    style_axes(a2, f"Split-half reliability ({len(split.values)} splits)",
               "Spearman–Brown corrected r of two halves' means\n(= ceiling on the EV of the mean ratings)",
               "splits")

    names = ["measured δ\n(median SEM)", "half panel\n(SD/√(n/2))", f"paper δ̄\n0.1·√{delta_bar_m}"]
    heights = [spread.sem_median, spread.half_sem_median, delta_bar]
    a3.bar(range(3), np.nan_to_num(heights), color=["C2", "C2", "0.5"])
    value_labels(a3, range(3), heights, fmt="{:.3f}")
    a3.set_xticks(range(3), names, fontsize=7.5)
    a3.set_ylim(0, 1.15 * max([h for h in heights if np.isfinite(h)], default=1.0))
    style_axes(a3, "Rater noise of the mean ratings", "", "standard deviation of the noise\n(rating units, [0, 1])")
    fig.suptitle(f"Rater reliability: {study}, {m} participants", fontsize=10)
    fig.tight_layout()
    caption(fig, "Left: each participant's Pearson r with the mean ratings of the other participants over the "
            "pairs they rated; red bars are flagged outliers (r negative or below Q1 − 1.5·IQR of the "
            "participants' values), kept in every mean. Dashed and dotted lines: rsatoolbox's leave-one-out noise "
            "ceiling, the mean r with the others' mean (lower) and with the mean of all (upper); a model's mean r "
            "with individual participants compares with these. Middle: random halves of the participants, the "
            "Pearson r of their mean ratings corrected to the full panel by Spearman–Brown, 2r/(1+r); its median "
            "is the reliability of the mean ratings and the ceiling on any model's explained variance of them. "
            f"Right: the standard error of each pair's mean rating (SD across participants over √raters; median "
            f"over pairs: {spread.sem_median:.3f}), the same for half the panel, and the paper's typical noise "
            "δ̄ = 0.1·√m (Eq. 6), all in the δ units of the robustness sweep (noise δ·ξ, ξ ~ N(0, 1), added to "
            "the mean ratings).")
    return save_figure(fig, path)
