"""Procrustes alignment: a model's timbre space laid over the human one.

Two MDS configurations of the same l sounds are each unique only up to translation,
rotation, reflection and (between a rating scale and a feature distance) scale.  To
compare a model's space Y (l, k) with the human space X (l, k), Y is moved by all four to
fit X in least squares (Gower & Dijksterhuis 2004, Procrustes Problems, ch. 4):

    min_{s, R, t} ||X − (s Y R + 1 tᵀ)||_F,  RᵀR = I,

solved with the centred Xc, Yc by the SVD Ycᵀ Xc = U Σ Vᵀ: R = U Vᵀ, s = tr Σ / ||Yc||²,
t = mean(X) − s mean(Y) R.  What is left is the disparity, the definition of
``scipy.spatial.procrustes``: the sum of squared differences after both are centred and
scaled to unit Frobenius norm, 1 − (tr Σ / (||Xc|| ||Yc||))², in [0, 1]; 0 is the same
shape, 1 nothing in common.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.errors import DataError


@dataclass(frozen=True)
class Alignment:
    """``aligned`` (l, k): the model's points moved onto the human space (in its units);
    ``disparity``: the shape difference left, in [0, 1] (scipy's definition)."""

    aligned: np.ndarray
    disparity: float


def align(reference: np.ndarray, moving: np.ndarray) -> Alignment:
    """Move ``moving`` (l, k) by translation, rotation or reflection and uniform scale onto
    ``reference`` (l, k), the human space.  DataError for shapes that differ or a
    configuration with every point in one place."""
    X = np.asarray(reference, dtype=np.float64)
    Y = np.asarray(moving, dtype=np.float64)
    if X.shape != Y.shape or X.ndim != 2:
        raise DataError(f"Procrustes needs two configurations of the same shape (l, k), got {X.shape} and {Y.shape}")
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    nx, ny = np.linalg.norm(Xc), np.linalg.norm(Yc)
    if nx == 0 or ny == 0:
        raise DataError("Procrustes: a configuration has every point in one place")
    U, sigma, Vt = np.linalg.svd(Yc.T @ Xc)
    R = U @ Vt
    s = sigma.sum() / ny ** 2
    aligned = s * Yc @ R + X.mean(axis=0)
    disparity = float(np.clip(1.0 - (sigma.sum() / (nx * ny)) ** 2, 0.0, 1.0))
    return Alignment(aligned, disparity)
