"""Pictures of learned weights: where in the representation the metric looks.

The plotted quantity is ``1 / w^2``, the factor each feature's squared difference gets
in the distance.  STMF vectors are laid out as frequency (128) x scale (11) x rate (22)
(C order), drawn as the three two-axis projections (sums over the third axis), as in
Thoret et al. (2021); MERTCAT as layer (13) x dimension (768); everything else as a
profile over the feature index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .report import _pyplot, save_figure

STMF_SHAPE = (128, 11, 22)
STMF_SCALES = (0.25, 0.35, 0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8)
STMF_RATES = (-128, -90.5, -64, -45.3, -32, -22.6, -16, -11.3, -8, -5.7, -4,
              4, 5.7, 8, 11.3, 16, 22.6, 32, 45.3, 64, 90.5, 128)
MERTCAT_SHAPE = (13, 768)


def stmf_projections(weights: np.ndarray) -> dict[str, np.ndarray]:
    """1/w^2 of an STMF metric summed onto (frequency, scale), (frequency, rate), (scale, rate)."""
    v = (np.asarray(weights, dtype=np.float64) ** -2.0).reshape(STMF_SHAPE)
    return {"frequency x scale": v.sum(axis=2), "frequency x rate": v.sum(axis=1), "scale x rate": v.sum(axis=0)}


def plot_weights(weights: np.ndarray, representation: str, path: Path, title: str = "") -> Path:
    plt = _pyplot()
    v = np.asarray(weights, dtype=np.float64) ** -2.0
    if representation == "stmf" and v.size == np.prod(STMF_SHAPE):
        maps = stmf_projections(weights)
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        labels = {"frequency x scale": ("scale (cyc/oct)", "frequency channel", STMF_SCALES),
                  "frequency x rate": ("rate (Hz)", "frequency channel", STMF_RATES),
                  "scale x rate": ("rate (Hz)", "scale (cyc/oct)", STMF_RATES)}
        for ax, (name, img) in zip(axes, maps.items()):
            xl, yl, ticks = labels[name]
            ax.imshow(img, aspect="auto", origin="lower", cmap="magma")
            ax.set_xticks(range(len(ticks))[::3], [f"{t:g}" for t in ticks][::3], fontsize=7)
            if name == "scale x rate":
                ax.set_yticks(range(len(STMF_SCALES))[::2], [f"{t:g}" for t in STMF_SCALES][::2], fontsize=7)
            ax.set(xlabel=xl, ylabel=yl, title=name)
    elif representation == "mertcat" and v.size == np.prod(MERTCAT_SHAPE):
        fig, ax = plt.subplots(figsize=(10, 3.5))
        im = ax.imshow(v.reshape(MERTCAT_SHAPE), aspect="auto", origin="lower", cmap="magma")
        ax.set(xlabel="dimension", ylabel="layer")
        fig.colorbar(im, ax=ax, label="1 / w²")
    else:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.plot(v, lw=0.8)
        ax.set(xlabel="feature index", ylabel="1 / w²", yscale="log")
    fig.suptitle(title or representation)
    return save_figure(fig, path)
