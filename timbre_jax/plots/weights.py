"""The layout of learned weights: where in the representation the metric looks.

The quantity is ``1 / w^2``, the factor each feature's squared difference gets in the
distance; the figure is :func:`plot_weights`.  STMF vectors are laid out
as frequency (128) x scale (11) x rate (22) (C order), drawn as the three two-axis
projections (sums over the third axis), as in Thoret et al. (2021); MERTCAT as layer (13)
x dimension (768); everything else as a profile over the feature index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    IMPORTANCE_UNITS,
    TITLE_SIZE,
    caption,
    colorbar,
    provenance,
    pyplot,
    save_figure,
    style_axes,
)

STMF_SHAPE = (128, 11, 22)
STMF_SCALES = (0.25, 0.35, 0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8)
STMF_RATES = (-128, -90.5, -64, -45.3, -32, -22.6, -16, -11.3, -8, -5.7, -4,
              4, 5.7, 8, 11.3, 16, 22.6, 32, 45.3, 64, 90.5, 128)
MERTCAT_SHAPE = (13, 768)


def stmf_projections(weights: np.ndarray) -> dict[str, np.ndarray]:
    """1/w^2 of an STMF metric summed onto (frequency, scale), (frequency, rate), (scale, rate)."""
    v = (np.asarray(weights, dtype=np.float64) ** -2.0).reshape(STMF_SHAPE)
    return {"frequency x scale": v.sum(axis=2), "frequency x rate": v.sum(axis=1), "scale x rate": v.sum(axis=0)}


def plot_weights(weights: np.ndarray, representation: str, path: Path, title: str = "", *,
                 ev: float | None = None, solver: str | None = None, source: str | None = None,
                 datasets=None) -> Path:
    """Where a learned metric looks: 1/w^2 (n,) as STMF's three projections, MERTCAT's layer x
    dimension map, or a profile over the feature index (:mod:`timbre_jax.plots.weights`).
    The title: ``title`` (default 'representation: datasets'), then the ``source``,
    ``solver`` and in-sample explained variance ``ev`` of the fit where given."""
    plt = pyplot()
    v = np.asarray(weights, dtype=np.float64) ** -2.0
    importance = "feature importance 1/w²"
    if representation == "stmf" and v.size == np.prod(STMF_SHAPE):
        maps = stmf_projections(weights)
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"wspace": 0.45})
        freq = f"frequency channel (index, 0 = lowest of {STMF_SHAPE[0]})"
        scale, rate = "spectral modulation scale (cycles/octave)", "temporal modulation rate (Hz)"
        labels = {"frequency x scale": (scale, freq, STMF_SCALES, "frequency and scale (summed over rate)"),
                  "frequency x rate": (rate, freq, STMF_RATES, "frequency and rate (summed over scale)"),
                  "scale x rate": (rate, scale, STMF_RATES, "scale and rate (summed over frequency)")}
        for ax, (name, img) in zip(axes, maps.items()):
            xl, yl, ticks, panel = labels[name]
            im = ax.imshow(img, aspect="auto", origin="lower", cmap="magma")
            ax.set_xticks(range(len(ticks))[::3], [f"{t:g}" for t in ticks][::3])
            if name == "scale x rate":
                ax.set_yticks(range(len(STMF_SCALES))[::2], [f"{t:g}" for t in STMF_SCALES][::2])
            style_axes(ax, title=panel, xlabel=xl, ylabel=yl)
            colorbar(fig, im, ax, f"summed 1/w²\n({IMPORTANCE_UNITS})", pad=0.02)
        layout = ("The 30976 STMF features (128 frequency channels × 11 scales × 22 rates; negative rates: "
                  "downward sweeps) are shown as three maps, each summing the importance over the third axis. ")
    elif representation == "mertcat" and v.size == np.prod(MERTCAT_SHAPE):
        fig, ax = plt.subplots(figsize=(10, 3.5))
        im = ax.imshow(v.reshape(MERTCAT_SHAPE), aspect="auto", origin="lower", cmap="magma")
        style_axes(ax, xlabel=f"dimension within the layer (index 0 to {MERTCAT_SHAPE[1] - 1})",
                   ylabel=f"MERT layer (index 0 to {MERTCAT_SHAPE[0] - 1})")
        colorbar(fig, im, ax, f"{importance}\n({IMPORTANCE_UNITS})")
        layout = "MERTCAT: the 13 layers of MERT × 768 dimensions each. "
    else:
        fig, ax = plt.subplots(figsize=(8, 3))
        top = float(np.nanmax(v)) if v.size and np.isfinite(v).any() else 1.0
        floor = top * 1e-6  # a certified optimum sets ignored features to ~0: drawn at the floor, not 1e-30
        ax.plot(np.maximum(v, floor), lw=0.8)
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, top * 2)
        style_axes(ax, xlabel=f"feature index (position in the {representation} feature vector, 0 to {v.size - 1})",
                   ylabel=f"{importance}\n({IMPORTANCE_UNITS};\nlog scale)")
        layout = "Values under a millionth of the largest are drawn at the bottom of the axis. "
    head = title or (f"{representation}: {'+'.join(datasets)}" if datasets else representation)
    details = [provenance(source, solver)] + ([f"in-sample explained variance P² = {ev:.3f}"] if ev is not None else [])
    details = ", ".join(x for x in details if x)
    fig.suptitle(f"{head} — where the learned metric looks" + (f"\n{details}" if details else ""),
                 fontsize=TITLE_SIZE + 1)
    fig.subplots_adjust(top=1 - (0.75 if details else 0.45) / fig.get_figheight())  # room for the title's lines
    caption(fig, layout + "Importance of a feature = 1/w², the factor its squared difference between two sounds "
                          "gets in the learned squared distance; larger = the metric relies on it more, "
                          "near 0 = ignored. Its scale is arbitrary (the fit's correlation does not change when "
                          "every weight is multiplied by the same number): compare features, not figures.")
    return save_figure(fig, path)
