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

The anchor metrics are vectorized over anchors with (l, l, l) arrays: a study's five numbers
take well under a millisecond at l = 24.
"""

from __future__ import annotations

import numpy as np

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
    out by the metrics as if unrated."""
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
    feature; a zero or NaN weight is an error."""
    F = _features(features)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (F.shape[1],):
        raise DataError(f"weights must be ({F.shape[1]},) for features {F.shape}, got shape {w.shape}")
    if np.any(w == 0) or np.any(np.isnan(w)):
        raise DataError("weights must be nonzero and not NaN")
    l = len(F)
    i, j = np.triu_indices(l, 1)
    return _from_pairs(np.sqrt(((F[i] - F[j]) ** 2) @ w**-2.0), l)


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


def _check(distances, ratings, valid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d, r, used): the matrices as float64 and the symmetric (l, l) mask of used pairs."""
    d, r = _square("distances", distances), _square("ratings", ratings)
    if d.shape != r.shape:
        raise DataError(f"distances {d.shape} and ratings {r.shape} must have the same shape")
    l = len(r)
    used = np.isfinite(d) & np.isfinite(r) & _valid(valid, l) & ~np.eye(l, dtype=bool)
    return d, r, used & used.T


def normalize(matrix, valid=None) -> np.ndarray:
    """``matrix`` (l, l) divided by its largest finite value over the pairs i < j that
    ``valid`` (l, l) holds (default: every off-diagonal pair): (l, l).  Returned unchanged
    (as float64) when that largest value is 0 or less, or when no pair is valid."""
    M = _square("matrix", matrix)
    upper = np.triu(_valid(valid, len(M)), 1) & np.isfinite(M)
    top = M[upper].max() if upper.any() else 0.0
    return M / top if top > 0 else M


def _row_ranks(x: np.ndarray, used: np.ndarray) -> np.ndarray:
    """(l, l): entry (i, j) is the average rank (1-based) of x_ij among the used entries
    of row i; meaningless where (i, j) is not used."""
    below = ((x[:, None, :] < x[:, :, None]) & used[:, None, :]).sum(axis=2)  # [i, j]: #k with x_ik < x_ij
    tied = ((x[:, None, :] == x[:, :, None]) & used[:, None, :]).sum(axis=2)  # includes k = j itself
    return below + (tied + 1) / 2.0


def _row_pearson(a: np.ndarray, b: np.ndarray, used: np.ndarray) -> np.ndarray:
    """(l,): Pearson's r of rows a_i and b_i over their used entries; NaN with fewer than
    2 entries or a constant row."""
    m = used.sum(axis=1)
    n = np.maximum(m, 1)[:, None]
    ac = np.where(used, a - np.where(used, a, 0.0).sum(axis=1, keepdims=True) / n, 0.0)
    bc = np.where(used, b - np.where(used, b, 0.0).sum(axis=1, keepdims=True) / n, 0.0)
    den = np.sqrt((ac * ac).sum(axis=1) * (bc * bc).sum(axis=1))
    ok = (m >= 2) & (den > 0)
    return np.where(ok, (ac * bc).sum(axis=1) / np.where(ok, den, 1.0), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray, defined: np.ndarray, empty: float) -> np.ndarray:
    """num / den where den > 0, ``empty`` where den == 0, NaN where not ``defined``."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(defined, np.where(den > 0, num / safe, empty), np.nan)


def _normalized(distances, ratings, valid):
    d, r, used = _check(distances, ratings, valid)
    dn = np.where(used, normalize(np.where(used, d, 0.0), used), 0.0)
    rn = np.where(used, normalize(np.where(used, r, 0.0), used), 0.0)
    return dn, rn, used


def anchor_values(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, np.ndarray]:
    """The four anchor metrics of every anchor sound: ``distances``, ``ratings`` and
    ``valid`` (l, l) -> {name: (l,)} for each name of ``ANCHOR_METRICS``.

    NaN marks an anchor left out: for the correlations, fewer than 2 used others or a
    constant row; for the triplet agreement (0 when no pair of others exceeds ``margin``)
    and NDCG, no used other at all.  See the module docstring for the definitions."""
    dn, rn, used = _normalized(distances, ratings, valid)
    l = len(rn)
    m = used.sum(axis=1)
    out = {"anchor_spearman": _row_pearson(_row_ranks(dn, used), _row_ranks(rn, used), used)}

    # pairs {j, k} (j < k) of used others of anchor i: (l, l, l) indexed [i, j, k]
    pair = used[:, :, None] & used[:, None, :] & np.triu(np.ones((l, l), dtype=bool), 1)[None]
    sd = np.sign(dn[:, :, None] - dn[:, None, :])
    sr = np.sign(rn[:, :, None] - rn[:, None, :])
    n0 = pair.sum(axis=(1, 2))
    n1 = (pair & (sd == 0)).sum(axis=(1, 2))
    n2 = (pair & (sr == 0)).sum(axis=(1, 2))
    concordance = np.where(pair, sd * sr, 0.0).sum(axis=(1, 2))  # n_c - n_d
    tau_den = np.sqrt((n0 - n1).astype(float) * (n0 - n2))
    out["anchor_kendall"] = _ratio(concordance, tau_den, (m >= 2) & (tau_den > 0), np.nan)

    qualify = pair & (np.abs(rn[:, :, None] - rn[:, None, :]) > margin)
    agree = (qualify & (sd == sr) & (sr != 0)).sum(axis=(1, 2))
    out["triplet_agreement"] = _ratio(agree, qualify.sum(axis=(1, 2)), m >= 1, 0.0)

    relevance = np.where(used, 1.0 - rn, 0.0)
    score = 1.0 - dn
    order = np.argsort(np.where(used, -score, np.inf), axis=1, kind="stable")  # score descending, unused last
    discount = 1.0 / np.log2(np.arange(2, l + 2))
    dcg = (np.take_along_axis(relevance, order, axis=1) * discount).sum(axis=1)
    ideal = -np.sort(np.where(used, -relevance, np.inf), axis=1)  # relevance descending, unused last
    idcg = (np.where(np.isfinite(ideal), ideal, 0.0) * discount).sum(axis=1)
    out["ndcg"] = _ratio(dcg, idcg, m >= 1, 0.0)
    return out


def _mae_terms(distances, ratings, valid) -> tuple[float, int]:
    """(sum of |d'_ij - r'_ij| over the used pairs i < j, their number)."""
    dn, rn, used = _normalized(distances, ratings, valid)
    upper = np.triu(used, 1)
    return float(np.abs(dn - rn)[upper].sum()), int(upper.sum())


def _mean(values: np.ndarray) -> float:
    counted = values[np.isfinite(values)]
    return float(counted.mean()) if counted.size else float("nan")


def study_metrics(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, float]:
    """The five numbers of one study, {name: float} for each name of ``METRICS``:
    ``distances``, ``ratings``, ``valid`` (l, l).  Each anchor metric is the mean over its
    counted (non-NaN) anchors, NaN when none counts; ``mae`` the mean over the used pairs
    i < j, NaN when there is none."""
    out = {k: _mean(v) for k, v in anchor_values(distances, ratings, valid=valid, margin=margin).items()}
    total, count = _mae_terms(distances, ratings, valid)
    out["mae"] = total / count if count else float("nan")
    return out


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
        for k, v in anchor_values(d, r, valid=valid, margin=margin).items():
            counted = v[np.isfinite(v)]
            sums[k] += float(counted.sum())
            counts[k] += counted.size
        t, c = _mae_terms(d, r, valid)
        total, pairs = total + t, pairs + c
    out = {k: sums[k] / counts[k] if counts[k] else float("nan") for k in ANCHOR_METRICS}
    out["mae"] = total / pairs if pairs else float("nan")
    return out
