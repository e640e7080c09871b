"""The independent reference for the paper's fit: scipy's L-BFGS-B on an exact numpy objective.

What a careful user would write without timbre-jax: the same NNLS start
(scipy.optimize.nnls), bounds [1, 1e15] and settings (maxls 50, ftol = gtol = 1e-36,
memory 10).  Tests import it (pytest puts tests/ on sys.path); benchmarks/reference.py
times it against timbre-jax.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize as so

LOWER, UPPER = 1.0, 1e15


def nnls_start(D: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The paper's start w0 = 1 / sqrt(x + eps) (n,), x the NNLS of s (p,) on D (p, n)."""
    x, _ = so.nnls(D, s, maxiter=10 * D.shape[1])
    return np.clip(1 / np.sqrt(x + np.finfo(float).eps), LOWER, UPPER)


def scipy_minimize(D: np.ndarray, s: np.ndarray, w0: np.ndarray, maxiter: int = 10_000) -> so.OptimizeResult:
    """scipy's L-BFGS-B from ``w0`` (n,) on the objective -P(w) and its exact gradient."""
    sh = (s - s.mean()) / np.linalg.norm(s - s.mean())

    def f(w):
        d = D @ w ** -2.0
        dc = d - d.mean()
        nd = np.linalg.norm(dc)
        P = dc @ sh / nd
        return -P, 2.0 * (((sh - P * dc / nd) / nd) @ D) * w ** -3.0

    return so.minimize(f, w0, jac=True, method="L-BFGS-B", bounds=[(LOWER, UPPER)] * D.shape[1],
                       options=dict(maxiter=maxiter, maxls=50, ftol=1e-36, gtol=1e-36, maxcor=10))


def scipy_fit(D: np.ndarray, s: np.ndarray, maxiter: int = 10_000) -> tuple[float, int]:
    """(explained variance P^2, iterations) of the fit of ratings ``s`` (p,) on the pair
    differences ``D`` (p, n): maximise the Pearson correlation of d = D w^-2 with s."""
    r = scipy_minimize(D, s, nnls_start(D, s), maxiter)
    return float(r.fun ** 2), int(r.nit)
