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

Shapes: l sounds, p = l (l - 1) / 2 pairs in condensed order (i < j, row-major,
``np.triu_indices(l, 1)``), B bootstrap samples.  A sample is an index vector (l,) into
the sounds; a number on it either weighs the original pairs by their multiplicity
(:func:`pair_weights`, for Pearson and Spearman over pairs) or reads the resampled
matrices ``M[np.ix_(idx, idx)]`` with the pairs :func:`valid_pairs` allows (for the rank
metrics).  Everything is NumPy and deterministic given the seed of :func:`resample`.
"""

from __future__ import annotations

import numpy as np


def resample(l: int, samples: int, seed: int) -> np.ndarray:
    """(samples, l) int64 sound indices in [0, l), drawn with replacement by NumPy's PCG64
    seeded with ``seed``: the same seed gives the same samples."""
    if l < 1 or samples < 0:
        raise ValueError(f"resample needs l >= 1 sounds and samples >= 0, got l={l}, samples={samples}")
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.integers(0, l, size=(samples, l), dtype=np.int64)


def pair_weights(idx: np.ndarray, rated: np.ndarray) -> np.ndarray:
    """How often each original pair (p,) occurs among the pairs of the sample ``idx`` (l,):
    every a < b with idx[a] != idx[b] counts once for the pair {idx[a], idx[b]}; unrated
    pairs (``rated`` (p,) False) weigh 0.  Condensed order: i < j, row-major.  A stack of
    samples ``idx`` (B, l) gives (B, p), row b that of sample b."""
    idx, rated = np.asarray(idx), np.asarray(rated, dtype=bool)
    l = idx.shape[-1]
    p = l * (l - 1) // 2
    if rated.shape != (p,):
        raise ValueError(f"rated has shape {rated.shape}, expected ({p},) for a sample of {l} sounds")
    a, b = np.triu_indices(l, 1)
    i, j = np.minimum(idx[..., a], idx[..., b]), np.maximum(idx[..., a], idx[..., b])
    k = i * l - i * (i + 1) // 2 + (j - i - 1) + p * np.arange(idx.size // l).reshape(*idx.shape[:-1], 1)
    counts = np.bincount(k[i != j], minlength=idx.size // l * p).reshape(*idx.shape[:-1], p)
    return counts.astype(np.float64) * rated


def valid_pairs(idx: np.ndarray, rated_matrix: np.ndarray) -> np.ndarray:
    """(l, l) the pairs of ``M[np.ix_(idx, idx)]`` to use: two distinct sounds, rated."""
    idx = np.asarray(idx)
    return (idx[:, None] != idx[None, :]) & np.asarray(rated_matrix, dtype=bool)[np.ix_(idx, idx)]


def weighted_pearson(d: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    """Pearson's P of ``d`` and ``s`` (p,) with multiplicities ``w`` (p,): that of the list
    in which pair q appears w_q times; NaN when either is constant or no weight is left.
    Entries of weight 0 are left out, so an unrated pair may hold NaN."""
    w = np.asarray(w, dtype=np.float64)
    keep = w > 0
    d, s, w = np.asarray(d, dtype=np.float64)[keep], np.asarray(s, dtype=np.float64)[keep], w[keep]
    total = w.sum()
    if not total > 0:
        return float("nan")
    dc = d - (w @ d) / total
    sc = s - (w @ s) / total
    den = np.sqrt((w @ (dc * dc)) * (w @ (sc * sc)))
    return float((w @ (dc * sc)) / den) if den > 0 else float("nan")


def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The average rank (1-based) of each x_q (p,) in the list where it appears w_q times;
    ``w`` (B, p) gives (B, p), row b with the multiplicities of row b.  Integer
    multiplicities give exact ranks (integers and halves); a NaN x_q ranks after every
    number, tied with nothing."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[..., order]
    start = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    tied = np.add.reduceat(ws, start, axis=-1)  # weight of each run of equal values
    below = np.cumsum(tied, axis=-1) - tied
    run = np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(xs)]))
    ranks = np.empty(ws.shape)
    ranks[..., order] = below[..., run] + (tied[..., run] + 1) / 2
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


def statistics(idx_samples: np.ndarray, statistic) -> dict[str, np.ndarray] | np.ndarray:
    """``statistic(idx)`` on each bootstrap sample ``idx`` of ``idx_samples`` (B, l).

    ``statistic`` returns a dict of floats (then: a dict of arrays (B,), keyed as the
    first sample's dict, a key missing on a later sample giving NaN there) or a float or
    1-D array (k,) (then: an array (B,) or (B, k)).  With no samples: an empty array (0,)."""
    results = [statistic(np.asarray(idx)) for idx in idx_samples]
    if not results:
        return np.empty(0)
    if isinstance(results[0], dict):
        return {k: np.array([float(r.get(k, np.nan)) for r in results]) for k in results[0]}
    return np.array([np.asarray(r, dtype=np.float64) for r in results])


def paired_comparison(values_a, values_b, point_a: float, point_b: float, level: float = 0.95) -> dict:
    """Representation A against B on the same bootstrap samples.

    ``values_a``, ``values_b`` (B,): the two numbers on the same B samples (so that the
    differences are paired); ``point_a``, ``point_b``: their values on every sound once.
    Returns ``difference`` = point_a - point_b, ``low`` and ``high``: the percentile
    interval (:func:`interval`) of diff = values_a - values_b, and the two-sided bootstrap
    p-value over the n finite differences

        p = min(1, 2 min(#{diff <= 0} / n, #{diff >= 0} / n)),

    the share of samples in which the sign of the difference goes the other way, doubled
    (A against itself: every diff is 0, p = 1 exactly; A above B on every sample: p = 0,
    i.e. below 1/n).  With no finite difference: interval and p NaN."""
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
