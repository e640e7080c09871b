"""Where L-BFGS-B starts: the paper's NNLS warm start, Thoret et al.'s random start, and
the extra starts of a multi-start fit.

Every start is a vector of weights w (n,) inside the box ``lower <= w <= upper``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from timbre_jax.core.reductions import EPS, INVARIANT
from timbre_jax.optim.nnls import nnls, warm_start

SPREAD = 1.0  # standard deviation, in ln w, of the extra starts around the first


def random_start(n: int, seed: int, lower: float, upper: float) -> np.ndarray:
    """Thoret et al. (2021): |1 + 0.01 N(0, 1)| (n,), projected into [lower, upper]."""
    w = np.abs(1.0 + 0.01 * np.random.default_rng(seed).standard_normal(n))
    return np.clip(w, lower, upper)


def extra_starts(w0: np.ndarray, count: int, seed, lower: float, upper: float) -> list[np.ndarray]:
    """``count`` starts w0 * exp(SPREAD * N(0, 1)) (one draw per weight), projected into
    [lower, upper].  Run to stagnation, L-BFGS-B is chaotic on the ill-conditioned
    problems (stft): a change in the last bits of the start moves the end point by up to
    0.05 in explained variance, for scipy as for us; the best of a few starts is a robust
    optimum where one start is a draw."""
    rng = np.random.default_rng(seed)
    return [np.clip(w0 * np.exp(SPREAD * rng.standard_normal(w0.shape)), lower, upper) for _ in range(count)]


def host_nnls_start(D: np.ndarray, s: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """The NNLS warm start w0 = 1 / sqrt(x + eps) (n,) of the rated pairs D (p, n), s (p,),
    in [lower, upper], computed on the host by ``scipy.optimize.nnls`` (the paper's NNLS)
    on unit-norm columns, as :func:`timbre_jax.optim.nnls.nnls` solves it.

    One problem at a time (the CPU's sequence mode), the JAX active set would factor a
    (2p, p) QR afresh at every step, which costs more than the whole fit on the small
    representations, where scipy updates one factorization; in lockstep the JAX NNLS
    stays inside the compiled batch."""
    D = np.asarray(D, dtype=np.float64)
    scale = np.sqrt(np.sum(D * D, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    try:
        x, _ = scipy.optimize.nnls(D / scale, np.asarray(s, dtype=np.float64), maxiter=10 * D.shape[1])
    except RuntimeError:  # no convergence in 10 n steps (never seen): the JAX active set
        x = np.asarray(nnls(jnp.asarray(D), jnp.asarray(s)))
    else:
        x = x / scale
    return np.clip(1.0 / np.sqrt(x + EPS), lower, upper)


@jax.jit
def nnls_start(D, s, lower, upper):
    """The NNLS start (n,) of (D (p, n), s (p,)) in [lower, upper], with fixed-tree sums:
    the seed of the extra starts when no start was computed on the host."""
    return jnp.clip(warm_start(D, s, sums=INVARIANT), lower, upper)


def degenerate_start(D, ratings) -> bool:
    """Whether the NNLS warm start of (D (p, n), ratings (p,)) is x = 0, i.e. every weight
    at 1/sqrt(eps): no non-negative combination of the features fits the ratings better
    than zero.  x = 0 solves the NNLS exactly when D^T s <= 0 (its KKT condition), e.g.
    for ratings shifted below zero: the paper's start has no intercept, so it depends on
    the offset of the ratings (the exact solver does not)."""
    return bool(np.all(np.asarray(D).T @ np.asarray(ratings) <= 0))
