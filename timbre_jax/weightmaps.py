"""The layout of learned weights: where in the representation the metric looks.

The quantity is ``1 / w^2``, the factor each feature's squared difference gets in the
distance; the figure is :func:`timbre_jax.report.plot_weights`.  STMF vectors are laid out
as frequency (128) x scale (11) x rate (22) (C order), drawn as the three two-axis
projections (sums over the third axis), as in Thoret et al. (2021); MERTCAT as layer (13)
x dimension (768); everything else as a profile over the feature index.
"""

from __future__ import annotations

import numpy as np

STMF_SHAPE = (128, 11, 22)
STMF_SCALES = (0.25, 0.35, 0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8)
STMF_RATES = (-128, -90.5, -64, -45.3, -32, -22.6, -16, -11.3, -8, -5.7, -4,
              4, 5.7, 8, 11.3, 16, 22.6, 32, 45.3, 64, 90.5, 128)
MERTCAT_SHAPE = (13, 768)


def stmf_projections(weights: np.ndarray) -> dict[str, np.ndarray]:
    """1/w^2 of an STMF metric summed onto (frequency, scale), (frequency, rate), (scale, rate)."""
    v = (np.asarray(weights, dtype=np.float64) ** -2.0).reshape(STMF_SHAPE)
    return {"frequency x scale": v.sum(axis=2), "frequency x rate": v.sum(axis=1), "scale x rate": v.sum(axis=0)}
