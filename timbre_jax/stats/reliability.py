"""How much the listeners agree: the reliability of a study's mean ratings.

Every function takes the per-participant condensed ratings ``X`` (m, p): participant by
pair (i < j, row-major, :attr:`timbre_jax.data.participants.Participants.pairs`), NaN where
a participant did not rate a pair.  A pair's mean rating averages the participants who
rated it (:func:`timbre_jax.data.participants.mean_of`), as the study's mean ratings do.

- :func:`split_half`: random halves of the participants (the first ``m // 2`` of a
  permutation against the rest), the Pearson correlation of the two halves' mean ratings
  over the pairs both rated, corrected to the full panel by Spearman–Brown, ``2r / (1 + r)``
  (exact for equal halves; with odd m the halves differ by one participant);
- :func:`cronbach_alpha`: participants as items and pairs as cases, on the pairs every
  participant rated;
- :func:`retest_correlation`: first against second judgement of the pairs a participant rated twice;
- :func:`leave_one_out`: each participant against the mean of the others, and
  :func:`outliers` among them;
- :func:`pair_spread`: the spread of the ratings of each pair across participants and the
  standard error of its mean, the measured rater noise in the paper's δ units.

A correlation needs 3 pairs at least (NaN with fewer, or when one side is constant).
Reliability needs two participants (:func:`require_two`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.errors import DataError

MIN_PAIRS = 3  # pairs a correlation needs; fewer give NaN
SPLITS = 1000  # random halves of the participants, by default


def require_two(X: np.ndarray, study: str = "the study") -> np.ndarray:
    """``X`` (m, p) as float64, refused (:class:`DataError`) with fewer than two participants:
    one listener has nobody to agree with (the mean ratings are still usable elsewhere)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"per-participant ratings have shape {X.shape}; expected (m, p)")
    if X.shape[0] < 2:
        raise DataError(f"reliability needs at least two participants; {study} has {X.shape[0]}")
    return X


def rowwise_pearson(a: np.ndarray, b: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``a`` with the same row of ``b`` (k, p) over the entries
    where ``use`` (k, p) is true: (k,); NaN where fewer than :data:`MIN_PAIRS` are used or
    a side is constant there."""
    w = use.astype(np.float64)
    a, b = np.where(use, a, 0.0), np.where(use, b, 0.0)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ca = np.where(use, a - (a.sum(axis=1) / n)[:, None], 0.0)
        cb = np.where(use, b - (b.sum(axis=1) / n)[:, None], 0.0)
        r = (ca * cb).sum(axis=1) / np.sqrt((ca * ca).sum(axis=1) * (cb * cb).sum(axis=1))
    return np.where(n >= MIN_PAIRS, r, np.nan)


def spearman_brown(r):
    """The reliability of a panel twice the size of the halves correlating ``r``: 2r / (1 + r)."""
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(r > -1.0, 2.0 * r / (1.0 + r), np.nan)


def halves(m: int, splits: int = SPLITS, seed: int = 0) -> np.ndarray:
    """(splits, m) bool: True for the participants of each split's first half, the first
    ``m // 2`` of a random permutation (one ``Generator(PCG64(seed))`` for all splits,
    each row a permutation of its uniform draws)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    order = np.argsort(rng.random((splits, m)), axis=1)
    first = np.zeros((splits, m), dtype=bool)
    np.put_along_axis(first, order[:, : m // 2], True, axis=1)
    return first


def half_means(X: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The mean ratings of each group of participants: ``members`` (k, m) bool, ``X`` (m, p)
    -> (k, p), per pair the mean over the group's participants who rated it (NaN: none)."""
    rated = np.isfinite(X)
    members = members.astype(np.float64)
    total = members @ np.where(rated, X, 0.0)
    n = members @ rated.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1.0), np.nan)


@dataclass(frozen=True)
class SplitHalf:
    """Split-half reliability of the mean ratings: ``r`` (splits,) the halves' Pearson
    correlation per split, ``values`` (splits,) its Spearman–Brown correction; the median of
    ``values`` and their 2.5% and 97.5% quantiles (``low``, ``high``), NaN splits left out."""

    r: np.ndarray
    values: np.ndarray
    median: float
    low: float
    high: float


def split_half(X: np.ndarray, splits: int = SPLITS, seed: int = 0, study: str = "the study") -> SplitHalf:
    """Split-half reliability of the mean ratings of ``X`` (m, p) over ``splits`` random
    halves (:func:`halves`): each half's mean ratings, their Pearson r over the pairs both
    halves rated, corrected by :func:`spearman_brown`."""
    X = require_two(X, study)
    first = halves(X.shape[0], splits, seed)
    a, b = half_means(X, first), half_means(X, ~first)
    r = rowwise_pearson(a, b, np.isfinite(a) & np.isfinite(b))
    values = spearman_brown(r)
    kept = values[np.isfinite(values)]
    if not kept.size:
        return SplitHalf(r, values, np.nan, np.nan, np.nan)
    low, median, high = np.quantile(kept, [0.025, 0.5, 0.975])
    return SplitHalf(r, values, float(median), float(low), float(high))


def complete_pairs(X: np.ndarray) -> np.ndarray:
    """(p,) bool: the pairs every participant rated."""
    return np.isfinite(X).all(axis=0)


def cronbach_alpha(X: np.ndarray, study: str = "the study") -> float:
    """Cronbach's α of ``X`` (m, p), participants as items and pairs as cases, on the pairs
    every participant rated (:func:`complete_pairs`): ``m/(m-1) (1 - Σ_i var(x_i) / var(Σ_i x_i))``,
    variances over the pairs (ddof=1).  NaN with fewer than 2 such pairs or no variance."""
    X = require_two(X, study)
    C = X[:, complete_pairs(X)]
    if C.shape[1] < 2:
        return float("nan")
    m = C.shape[0]
    total = C.sum(axis=0).var(ddof=1)
    if total <= 0:
        return float("nan")
    return float(m / (m - 1) * (1.0 - C.var(axis=1, ddof=1).sum() / total))


def retest_correlation(retest: np.ndarray) -> float:
    """Pearson's r of the first (column 0) against the second judgement (column 1) of every
    repeated (participant, pair), ``retest`` (r, 2); NaN with fewer than :data:`MIN_PAIRS` repeats."""
    retest = np.asarray(retest, dtype=np.float64).reshape(-1, 2)
    both = np.isfinite(retest).all(axis=1)
    return float(rowwise_pearson(retest[None, :, 0], retest[None, :, 1], both[None])[0])


def others_means(X: np.ndarray) -> np.ndarray:
    """(m, p): per participant, the mean ratings of all the other participants (NaN where
    none of them rated the pair)."""
    rated = np.isfinite(X)
    values = np.where(rated, X, 0.0)
    total, n = values.sum(axis=0), rated.sum(axis=0)
    rest, count = total[None] - values, n[None] - rated
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, rest / np.maximum(count, 1), np.nan)


def leave_one_out(X: np.ndarray, study: str = "the study") -> np.ndarray:
    """(m,): each participant's Pearson r with the mean of the others (:func:`others_means`)
    over the pairs the participant and at least one other rated."""
    X = require_two(X, study)
    others = others_means(X)
    return rowwise_pearson(X, others, np.isfinite(X) & np.isfinite(others))


def with_mean(X: np.ndarray, study: str = "the study") -> np.ndarray:
    """(m,): each participant's Pearson r with the mean of all participants (themselves
    included) over the pairs they rated."""
    X = require_two(X, study)
    mean = np.broadcast_to(half_means(X, np.ones((1, X.shape[0]), dtype=bool)), X.shape)
    return rowwise_pearson(X, mean, np.isfinite(X) & np.isfinite(mean))


def outliers(loo: np.ndarray) -> np.ndarray:
    """(m,) bool: the participants whose leave-one-out r (``loo`` (m,)) is negative or below
    Q1 − 1.5·IQR of the participants' values (Tukey's fence), flagged, never removed; a NaN r
    (too few pairs in common) is not flagged."""
    loo = np.asarray(loo, dtype=np.float64)
    given = loo[np.isfinite(loo)]
    if not given.size:
        return np.zeros(loo.shape, dtype=bool)
    q1, q3 = np.quantile(given, [0.25, 0.75])
    with np.errstate(invalid="ignore"):
        return np.isfinite(loo) & ((loo < 0.0) | (loo < q1 - 1.5 * (q3 - q1)))


@dataclass(frozen=True)
class PairSpread:
    """How far the participants' ratings of each pair spread, (p,) each: ``raters`` (who rated
    it), ``sd`` (their standard deviation, ddof=1; NaN with fewer than 2 raters), ``sem``
    (the standard error of the pair's mean rating, sd / √raters) and ``half_sem`` (that of a
    half panel's mean, sd / √(raters/2)); with their medians over the pairs that have them.
    ``sem_median`` is the measured noise of the mean ratings in the paper's δ units (its
    robustness sweep adds δ·ξ, ξ ~ N(0, 1), to the mean ratings)."""

    raters: np.ndarray
    sd: np.ndarray
    sem: np.ndarray
    half_sem: np.ndarray
    sd_median: float
    sem_median: float
    half_sem_median: float


def pair_spread(X: np.ndarray) -> PairSpread:
    """:class:`PairSpread` of ``X`` (m, p)."""
    X = np.asarray(X, dtype=np.float64)
    rated = np.isfinite(X)
    raters = rated.sum(axis=0)
    n = np.maximum(raters, 1)
    mean = np.where(rated, X, 0.0).sum(axis=0) / n
    squares = np.where(rated, (X - mean) ** 2, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(raters >= 2, np.sqrt(squares / np.maximum(raters - 1, 1)), np.nan)
    sem, half_sem = sd / np.sqrt(n), sd / np.sqrt(n / 2.0)

    def median(v):
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else float("nan")

    return PairSpread(raters, sd, sem, half_sem, median(sd), median(sem), median(half_sem))


def paper_noise(m: int) -> float:
    """The paper's typical rater noise δ̄ = 0.1·√m for m participants (Pascal & Lagrange, Eq. 6)."""
    return 0.1 * float(np.sqrt(m))
