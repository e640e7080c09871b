"""The transfer figure (:mod:`timbre_jax.analyses.transfer`): a metric learned on one study
(row) scored on another (column), with the unweighted distance as the baseline row."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    TICK_SIZE,
    caption,
    colorbar,
    missing_caption,
    pyplot,
    save_figure,
    skipped_pairs,
    style_axes,
)


def plot_transfer(representation: str, datasets: list[str], ev: np.ndarray, zeroshot: np.ndarray,
                  in_sample_median: float, transfer_median: float, path: Path, *, source: str = "upstream",
                  skipped=()) -> Path:
    """The transfer matrix of ``representation`` as a heatmap: ``ev`` (m, m), learned on
    ``datasets[a]`` (row) and scored on ``datasets[b]`` (column), EV printed in each cell,
    the in-sample diagonal framed, and under it a row with each scored study's zero-shot
    EV ``zeroshot`` (m,), the baseline.  The title names ``source`` and the two medians;
    the caption lists ``skipped`` ((representation, dataset, reason))."""
    from matplotlib.patches import Rectangle  # lazy: matplotlib loads only when a figure is drawn

    plt = pyplot()
    names, m = datasets, len(datasets)
    table = np.vstack([ev, zeroshot[None]])  # (m + 1, m)
    small = m > 8
    cell_size, label_size = (6.0, 6.5) if small else (7.5, TICK_SIZE)
    fig, ax = plt.subplots(figsize=(0.48 * m + 3.4, 0.42 * (m + 1) + 2.2))
    cmap = plt.get_cmap("viridis")
    im = ax.imshow(table, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(m + 1):
        for j in range(m):
            r, g, b, _ = cmap(float(np.clip(table[i, j], 0.0, 1.0)))
            color = "w" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "k"  # white on dark cells
            ax.text(j, i, f"{table[i, j]:.2f}" if np.isfinite(table[i, j]) else "n/a", ha="center", va="center",
                    fontsize=cell_size, color=color)
    for i in range(m):
        ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, ec="r", lw=1.2))
    ax.axhline(m - 0.5, color="w", lw=3)
    style_axes(ax, f"Transfer across studies: {representation} ({source} features, exact solver)\n"
               f"median in-sample EV {in_sample_median:.3f} (diagonal)\nmedian transferred EV "
               f"{transfer_median:.3f} (held-out study)", "scored on (study)", "learned on (study)")
    ax.set_xticks(range(m), names, rotation=60, ha="right", rotation_mode="anchor", fontsize=label_size)
    ax.set_yticks(range(m + 1), [*names, "zero-shot (no fit, w = 1)"], fontsize=label_size)
    colorbar(fig, im, ax, "explained variance\nmax(P, 0)² (unitless)", fraction=0.04, pad=0.02)
    fig.tight_layout()
    caption(fig, "Each cell: the metric learned on the row's study (the certified optimum of the fit, "
            "weights w) scored on the column's study: max(P, 0)² of Pearson's P between the squared distances "
            "Σ_k (Ψ_ik − Ψ_jk)² / w_k² and the ratings, over that study's rated pairs. Red frames: in-sample, "
            "the metric scored on the study it was learned on. Other cells: held-out study, the metric scored on "
            "sounds and ratings it never saw. Bottom row: every weight 1 (no fit), the baseline a transferred "
            "metric should beat."
            + missing_caption(skipped_pairs(skipped), source))
    return save_figure(fig, path)
