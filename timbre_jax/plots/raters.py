"""The raters figures (:mod:`timbre_jax.analyses.raters`): the explained variance of a metric
learned on the mean ratings of half the listeners, on the other half and on all of them,
per representation; and the measured noise of the mean ratings marked on the axes of
Fig. 1a (:func:`mark_noise`), beside the paper's guess delta_bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    LEGEND_SIZE,
    caption,
    missing_caption,
    no_features,
    provenance,
    pyplot,
    representations_in,
    save_figure,
    say_empty,
    skipped_pairs,
    style_axes,
)

# (field of a row, legend text, colour), left to right within a representation
SCORES = (("ev_a", "in-sample: the half learned on (A)", "0.65"),
          ("ev_b", "the other half (B): other listeners", "C0"),
          ("ev_full", "all the listeners (the full mean)", "C1"))


def mark_noise(ax, delta: float, label: str, *, color: str = "C3", linestyle: str = ":"):
    """A vertical line at the noise level ``delta`` (the paper's delta units, the x axis of
    Fig. 1a) with ``label`` for the legend; nothing drawn when ``delta`` is NaN.  Returns
    the line (or None)."""
    if not np.isfinite(delta):
        return None
    return ax.axvline(delta, color=color, ls=linestyle, lw=1.2, label=label)


def plot_raters(rows, dataset: str, path: Path, *, participants: int, half_a: int, delta_half: float = np.nan,
                delta_bar: float = np.nan, paper_participants: int | None = None, representations=None,
                source: str = "", solver: str = "", skipped=()) -> Path:
    """Per representation, three boxes over the splits of ``dataset``'s listeners: the EV
    of the metric learned on half A's mean ratings on half A (in-sample, grey), on half
    B's (blue) and on the full mean (orange); each median printed over its box.  The title
    names the dataset, the panel (``participants``, ``half_a`` in half A), ``source`` and
    ``solver``; the caption gives the noise of a half's mean (``delta_half``) beside the
    paper's guess ``delta_bar`` = 0.1 sqrt(``paper_participants``).  A representation of ``representations`` (or of
    ``skipped``) without rows on ``dataset`` is named in the caption."""
    from matplotlib.patches import Patch  # lazy: matplotlib loads only when a figure is drawn

    plt = pyplot()
    mine = [x for x in rows if x.dataset == dataset]
    reps = representations_in(mine)
    missing = [r for r in (representations or []) if r not in reps]
    missing += [r for r, _ in skipped_pairs(skipped, dataset=dataset) if r not in reps and r not in missing]
    fig, ax = plt.subplots(figsize=(1.1 * max(len(reps), 2) + 3.2, 4))
    width, splits = 0.26, 0
    for i, rep in enumerate(reps):
        sel = [x for x in mine if x.representation == rep]
        splits = max(splits, len(sel))
        for j, (name, _, color) in enumerate(SCORES):
            values = [getattr(x, name) for x in sel]
            at = i + (j - 1) * width
            ax.boxplot([values], positions=[at], widths=width * 0.85, patch_artist=True, showfliers=True,
                       boxprops=dict(facecolor=color, alpha=0.75), medianprops=dict(color="k"),
                       flierprops=dict(marker=".", markersize=3))
            ax.annotate(f"{np.median(values):.2f}", (at, max(values)), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(reps)), reps)
    ax.set_xlim(-0.6, max(len(reps), 1) - 0.4)
    ax.set_ylim(0, 1.12)
    if not reps:
        say_empty(ax, f"no splits: {', '.join(no_features(r, dataset, source) for r in missing) or 'no rows'}")
    prov = provenance(source, solver)
    style_axes(ax, title=f"{dataset}: metric learned on the mean ratings of {half_a} of {participants} listeners "
                         f"(half A),\nscored on the other {participants - half_a} (half B) and on all "
                         f"{participants}" + (f" ({prov})" if prov else ""),
               xlabel="representation", ylabel="explained variance P²\n(unitless; one value per split)")
    ax.legend(handles=[Patch(facecolor=color, alpha=0.75, label=text) for _, text, color in SCORES],
              fontsize=LEGEND_SIZE, title="scored on the mean ratings of", title_fontsize=LEGEND_SIZE,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bar = (f"the paper's guess δ̄ = 0.1·√{paper_participants} = {delta_bar:.2f} ({paper_participants}: the "
           "participants its Table I gives the study)" if paper_participants and np.isfinite(delta_bar)
           else "no δ̄ (the paper's guess) for a study of your own")
    text = (f"Each box: {splits} random splits of the listeners into two halves; the metric is learned on the mean "
            "ratings of half A (the pairs it rated) and scored by the squared Pearson correlation P² of its "
            "distances with the mean ratings of half A (in-sample), of half B (other listeners: the paper's "
            "robustness question with the listeners' own variability instead of synthetic noise) and of all the "
            "listeners (half A included). Boxes: quartiles; whiskers: 1.5 interquartile ranges; number: the median. "
            f"Noise of a half's mean: δ = {delta_half:.3f} (median over pairs of the standard deviation across "
            f"listeners over √(listeners in the half), rating units), beside {bar}.")
    caption(fig, text + missing_caption([(r, dataset) for r in missing], source))
    return save_figure(fig, path)
