"""The timbre-space figures (:mod:`timbre_jax.analyses.space`): the human space with the
sounds' names and the model spaces laid over it, the 3-D space in three 2-D views, and the
correlations of its dimensions with the descriptors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    LABEL_SIZE,
    LEGEND_SIZE,
    TICK_SIZE,
    caption,
    colorbar,
    pyplot,
    save_figure,
    say_empty,
    style_axes,
)

NAME_SIZE = 6.5
"""The font size of a sound's name beside its point."""
TOP_DESCRIPTORS = 12
"""The descriptors shown in the heatmap: those with the largest |r| on any dimension."""
SIGN = ("The sign of an MDS dimension is arbitrary (its largest coordinate is made positive), and so is the sign "
        "of its correlations.")


def _names(ax, points: np.ndarray, sounds, color: str = "k") -> None:
    for (x, y), name in zip(points, sounds):
        ax.annotate(name, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=NAME_SIZE, color=color)


def plot_space(dataset: str, sounds, human: np.ndarray, stress: float, models, axis_labels, path: Path, *,
               source: str | None = None) -> Path:
    """The 2-D human space of ``dataset``: ``human`` (l, 2) with the ``sounds``' names and its
    stress-1, then one panel per model space in ``models`` ((label, aligned (l, 2),
    disparity)), a line from each sound's human position to its model position.
    ``axis_labels`` (2,): the human dimensions, read by their best descriptors."""
    plt = pyplot()
    n = 1 + len(models)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.3 * rows), squeeze=False)
    ax = axes[0, 0]
    ax.scatter(human[:, 0], human[:, 1], s=18, color="k", zorder=3)
    _names(ax, human, sounds)
    style_axes(ax, f"{dataset}: human timbre space (2-D)\nmetric MDS of the mean ratings, stress-1 {stress:.3f}",
               axis_labels[0], axis_labels[1])
    for k, (label, aligned, disparity) in enumerate(models, start=1):
        ax = axes.flat[k]
        for h, m in zip(human, aligned):
            ax.plot([h[0], m[0]], [h[1], m[1]], color="tab:red", lw=0.8, alpha=0.7, zorder=1)
        ax.scatter(human[:, 0], human[:, 1], s=14, color="0.55", zorder=2, label="human")
        ax.scatter(aligned[:, 0], aligned[:, 1], s=18, marker="x", color="tab:red", zorder=3,
                   label=f"{label} (aligned)")
        _names(ax, human, sounds, color="0.35")
        style_axes(ax, f"{label} distances, aligned to the human space\nProcrustes disparity {disparity:.3f}",
                   axis_labels[0], axis_labels[1])
        ax.legend(fontsize=LEGEND_SIZE, loc="best")
    for ax in axes.flat[:n]:
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.25)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    fig.tight_layout()
    caption(fig, "Each point is a sound, placed by metric (ratio) MDS, SMACOF, so that its distances follow the "
            "mean dissimilarity ratings (unrated pairs left out); stress-1 is Kruskal's, 0 a perfect fit. Axes in "
            "rating units (0: same, 1: most different), named by the descriptor most correlated with each, where "
            "descriptors are stored. "
            + ("Other panels: the MDS of a representation's distances (unweighted: every weight 1; learned: the "
               "exact fit on this study), moved onto the human space by translation, rotation or reflection and "
               "uniform scale (Procrustes); a red line joins each sound's human and model positions. Disparity: "
               "what is left, 0 (the same shape) to 1. " if models else "No representation was asked for "
               "(--representations), so no model space is shown. ")
            + SIGN + (f" Model features: {source}." if models and source else ""))
    return save_figure(fig, path)


def plot_projections(dataset: str, sounds, human: np.ndarray, stress: float, axis_labels, path: Path) -> Path:
    """The 3-D human space of ``dataset`` (``human`` (l, 3), its stress-1) as its three 2-D
    views: dimensions 1-2, 1-3 and 2-3, each sound named."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.6))
    for ax, (a, b) in zip(axes, ((0, 1), (0, 2), (1, 2))):
        ax.scatter(human[:, a], human[:, b], s=16, color="k")
        _names(ax, human[:, [a, b]], sounds)
        style_axes(ax, f"dimensions {a + 1} and {b + 1}", axis_labels[a], axis_labels[b])
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.25)
    fig.suptitle(f"{dataset}: human timbre space (3-D), metric MDS of the mean ratings, stress-1 {stress:.3f}",
                 fontsize=LABEL_SIZE + 1)
    fig.tight_layout()
    caption(fig, "The three-dimensional MDS solution seen along each pair of its axes (principal axes: dimension 1 "
            "has the largest spread). Axes in rating units, named by the descriptor most correlated with each, where "
            "descriptors are stored. " + SIGN)
    return save_figure(fig, path)


def plot_correlations(dataset: str, rows, r: np.ndarray, names, units, path: Path, *, descriptors: str,
                      missing: str = "") -> Path:
    """Heatmap of the correlations ``r`` (len(rows), m) of the human dimensions (``rows``:
    "2-D dim 1", ...) with the descriptors ``names`` (m,) (units (m,)): the
    :data:`TOP_DESCRIPTORS` with the largest |r| on any dimension, in that order, r in each
    cell.  With no descriptors the figure says why (``missing``)."""
    plt = pyplot()
    r = np.asarray(r, dtype=np.float64)
    if r.size == 0:
        fig, ax = plt.subplots(figsize=(7.0, 2.6))
        ax.set_axis_off()
        say_empty(ax, missing or f"no {descriptors} for {dataset}")
        style_axes(ax, f"{dataset}: human MDS dimensions x {descriptors}")
        return save_figure(fig, path)
    strength = np.nan_to_num(np.abs(r), nan=-1.0).max(axis=0)
    top = np.argsort(-strength, kind="stable")[:TOP_DESCRIPTORS]
    shown = r[:, top]
    fig, ax = plt.subplots(figsize=(0.62 * len(top) + 3.0, 0.42 * len(rows) + 3.0))
    cmap = plt.get_cmap("RdBu_r")
    im = ax.imshow(shown, cmap=cmap, vmin=-1.0, vmax=1.0, aspect="auto")
    for i in range(shown.shape[0]):
        for j in range(shown.shape[1]):
            v = shown[i, j]
            ax.text(j, i, f"{v:+.2f}" if np.isfinite(v) else "n/a", ha="center", va="center", fontsize=6.5,
                    color="w" if np.isfinite(v) and abs(v) > 0.6 else "k")
    labels = [f"{names[j]} ({units[j]})" if units[j] else names[j] for j in top]
    ax.set_xticks(range(len(top)), labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=TICK_SIZE)
    ax.set_yticks(range(len(rows)), rows, fontsize=TICK_SIZE)
    for boundary in [i for i in range(1, len(rows)) if rows[i].split()[0] != rows[i - 1].split()[0]]:
        ax.axhline(boundary - 0.5, color="w", lw=3)
    style_axes(ax, f"{dataset}: human MDS dimensions x {descriptors}\n(the {len(top)} with the largest |r| of "
               f"{len(names)})", "descriptor (unit)", "dimension of the human space")
    colorbar(fig, im, ax, "Pearson r over the sounds", fraction=0.04, pad=0.02)
    fig.tight_layout()
    caption(fig, "Each cell: Pearson's r, over the study's sounds, between a dimension of the human timbre space "
            "(metric MDS of the mean ratings in 2 and 3 dimensions) and a descriptor's values (the raw values, before "
            "the store's standardization, where it keeps them). " + SIGN)
    return save_figure(fig, path)
