"""The bootstrap over sounds: how much a number from 11 to 24 sounds depends on which
sounds were rated.

Sounds are drawn with replacement (:func:`resample`); a pair of two drawn sounds counts
as often as it is drawn, and a pair of a sound with its own copy is dropped (it has no
rating).  A number is recomputed on every sample with the model held fixed, as in the
bootstrap over stimuli of representational similarity analysis; its 95% percentile
interval (:func:`interval`) says how far it may move with other sounds.  Two
representations scored on the same samples are compared by the bootstrap distribution of
their difference (:func:`paired_comparison`), and the comparisons of all pairs on a study
are corrected together (:func:`correct`, Holm).
"""

from __future__ import annotations

import numpy as np


def resample(l: int, samples: int, seed: int) -> np.ndarray:
    """(samples, l) sound indices drawn with replacement, NumPy's PCG64 seeded by ``seed``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.integers(0, l, size=(samples, l))


def pair_weights(idx: np.ndarray, rated: np.ndarray) -> np.ndarray:
    """How often each original pair (p,) occurs among the pairs of the sample ``idx`` (l,):
    every a < b with idx[a] != idx[b] counts once for the pair {idx[a], idx[b]}; unrated
    pairs (``rated`` (p,) False) weigh 0.  Condensed order: i < j, row-major."""
    idx = np.asarray(idx)
    l = len(idx)
    a, b = np.triu_indices(l, 1)
    i, j = np.minimum(idx[a], idx[b]), np.maximum(idx[a], idx[b])
    keep = i != j
    i, j = i[keep], j[keep]
    k = i * l - i * (i + 1) // 2 + (j - i - 1)
    return np.bincount(k, minlength=l * (l - 1) // 2).astype(float) * np.asarray(rated, dtype=bool)


def valid_pairs(idx: np.ndarray, rated_matrix: np.ndarray) -> np.ndarray:
    """(l, l) the pairs of ``M[np.ix_(idx, idx)]`` to use: two distinct sounds, rated."""
    idx = np.asarray(idx)
    return (idx[:, None] != idx[None, :]) & np.asarray(rated_matrix, dtype=bool)[np.ix_(idx, idx)]


def weighted_pearson(d: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """Pearson's P of ``d`` and ``s`` (p,) with multiplicities ``w`` (p,): that of the list
    in which pair q appears w_q times; NaN when either is constant."""
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    dc = d - (w @ d) / total
    sc = s - (w @ s) / total
    den = np.sqrt((w @ (dc * dc)) * (w @ (sc * sc)))
    return float((w @ (dc * sc)) / den) if den > 0 else float("nan")


def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The average rank (1-based) of each x_q in the list where it appears w_q times."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    start = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    tied = np.add.reduceat(ws, start)  # weight of each run of equal values
    below = np.cumsum(tied) - tied
    run = np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(xs)]))
    ranks = np.empty(len(x))
    ranks[order] = below[run] + (tied[run] + 1) / 2
    return ranks


def weighted_spearman(d: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """Spearman's rho of ``d`` and ``s`` (p,) with multiplicities ``w`` (p,) (> 0): that of
    the list in which pair q appears w_q times (average ranks for ties)."""
    return weighted_pearson(weighted_ranks(d, w), weighted_ranks(s, w), w)


def interval(values, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval holding ``level`` of the finite bootstrap ``values``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return float("nan"), float("nan")
    tail = 50 * (1 - level)
    low, high = np.percentile(v, [tail, 100 - tail])
    return float(low), float(high)


def paired_comparison(values_a, values_b, point_a: float, point_b: float, level: float = 0.95) -> dict:
    """Representation A against B on the same bootstrap samples: the difference of the
    point estimates, the interval of the bootstrap differences and the two-sided p-value
    p = min(1, 2 min(share of differences <= 0, share >= 0)) over the finite differences
    (A against itself: p = 1)."""
    diff = np.asarray(values_a, dtype=np.float64) - np.asarray(values_b, dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    low, high = interval(diff, level)
    p = min(1.0, 2 * min(np.mean(diff <= 0), np.mean(diff >= 0))) if diff.size else float("nan")
    return dict(difference=float(point_a - point_b), low=low, high=high, p=float(p))


def correct(p_values, method: str = "holm") -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` (in their order): the k-th smallest is
    multiplied by (m - k + 1), made non-decreasing, capped at 1.  NaN stays NaN."""
    if method != "holm":
        raise ValueError(f"unknown correction {method!r}; only 'holm'")
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adjusted
    return out
