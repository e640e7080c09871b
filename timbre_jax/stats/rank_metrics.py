"""The rank metrics of the field's timbre benchmark, so that numbers from this package can
be set beside its leaderboard.

The benchmark is timbremetrics (Vahidi et al.), which scores a model's distance matrix
against the dissimilarity ratings of 21 published timbre studies.  This module restates its
definitions in NumPy/SciPy.  A study of l sounds has ratings r (l, l), symmetric, NaN for
an unrated pair, and model distances d (l, l), symmetric; both diagonals are ignored.

**Pairs used.**  A pair (i, j), i != j, is used when its rating and its distance are both
finite and, if a ``valid`` (l, l) boolean matrix is given, when ``valid`` holds it both ways
(``valid[i, j] and valid[j, i]``).  Unrated pairs and non-finite distances (a cosine
distance to an all-zero feature row) are left out of every sum below, as if they did not
exist.

**Normalization.**  Each matrix is divided by its largest value over the used pairs i < j:
d' = d / max d_ij, r' = r / max r_ij.  The benchmark min-max scales the upper triangle
with zeros elsewhere, so its minimum is 0 and min-max is this division.  A matrix whose
largest value is 0 or less is left unchanged (no division by zero).  Every metric below
works on d' and r'; the margin of the triplet agreement is on the scale of r'.

**Per anchor** sound i, over the m_i other sounds j whose pair (i, j) is used:

- ``anchor_spearman``: Spearman's rho of (d'_ij)_j and (r'_ij)_j: the Pearson correlation
  of their ranks, ties given average ranks (as ``scipy.stats.spearmanr``).
- ``anchor_kendall``: Kendall's tau-b of the same rows (as ``scipy.stats.kendalltau``,
  variant 'b'): (n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2)) with n_0 = m_i (m_i - 1) / 2
  pairs {j, k}, n_c / n_d the concordant / discordant ones, n_1 / n_2 those tied in d' / r'.
- ``triplet_agreement``: over the pairs {j, k} (j != k) with |r'_ij - r'_ik| > margin
  (strictly; default 0.1), the share with sign(d'_ij - d'_ik) = sign(r'_ij - r'_ik); a tie
  of the model (d'_ij = d'_ik) does not agree.  0 when no pair qualifies.  The comparison
  with the margin is exact in float64: a difference equal to the margin up to rounding
  may fall either side of it.
- ``ndcg``: the normalized discounted cumulative gain of retrieving similar sounds:
  relevance rel_j = 1 - r'_ij, score 1 - d'_ij.  The others are ranked by score,
  descending, ties in index order (a stable sort); DCG = sum_{k=1..m_i} rel_(k) / log2(k + 1),
  IDCG the same sum in the ideal order (relevance descending), ndcg = DCG / IDCG, and 0
  when IDCG is 0 (every rated other at the largest rating), so that it is never NaN.

**Undefined anchors.**  Spearman's rho and Kendall's tau are undefined (NaN) for an
anchor with fewer than 2 used others or whose row is constant in d' or in r'.  The
triplet agreement and NDCG are NaN only for an anchor with no used other at all.  A NaN
anchor is left out of that metric's mean (and of its pooled count); the others count.

**MAE**: the mean of |d'_ij - r'_ij| over the used pairs i < j.

**Per study** (:func:`study_metrics`): each anchor metric's mean over its counted anchors;
MAE over the pairs.

**Pooled** over studies (:func:`pooled`), as the benchmark pools: for an anchor metric, the
sum over every counted anchor of every study divided by the number of those anchors (the
total number of sounds when none is left out), not the mean of the study means; for MAE,
the sum of |d'_ij - r'_ij| over every used pair of every study divided by the number of
those pairs.  Each study is normalized on its own.

**Bootstrap.**  A resample ``idx`` (l,) of the sounds (with replacement) is scored as
``study_metrics(d[np.ix_(idx, idx)], r[np.ix_(idx, idx)], valid=valid)`` with
``valid[a, b] = (idx[a] != idx[b]) & rated[idx[a], idx[b]]``
(:func:`timbre_jax.stats.bootstrap.valid_pairs`): the pairs of a sound with its own copy are not
used, and copies of distinct sounds are distinct anchors.

**Stacks.**  Every number is computed on a stack of N studies or resamples at once, arrays
(N, l, l) (:func:`study_metrics_batch`; :func:`study_metrics` is its N = 1), vectorized over
anchors and over the ordered pairs (j, k) of others, (N, l, l, l) booleans; what comes from
the ratings alone is computed once for the members that share it.  A stack gives each of its
members the numbers it gives alone, to the last bit: counts are integers, and every sum of
floats runs over one row of l values or over the same compacted values in the same order as
for a single study (the means over counted anchors, MAE's sum over pairs), so the rounding
does not depend on the stack.
"""

from __future__ import annotations

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.errors import DataError

METRICS = ("anchor_spearman", "anchor_kendall", "triplet_agreement", "ndcg", "mae")
ANCHOR_METRICS = METRICS[:4]


def _features(features) -> np.ndarray:
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2:
        raise DataError(f"features must be (l, n), got shape {F.shape}")
    return F


def _from_pairs(values: np.ndarray, l: int) -> np.ndarray:
    """The symmetric (l, l) matrix of the condensed pair values (p,), zero diagonal."""
    i, j = np.triu_indices(l, 1)
    M = np.zeros((l, l))
    M[i, j] = M[j, i] = values
    return M


def distance_matrix(features, kind: str) -> np.ndarray:
    """Zero-shot distances of the feature rows: ``features`` (l, n) -> (l, l), zero diagonal.

    ``euclidean``: sqrt(sum_k (Psi_ik - Psi_jk)^2), not squared.  ``cosine``:
    1 - cos(Psi_i, Psi_j); an all-zero row has NaN distances, and its pairs are then left
    out by the metrics as if unrated.  A frame-aligned representation
    (:class:`~timbre_jax.core.aligned.AlignedPairs`) gives both on each pair's flattened
    aligned sequences, as the benchmark compares them."""
    if aligned.is_aligned(features):
        l = features.n_sounds
        if kind == "euclidean":
            return _from_pairs(np.sqrt(aligned.euclidean(features)), l)
        if kind == "cosine":
            return _from_pairs(aligned.cosine(features), l)
        raise DataError(f"unknown distance {kind!r}; use 'euclidean' or 'cosine'")
    F = _features(features)
    l = len(F)
    if kind == "euclidean":
        i, j = np.triu_indices(l, 1)
        return _from_pairs(np.sqrt(((F[i] - F[j]) ** 2).sum(axis=1)), l)
    if kind == "cosine":
        norms = np.linalg.norm(F, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            M = 1.0 - (F @ F.T) / (norms[:, None] * norms[None, :])
        M = (M + M.T) / 2  # exactly symmetric whatever the matrix product's rounding
        np.fill_diagonal(M, 0.0)
        return M
    raise DataError(f"unknown distance {kind!r}; use 'euclidean' or 'cosine'")


def learned_distance_matrix(features, weights) -> np.ndarray:
    """The learned metric, not squared: ``features`` (l, n), ``weights`` (n,) -> (l, l),
    sqrt(sum_k (Psi_ik - Psi_jk)^2 / w_k^2), zero diagonal.  An infinite weight ignores its
    feature; a zero or NaN weight is an error.  Aligned pairs: sqrt(sum_k S_qk / w_k^2)."""
    if aligned.is_aligned(features):
        D, l, n = aligned.pair_squares(features), features.n_sounds, features.n_dims
    else:
        F = _features(features)
        l, n = F.shape
        i, j = np.triu_indices(l, 1)
        D = (F[i] - F[j]) ** 2
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise DataError(f"weights must be ({n},) for a representation of {n} dimensions, got shape {w.shape}")
    if np.any(w == 0) or np.any(np.isnan(w)):
        raise DataError("weights must be nonzero and not NaN")
    return _from_pairs(np.sqrt(D @ w**-2.0), l)


def _square(name: str, matrix) -> np.ndarray:
    M = np.asarray(matrix, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise DataError(f"{name} must be a square (l, l) matrix, got shape {M.shape}")
    return M


def _valid(valid, l: int) -> np.ndarray:
    """``valid`` (l, l) as booleans, default every off-diagonal pair."""
    if valid is None:
        return ~np.eye(l, dtype=bool)
    V = np.asarray(valid, dtype=bool)
    if V.shape != (l, l):
        raise DataError(f"valid must be ({l}, {l}), got shape {V.shape}")
    return V


def _used(d: np.ndarray, r: np.ndarray, valid) -> np.ndarray:
    """The symmetric mask (..., l, l) of used pairs of ``d`` and ``r`` (..., l, l); ``valid``
    (..., l, l) booleans or None."""
    used = np.isfinite(d) & np.isfinite(r) & ~np.eye(d.shape[-1], dtype=bool)
    if valid is not None:
        used &= valid
    return used & np.swapaxes(used, -1, -2)


def _check(distances, ratings, valid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d, r, used): the matrices as float64 and the symmetric (l, l) mask of used pairs."""
    d, r = _square("distances", distances), _square("ratings", ratings)
    if d.shape != r.shape:
        raise DataError(f"distances {d.shape} and ratings {r.shape} must have the same shape")
    return d, r, _used(d, r, _valid(valid, len(r)))


def _check_stack(distances, ratings, valid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d, r, used) of stacks (N, l, l), as :func:`_check` of each member."""
    d, r = np.asarray(distances, dtype=np.float64), np.asarray(ratings, dtype=np.float64)
    if d.ndim != 3 or d.shape[1] != d.shape[2] or d.shape != r.shape:
        raise DataError(f"distances {d.shape} and ratings {r.shape} must be stacks (N, l, l) of one shape")
    V = None if valid is None else np.asarray(valid, dtype=bool)
    if V is not None and V.shape != d.shape:
        raise DataError(f"valid must be {d.shape}, got shape {V.shape}")
    return d, r, _used(d, r, V)


def _divided_by_top(M: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``M`` (..., l, l) divided by its largest value where ``upper`` holds, each matrix of
    the stack on its own; unchanged where that value is 0 or less or ``upper`` is empty."""
    top = np.where(upper, M, -np.inf).max(axis=(-2, -1), keepdims=True)
    return np.where(top > 0, M / np.where(top > 0, top, 1.0), M)


def normalize(matrix, valid=None) -> np.ndarray:
    """``matrix`` (l, l) divided by its largest finite value over the pairs i < j that
    ``valid`` (l, l) holds (default: every off-diagonal pair): (l, l).  Returned unchanged
    (as float64) when that largest value is 0 or less, or when no pair is valid."""
    M = _square("matrix", matrix)
    return _divided_by_top(M, np.triu(_valid(valid, len(M)), 1) & np.isfinite(M))


def _ordered(x: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(less, ranks) of ``x`` and ``used`` (..., l, l): ``less`` (..., l, l, l), entry
    [i, j, k] = x_ij < x_ik for used pairs (i, j) and (i, k); ``ranks`` (..., l, l), entry
    (i, j) the average rank (1-based) of x_ij among the used entries of row i, meaningless
    where (i, j) is not used."""
    less = (x[..., :, None] < x[..., None, :]) & used[..., :, None] & used[..., None, :]
    above, below = less.sum(axis=-1), less.sum(axis=-2)  # [i, j]: #used k with x_ik > x_ij, < x_ij
    tied = used.sum(axis=-1, keepdims=True) - above - below  # #used k with x_ik == x_ij, k = j included
    return less, below + (tied + 1) / 2.0


def _row_pearson(a: np.ndarray, b: np.ndarray, used: np.ndarray) -> np.ndarray:
    """(..., l): Pearson's r of rows a_i and b_i over their used entries; NaN with fewer
    than 2 entries or a constant row."""
    m = used.sum(axis=-1)
    n = np.maximum(m, 1)[..., None]
    ac = np.where(used, a - np.where(used, a, 0.0).sum(axis=-1, keepdims=True) / n, 0.0)
    bc = np.where(used, b - np.where(used, b, 0.0).sum(axis=-1, keepdims=True) / n, 0.0)
    den = np.sqrt((ac * ac).sum(axis=-1) * (bc * bc).sum(axis=-1))
    ok = (m >= 2) & (den > 0)
    return np.where(ok, (ac * bc).sum(axis=-1) / np.where(ok, den, 1.0), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray, defined: np.ndarray, empty: float) -> np.ndarray:
    """num / den where den > 0, ``empty`` where den == 0, NaN where not ``defined``."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(defined, np.where(den > 0, num / safe, empty), np.nan)


def _normalized(d: np.ndarray, r: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d', r') (..., l, l): each matrix divided by its largest used value above the
    diagonal (:func:`normalize`), 0 where a pair is not used."""
    upper = np.triu(used, 1)
    return tuple(np.where(used, _divided_by_top(np.where(used, M, 0.0), upper), 0.0) for M in (d, r))


def _count(mask: np.ndarray) -> np.ndarray:
    """(..., l): the true entries of ``mask`` (..., l, l, l) over its last two axes."""
    return mask.reshape(*mask.shape[:-2], -1).sum(axis=-1)


def _ratings_side(rn: np.ndarray, used: np.ndarray, margin: float) -> dict[str, np.ndarray]:
    """What the anchor metrics take from the ratings alone, for ``rn`` and ``used`` (U, l, l):
    ``less`` and ``ranks`` (:func:`_ordered`), ``ordered`` (U, l) the pairs {j, k} of used
    others with r'_ij != r'_ik, and ``qualify`` (U, l, l, l): r'_ij < r'_ik and
    |r'_ij - r'_ik| (= r'_ik - r'_ij exactly) > margin."""
    less, ranks = _ordered(rn, used)
    qualify = less & ((rn[..., None, :] - rn[..., :, None]) > margin)
    return dict(less=less, ranks=ranks, ordered=_count(less), qualify=qualify)


def _anchor_stack(dn: np.ndarray, rn: np.ndarray, used: np.ndarray, margin: float) -> dict[str, np.ndarray]:
    """The four anchor metrics (N, l) of normalized stacks ``dn``, ``rn`` and ``used`` (N, l, l).

    Each pair {j, k} of used others of anchor i is counted once, in its orientation with
    r'_ij < r'_ik: concordant when d'_ij < d'_ik, discordant when d'_ij > d'_ik, agreeing
    when concordant and qualifying; the pairs not tied in d' once with d'_ij < d'_ik.  The
    ratings' side (:func:`_ratings_side`) is computed once per distinct (r', used) of the
    stack: the distances of several kinds scored on one resample share it."""
    l = dn.shape[-1]
    m = used.sum(axis=-1)
    keys: dict[bytes, int] = {}
    group = np.array([keys.setdefault(rn[n].tobytes() + used[n].tobytes(), len(keys)) for n in range(len(rn))],
                     dtype=np.intp)
    first = np.unique(group, return_index=True)[1]
    side = {k: v[group] for k, v in _ratings_side(rn[first], used[first], margin).items()}
    less, ranks = _ordered(dn, used)
    out = {"anchor_spearman": _row_pearson(ranks, side["ranks"], used)}

    n0 = m * (m - 1) // 2
    n1, n2 = n0 - _count(less), n0 - side["ordered"]  # pairs tied in d', in r'
    concordance = _count(side["less"] & less) - _count(side["less"] & np.swapaxes(less, -1, -2))  # n_c - n_d
    tau_den = np.sqrt((n0 - n1).astype(float) * (n0 - n2))
    out["anchor_kendall"] = _ratio(concordance, tau_den, (m >= 2) & (tau_den > 0), np.nan)

    qualifying = _count(side["qualify"]) + (n2 if margin < 0 else 0)  # ties of r' qualify below a margin < 0
    agree = _count(side["qualify"] & less)
    out["triplet_agreement"] = _ratio(agree, qualifying, m >= 1, 0.0)

    relevance = np.where(used, 1.0 - rn, 0.0)
    score = 1.0 - dn
    order = np.argsort(np.where(used, -score, np.inf), axis=-1, kind="stable")  # score descending, unused last
    discount = 1.0 / np.log2(np.arange(2, l + 2))
    dcg = (np.take_along_axis(relevance, order, axis=-1) * discount).sum(axis=-1)
    ideal = -np.sort(np.where(used, -relevance, np.inf), axis=-1)  # relevance descending, unused last
    idcg = (np.where(np.isfinite(ideal), ideal, 0.0) * discount).sum(axis=-1)
    out["ndcg"] = _ratio(dcg, idcg, m >= 1, 0.0)
    return out


def _compacted_sums(values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sums (N,), counts (N,)): the sum of the kept entries of each member of ``values``
    (N, ...), taken over those entries alone in row-major order, as ``values[n][keep[n]].sum()``
    takes it (so to the same last bit: the members with one count are summed as the rows of
    one array), 0 where none is kept."""
    keep = keep.reshape(len(keep), -1)
    counts = keep.sum(axis=-1)
    sums = np.zeros(len(keep))
    flat = values.reshape(len(keep), -1)
    for c in np.unique(counts[counts > 0]):
        rows = counts == c
        sums[rows] = flat[rows][keep[rows]].reshape(-1, c).sum(axis=-1)
    return sums, counts


def _means(values: np.ndarray) -> np.ndarray:
    """(N,): the mean of the finite entries of each row of ``values`` (N, l), NaN where none is."""
    sums, counts = _compacted_sums(values, np.isfinite(values))
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _mae_terms(dn: np.ndarray, rn: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sums (N,) of |d'_ij - r'_ij| over the used pairs i < j, their numbers (N,))."""
    return _compacted_sums(np.abs(dn - rn), np.triu(used, 1))


def anchor_values(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, np.ndarray]:
    """The four anchor metrics of every anchor sound: ``distances``, ``ratings`` and
    ``valid`` (l, l) -> {name: (l,)} for each name of ``ANCHOR_METRICS``.

    NaN marks an anchor left out: for the correlations, fewer than 2 used others or a
    constant row; for the triplet agreement (0 when no pair of others exceeds ``margin``)
    and NDCG, no used other at all.  See the module docstring for the definitions."""
    d, r, used = _check(distances, ratings, valid)
    dn, rn = _normalized(d, r, used)
    return {k: v[0] for k, v in _anchor_stack(dn[None], rn[None], used[None], margin).items()}


def study_metrics_batch(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, np.ndarray]:
    """:func:`study_metrics` of each member of a stack: ``distances``, ``ratings``, ``valid``
    (N, l, l) (``valid`` None: every off-diagonal pair) -> {name: (N,)} for each name of
    ``METRICS``, member n's numbers equal to ``study_metrics(distances[n], ratings[n],
    valid=valid[n])`` to the last bit.  Memory: a few arrays of N l^3 bytes."""
    d, r, used = _check_stack(distances, ratings, valid)
    dn, rn = _normalized(d, r, used)
    out = {k: _means(v) for k, v in _anchor_stack(dn, rn, used, margin).items()}
    total, count = _mae_terms(dn, rn, used)
    out["mae"] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def study_metrics(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, float]:
    """The five numbers of one study, {name: float} for each name of ``METRICS``:
    ``distances``, ``ratings``, ``valid`` (l, l).  Each anchor metric is the mean over its
    counted (non-NaN) anchors, NaN when none counts; ``mae`` the mean over the used pairs
    i < j, NaN when there is none."""
    d, r, used = _check(distances, ratings, valid)
    out = study_metrics_batch(d[None], r[None], valid=used[None], margin=margin)
    return {k: float(v[0]) for k, v in out.items()}


def pooled(studies, *, margin: float = 0.1) -> dict[str, float]:
    """The five numbers pooled over ``studies``, as the benchmark pools them: {name: float}.

    ``studies``: a sequence of (distances (l, l), ratings (l, l)) tuples, l per study, or
    of (distances, ratings, valid (l, l)) triples.  Anchor metrics: the sum over the counted
    anchors of every study / their number; ``mae``: the sum over the used pairs of every
    study / their number (each study normalized on its own)."""
    sums = dict.fromkeys(ANCHOR_METRICS, 0.0)
    counts = dict.fromkeys(ANCHOR_METRICS, 0)
    total, pairs = 0.0, 0
    for study in studies:
        if len(study) not in (2, 3):
            raise DataError(f"a study is (distances, ratings) or (distances, ratings, valid), got {len(study)} items")
        d, r, valid = (*study, None)[:3]
        d, r, used = _check(d, r, valid)
        dn, rn = _normalized(d[None], r[None], used[None])
        for k, v in _anchor_stack(dn, rn, used[None], margin).items():
            counted = v[0][np.isfinite(v[0])]
            sums[k] += float(counted.sum())
            counts[k] += counted.size
        t, c = _mae_terms(dn, rn, used[None])
        total, pairs = total + float(t[0]), pairs + int(c[0])
    out = {k: sums[k] / counts[k] if counts[k] else float("nan") for k in ANCHOR_METRICS}
    out["mae"] = total / pairs if pairs else float("nan")
    return out
