"""Which named dimension a learned metric relies on, and how much that depends on the sounds.

A learned metric weighs the squared difference of dimension k by u_k = 1 / w_k^2; the
importance of dimension k is its share of the whole,

    importance_k = u_k / sum_j u_j,

which sums to 1 and does not change when every weight is multiplied by one number (nor
does the fit's correlation).  The exact optimum (:class:`~timbre_jax.solvers.Exact`) is
sparse: a dimension it does not use sits at its bound w = 1e15, u = 1e-30
(:data:`timbre_jax.optim.exact_lockstep.U_FLOOR`), counted here as exactly 0.

The bootstrap over sounds (:mod:`timbre_jax.stats.bootstrap`) says how much the importance
depends on which sounds were rated: the sounds are drawn with replacement (within each
study of a joint problem, :func:`resample_within`, so that each study keeps its number of
sounds), the resampled problem is ``features[idx]``, ``ratings[np.ix_(idx, idx)]`` with
every pair of a sound with its own copy unrated (:func:`resampled_problem`), and the exact
optimum is refitted on every sample in one batched solve (:func:`bootstrap_weights`).  Per
dimension (:func:`measure`): the 2.5 and 97.5 percentiles of its importance over the
samples, and the share of samples in which the optimum uses it at all ("selected").
Frame-aligned representations (:class:`~timbre_jax.core.aligned.AlignedPairs`) hold pairs,
not sounds: they cannot be resampled this way and get no interval.

Shapes: n dimensions, l sounds (in a joint problem, the sum over its studies), B samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.core.aligned import dims_of, is_aligned
from timbre_jax.errors import DataError
from timbre_jax.fit.learn import learn_metrics
from timbre_jax.optim.exact_lockstep import U_FLOOR
from timbre_jax.solvers import Exact
from timbre_jax.stats.bootstrap import interval

NO_INTERVAL_ALIGNED = ("no interval: a frame-aligned representation is stored per pair of sounds, not per sound, so "
                       "its sounds cannot be resampled")


def importance(weights) -> np.ndarray:
    """The importance u / sum(u), u = w^-2, of weights (n,) or of each row of (B, n): same
    shape, each row summing to 1; a dimension at the exact solver's bound (u <= 1e-30)
    counts 0; a row with no u > 0 is NaN."""
    u = np.asarray(weights, dtype=np.float64) ** -2.0
    u = np.where(u <= U_FLOOR * (1 + 1e-9), 0.0, u)  # 1e15 ** -2 up to its rounding
    total = u.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, u / total, np.nan)


def ranking(values, names) -> np.ndarray:
    """The indices (n,) of the dimensions by descending ``values`` (n,), equal values in
    the order of their ``names`` (n,); NaN last."""
    v = np.asarray(values, dtype=np.float64)
    key = np.where(np.isfinite(v), -v, np.inf)
    return np.array(sorted(range(len(v)), key=lambda k: (key[k], str(names[k]), k)), dtype=np.int64)


def resample_within(sizes, samples: int, seed: int) -> np.ndarray:
    """(samples, sum(sizes)) int64 sound indices: block b (the sizes[b] sounds of study b
    of a joint problem, in order) drawn with replacement within itself, one NumPy PCG64
    generator seeded with ``seed`` drawing the blocks in order.  One block is exactly
    :func:`timbre_jax.stats.bootstrap.resample` (l, samples, seed)."""
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1 or samples < 0:
        raise ValueError(f"resample_within needs blocks of at least 1 sound and samples >= 0, got {sizes}, {samples}")
    rng = np.random.Generator(np.random.PCG64(seed))
    offsets = np.cumsum([0, *sizes[:-1]])
    return np.concatenate([o + rng.integers(0, s, size=(samples, s), dtype=np.int64)
                           for o, s in zip(offsets, sizes)], axis=1)


def resampled_problem(features: np.ndarray, ratings: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The problem on the sample ``idx`` (l,): features[idx] (l, n) and ratings[idx][:, idx]
    (l, l), every pair of a sound with its own copy unrated (NaN), as the diagonal is."""
    idx = np.asarray(idx)
    R = np.array(np.asarray(ratings, dtype=np.float64)[np.ix_(idx, idx)])
    R[idx[:, None] == idx[None, :]] = np.nan
    return np.asarray(features, dtype=np.float64)[idx], R


def bootstrap_weights(features, ratings, *, samples: int, seed: int, sizes=None) -> tuple[np.ndarray, np.ndarray, int]:
    """The exact optimum refitted on ``samples`` bootstrap samples of the sounds, in one
    batched solve: (idx (B, l) the samples (:func:`resample_within` over ``sizes``, default
    one block of all l sounds), weights (B, n), the number of fits not certified).
    ``features`` (l, n), ``ratings`` (l, l) with NaN unrated (a joint problem: the studies'
    blocks on the diagonal, :func:`timbre_jax.data.datasets.joint_problem`)."""
    features, ratings = np.asarray(features, dtype=np.float64), np.asarray(ratings, dtype=np.float64)
    l = len(features)
    sizes = [l] if sizes is None else list(sizes)
    if sum(sizes) != l:
        raise DataError(f"the studies' sizes {sizes} do not add up to the problem's {l} sounds")
    idx = resample_within(sizes, samples, seed)
    if not samples:
        return idx, np.empty((0, features.shape[1])), 0
    fits = learn_metrics([resampled_problem(features, ratings, i) for i in idx], solver=Exact())
    return idx, np.stack([f.weights for f in fits]), sum(not f.certified for f in fits)


@dataclass(frozen=True)
class Importance:
    """The importance of each of n named dimensions of one learned metric.

    ``names``, ``units`` (n,) ("" where none is given); ``value`` (n,): the importance of
    the fit's weights (sums to 1); ``low``, ``high`` (n,): its 95% percentile interval over
    the bootstrap samples; ``selected`` (n,): the share of samples whose optimum uses the
    dimension (importance > 0); all three NaN without a bootstrap.  ``samples``: B (0:
    none); ``uncertified``: samples whose exact fit was not certified; ``note``: why
    there is no interval ('' when there is one or none was asked)."""

    names: tuple[str, ...]
    units: tuple[str, ...]
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    selected: np.ndarray
    samples: int = 0
    uncertified: int = 0
    note: str = ""

    def order(self) -> np.ndarray:
        """The dimensions' indices (n,), most important first (:func:`ranking`)."""
        return ranking(self.value, self.names)

    def label(self, k: int) -> str:
        """'name (unit)', or the name where it has no unit."""
        return f"{self.names[k]} ({self.units[k]})" if self.units[k] else self.names[k]


def measure(weights, names, units=None, *, features=None, ratings=None, samples: int = 0, seed: int = 0,
            sizes=None) -> Importance:
    """The :class:`Importance` of a fit's ``weights`` (n,) over dimensions ``names`` (n,)
    with ``units`` (n,) (None: none), with, where ``samples`` > 0, its bootstrap over the
    sounds of the problem ``features`` (l, n), ``ratings`` (l, l) (seeded by ``seed``;
    ``sizes``: the studies of a joint problem, :func:`bootstrap_weights`).  An aligned
    representation gets no interval, its ``note`` says why."""
    value = importance(weights)
    n = value.shape[0]
    names = tuple(str(x) for x in names)
    units = ("",) * n if units is None else tuple(str(x) for x in units)
    if len(names) != n or len(units) != n:
        raise DataError(f"{n} weights for {len(names)} dimension names and {len(units)} units")
    empty = np.full(n, np.nan)
    if samples <= 0:
        return Importance(names, units, value, empty, empty, empty)
    if is_aligned(features):
        return Importance(names, units, value, empty, empty, empty, note=NO_INTERVAL_ALIGNED)
    if dims_of(features) != n:
        raise DataError(f"{n} weights for features of {dims_of(features)} dimensions")
    _, W, uncertified = bootstrap_weights(features, ratings, samples=samples, seed=seed, sizes=sizes)
    shares = importance(W)  # (B, n)
    bounds = np.array([interval(shares[:, k]) for k in range(n)]).reshape(n, 2)
    finite = np.isfinite(shares).all(axis=1)
    selected = (shares[finite] > 0).mean(axis=0) if finite.any() else empty
    return Importance(names, units, value, bounds[:, 0], bounds[:, 1], selected, samples, uncertified)
