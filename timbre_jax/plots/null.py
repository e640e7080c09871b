"""The permutation-null figure (:mod:`timbre_jax.analyses.null`): the explained variance
with the true sound labels against the null distribution of relabelled sounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    LEGEND_SIZE,
    caption,
    no_features,
    provenance,
    pyplot,
    save_figure,
    say_empty,
    skipped_pairs,
    style_axes,
)


def plot_null(rows, summaries, representation: str, path: Path, *, source: str = "", solver: str = "",
              skipped=()) -> Path:
    """Permutation null of one representation (:mod:`timbre_jax.analyses.null`): observed in-sample EV (red,
    its value and p-value beside it) against the null distribution (grey) and its 95th
    percentile (black bar), one column per dataset.  ``rows``: (representation, dataset,
    permutation, ev, iterations).  The title names the representation, ``source`` and
    ``solver`` (so that the figures of two sources differ); a dataset of ``skipped``
    ((representation, dataset, reason)) gets a column saying it has no features."""
    from matplotlib.lines import Line2D  # lazy: matplotlib loads only when a figure is drawn

    plt = pyplot()
    sums = [s for s in summaries if s.representation == representation]
    absent = [d for _, d in skipped_pairs(skipped, representation=representation) if d not in {s.dataset for s in sums}]
    columns = [s.dataset for s in sums] + absent
    fig, ax = plt.subplots(figsize=(0.8 * len(columns) + 3.0, 4))
    for i, s in enumerate(sums):
        null = [r[3] for r in rows if r[0] == representation and r[1] == s.dataset and r[2] > 0]
        ax.scatter(np.full(len(null), i) + np.random.default_rng(i).uniform(-0.2, 0.2, len(null)), null,
                   s=4, color="0.6")
        ax.plot([i - 0.3, i + 0.3], [s.null_p95] * 2, color="k", lw=1.5, zorder=2)
        ax.scatter([i], [s.observed_ev], color="C3", marker="D", s=25, zorder=3)
        ax.annotate(f"P² {s.observed_ev:.2f}\np = {s.p_value:.2g}", (i, s.observed_ev), xytext=(5, 0),
                    textcoords="offset points", fontsize=6.5, va="center", color="C3")
    for i in range(len(sums), len(columns)):
        ax.text(i, 0.5, no_features(representation, source=source).replace(" in the ", "\nin the "), rotation=90,
                ha="center", va="center", fontsize=6.5, color="0.3")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    ax.set_xlim(-0.6, max(len(columns), 1) - 0.2)
    ax.set_ylim(0, 1.02)
    if not columns:
        say_empty(ax, no_features(representation, source=source))
    prov = provenance(source, solver)
    observed = (f"\n{sums[0].dataset}: observed P² {sums[0].observed_ev:.3f} (p = {sums[0].p_value:.3g})"
                if len(sums) == 1 else "")
    style_axes(ax, title=f"Permutation test: {representation}" + (f" ({prov})" if prov else "") + observed
                         + "\nin-sample explained variance with the true sound labels vs with shuffled labels",
               xlabel="dataset", ylabel="in-sample explained variance P² of the human ratings\n(unitless; each "
                                        "metric scored on the pairs\nit was learned on)")
    K = max((s.permutations for s in sums), default=0)
    handles = [Line2D([], [], ls="", marker="D", color="C3", label="true sound labels (observed)"),
               Line2D([], [], ls="", marker="o", ms=3, color="0.6",
                      label=f"sounds randomly relabelled\n({K} relabellings per dataset)"),
               Line2D([], [], color="k", lw=1.5, label="95th percentile of the\nrelabelled explained variances")]
    ax.legend(handles=handles, fontsize=LEGEND_SIZE, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption(fig, "Permutation test: each grey dot is a metric learned, exactly as the real one, on the same "
                 "ratings after the sounds were randomly relabelled (rows and columns of the dissimilarity "
                 "matrix shuffled together), which breaks any link between sounds and ratings. A red diamond "
                 "above the black bar beats 95% of the relabellings (permutation p-value, printed beside it, "
                 "about 0.05 or less); one inside the grey cloud is no better than chance. Every explained variance "
                 "here is in-sample: each metric, true or relabelled, is scored on the ratings it was learned on.")
    return save_figure(fig, path)
