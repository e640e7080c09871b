"""The reward: Pearson correlation between learned squared distances and ratings.

Notation (Pascal & Lagrange 2024, Sec. IV).  For ``l`` sounds with features
``Psi`` (l, n) and weights ``w`` (n,), the squared distance of pair q = (i, j) is

    d_q = sum_k (Psi_ik - Psi_jk)^2 / w_k^2 = (D @ w^-2)_q,

with ``D`` (p, n) the *pair-difference matrix*, p = l (l - 1) / 2 pairs in condensed
order (i < j, row-major).  The reward is the Pearson correlation ``P`` between ``d`` and
the ratings ``s`` over the pairs whose ``mask`` is 1 (rated, not padding); the means and
variances are taken over those pairs only.  Explained variance is ``P**2``.

Everything here is pure JAX and works under ``jit`` and ``vmap``; float64 is enabled by
importing :mod:`timbre_jax`.  The functions that sum take ``sums``
(:mod:`timbre_jax.core.reductions`): plain by default, :data:`~timbre_jax.core.reductions.INVARIANT`
where a problem must round the same alone, padded, or inside a vmapped batch.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from timbre_jax.core import aligned
from timbre_jax.core.reductions import PLAIN, Sums, divide


@lru_cache(maxsize=64)
def pair_indices(l: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each unordered pair, condensed order (i < j, row-major).

    Cached per l (read-only arrays): every fit, fold and relabelling asks again."""
    i, j = np.triu_indices(l, k=1)
    i.flags.writeable = j.flags.writeable = False
    return i, j


def pair_differences(features):
    """Squared feature differences of every pair: (l, n) -> (p, n), p = l (l - 1) / 2.

    A frame-aligned representation (:class:`~timbre_jax.core.aligned.AlignedPairs`) gives
    its per-pair squares summed over frames (p, n): the same fit with one weight per
    dimension shared over frames.

    NumPy in, NumPy out: eager JAX would compile the gather for every (l, n), seconds
    per representation, for values that are the same (one exactly rounded subtraction
    and product each).  JAX arrays and tracers stay in JAX."""
    if aligned.is_aligned(features):
        return aligned.pair_squares(features)
    if not isinstance(features, jax.Array):
        features = np.asarray(features)
    i, j = pair_indices(features.shape[0])
    return (features[i] - features[j]) ** 2


def condensed(ratings) -> np.ndarray:
    """Condensed pair vector (p,) of a symmetric (l, l) rating matrix."""
    ratings = np.asarray(ratings, dtype=np.float64)
    return ratings[pair_indices(ratings.shape[0])]


def squared_distances(D: Array, weights: Array, sums: Sums = PLAIN) -> Array:
    """d = D @ w^-2: (p, n), (n,) -> (p,)."""
    return sums.mv(D, weights ** -2.0)


def _masked_center(v: Array, mask: Array, sums: Sums) -> Array:
    mean = sums.tree_sum(mask * v) / sums.tree_sum(mask)
    return mask * (v - mean)


def standardize_ratings(ratings: Array, mask: Array, sums: Sums = PLAIN) -> Array:
    """Masked ratings, centred and scaled to unit norm: (p,) -> (p,), 0 where mask is 0."""
    sc = _masked_center(jnp.where(mask > 0, ratings, 0.0), mask, sums)
    return divide(sc, jnp.sqrt(sums.vdot(sc, sc)))


def pearson_of_distances(d: Array, ratings: Array, mask: Array, sums: Sums = PLAIN) -> Array:
    """Masked Pearson correlation between distances ``d`` (p,) and ratings (p,): scalar."""
    dc = _masked_center(jnp.where(mask > 0, d, 0.0), mask, sums)
    sh = standardize_ratings(ratings, mask, sums)
    return sums.vdot(dc, sh) / jnp.sqrt(sums.vdot(dc, dc))


def pearson(D: Array, weights: Array, ratings: Array, mask: Array, sums: Sums = PLAIN) -> Array:
    """P(d_w^2, s) over the masked pairs: (p, n), (n,), (p,), (p,) -> scalar."""
    return pearson_of_distances(squared_distances(D, weights, sums), ratings, mask, sums)


def pearson_and_grad(D: Array, weights: Array, s_hat: Array, mask: Array,
                     sums: Sums = PLAIN) -> tuple[Array, Array]:
    """P and its exact gradient with respect to the weights.

    ``s_hat`` is :func:`standardize_ratings` of the ratings (computed once per problem).
    With ``dc`` the masked centred distances, ``P = <dc, s_hat> / |dc|`` and

        dP/dd = (s_hat - P dc / |dc|) / |dc|

    (the derivative through the masked mean vanishes because both ``s_hat`` and ``dc``
    sum to zero over the mask, so it is exact, not dropped), then by the chain rule
    ``dP/dw_k = -2 w_k^-3 (D^T dP/dd)_k``.

    Shapes: D (p, n), weights (n,), s_hat (p,), mask (p,) -> (scalar, (n,)).
    """
    d = squared_distances(D, weights, sums)
    dc = _masked_center(d, mask, sums)
    norm = jnp.sqrt(sums.vdot(dc, dc))
    P = sums.vdot(dc, s_hat) / norm
    g_d = divide(s_hat - divide(P * dc, norm), norm)
    return P, -2.0 * sums.tmv(D, g_d) * weights ** -3.0


# Host-side scoring (NumPy): the correlations of fitted distances with any ratings.

def pearson_rows(d: np.ndarray, ratings: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """P of each row of ``d`` (K, p) with ``ratings`` (p,) over the pairs where ``mask``
    (p,) is positive: (K,)."""
    m = mask > 0
    dc = d[:, m] - d[:, m].mean(axis=1, keepdims=True)
    sc = ratings[m] - ratings[m].mean()
    return (dc @ sc) / (np.linalg.norm(dc, axis=1) * np.linalg.norm(sc))


def pearson_of_vectors(x: np.ndarray, y: np.ndarray) -> float:
    """P of two vectors (p,), 0 where either is constant (no correlation to speak of)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])
