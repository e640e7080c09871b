"""The rank metrics of the field's timbre benchmark, so that numbers from this package can
be set beside its leaderboard.

The benchmark (timbremetrics, Vahidi et al.: 21 published dissimilarity studies) scores a
model's distance matrix against each study's ratings.  Definitions, for a study of l
sounds with ratings r (l, l) and model distances d (l, l):

- **Normalization**: each matrix is divided by its largest value over the rated pairs
  i < j (the benchmark min-max scales the upper triangle with zeros elsewhere, so its
  minimum is 0).  A matrix whose largest value is 0 is left as it is.
- **Per anchor** sound i, over the other sounds j whose pair (i, j) is rated:
  ``anchor_spearman``, Spearman's rho between row i of d and row i of r (average ranks
  for ties); ``anchor_kendall``, Kendall's tau-b between the same rows,
  (n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2)) with n_1, n_2 the pairs tied in d, in r;
  ``triplet_agreement``, among the pairs {j, k} of other sounds with
  |r_ij - r_ik| > margin (default 0.1), the share with sign(d_ij - d_ik) =
  sign(r_ij - r_ik) (a tie of the model does not agree), 0 where no pair qualifies;
  ``ndcg``, the normalized discounted cumulative gain of retrieving similar sounds:
  relevance 1 - r_ij, score 1 - d_ij, the others ranked by score (descending, ties in
  index order), DCG = sum_k rel_(k) / log2(k + 1) over positions k = 1..m, divided by
  the DCG of the ideal order (0 where that is 0).
- ``mae``: the mean absolute difference of the normalized matrices over the rated pairs.
- **Per study**: the mean over anchors (an anchor whose correlation is undefined, with
  fewer than 2 rated others or a constant row, is left out of that mean); MAE over pairs.
- **Pooled** over studies as the benchmark pools them: for an anchor metric, the sum over
  every counted anchor of every study divided by the number of those anchors (the number
  of sounds when none is left out); for MAE, the sum over every pair of every study
  divided by the number of pairs.

Unrated pairs (NaN ratings) and pairs with a non-finite distance are left out of every
sum.  Every function takes an optional ``valid`` (l, l) boolean matrix of the pairs to
use, for the bootstrap over sounds (:mod:`timbre_jax.bootstrap`): pairs of a sound with
its own copy are then not valid, and copies of distinct sounds are distinct anchors.
The work is vectorized over anchors: (l, l, l) arrays, well under a millisecond for l = 24.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError
from .pearson import pair_differences, pair_indices

METRICS = ("anchor_spearman", "anchor_kendall", "triplet_agreement", "ndcg", "mae")
ANCHOR_METRICS = METRICS[:4]


def distance_matrix(features, kind: str) -> np.ndarray:
    """(l, n) -> (l, l): ``euclidean`` (not squared) or ``cosine`` (1 - cos; a zero row
    gives NaN distances, left out as unrated)."""
    F = np.asarray(features, dtype=np.float64)
    if kind == "euclidean":
        l = len(F)
        i, j = pair_indices(l)
        M = np.zeros((l, l))
        M[i, j] = M[j, i] = np.sqrt(pair_differences(F).sum(axis=1))
    elif kind == "cosine":
        norms = np.linalg.norm(F, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            M = 1.0 - (F @ F.T) / (norms[:, None] * norms[None, :])
    else:
        raise DataError(f"unknown distance {kind!r}; use euclidean or cosine")
    np.fill_diagonal(M, 0.0)
    return M


def learned_distance_matrix(features, weights) -> np.ndarray:
    """(l, n), (n,) -> (l, l): sqrt(sum_k (Psi_ik - Psi_jk)^2 / w_k^2), the learned metric
    (not squared)."""
    w = np.asarray(weights, dtype=np.float64)
    return distance_matrix(np.asarray(features, dtype=np.float64) / w, "euclidean")


def _check(distances, ratings, valid):
    d, r = np.asarray(distances, dtype=np.float64), np.asarray(ratings, dtype=np.float64)
    l = r.shape[0]
    if d.shape != (l, l) or r.shape != (l, l):
        raise DataError(f"distances {d.shape} and ratings {r.shape} must both be (l, l)")
    ok = np.isfinite(d) & np.isfinite(r) & ~np.eye(l, dtype=bool)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    return d, r, ok & ok.T


def normalize(matrix, valid) -> np.ndarray:
    """``matrix`` divided by its largest value over the valid pairs i < j (unchanged when
    that is 0 or there is none)."""
    M = np.asarray(matrix, dtype=np.float64)
    upper = np.triu(np.asarray(valid, dtype=bool), 1)
    top = M[upper].max() if upper.any() else 0.0
    return M / top if top > 0 else M


def _row_ranks(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of each row's valid entries among themselves: (l, l)."""
    less = (x[:, None, :] < x[:, :, None]) & ok[:, None, :]
    equal = (x[:, None, :] == x[:, :, None]) & ok[:, None, :]
    return less.sum(axis=2) + (equal.sum(axis=2) + 1) / 2.0


def _row_pearson(a: np.ndarray, b: np.ndarray, ok: np.ndarray) -> np.ndarray:
    m = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ac = np.where(ok, a - (a * ok).sum(axis=1, keepdims=True) / m[:, None], 0.0)
        bc = np.where(ok, b - (b * ok).sum(axis=1, keepdims=True) / m[:, None], 0.0)
        den = np.sqrt((ac * ac).sum(axis=1) * (bc * bc).sum(axis=1))
        return np.where((m >= 2) & (den > 0), (ac * bc).sum(axis=1) / den, np.nan)


def anchor_values(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, np.ndarray]:
    """The four anchor metrics of every anchor: {name: (l,)}, NaN for an anchor left out
    (see the module docstring; triplet agreement and NDCG are NaN only for an anchor with
    no valid other)."""
    d, r, ok = _check(distances, ratings, valid)
    dn, rn = normalize(d, ok), normalize(r, ok)
    dn, rn = np.where(ok, dn, 0.0), np.where(ok, rn, 0.0)
    m = ok.sum(axis=1)
    out = {"anchor_spearman": _row_pearson(_row_ranks(dn, ok), _row_ranks(rn, ok), ok)}
    l = len(r)
    pair = ok[:, :, None] & ok[:, None, :] & np.triu(np.ones((l, l), dtype=bool), 1)[None]
    sd = np.sign(dn[:, :, None] - dn[:, None, :])
    sr = np.sign(rn[:, :, None] - rn[:, None, :])
    n0 = pair.sum(axis=(1, 2)).astype(float)
    n1 = (pair & (sd == 0)).sum(axis=(1, 2))
    n2 = (pair & (sr == 0)).sum(axis=(1, 2))
    S = (pair * sd * sr).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt((n0 - n1) * (n0 - n2))
        out["anchor_kendall"] = np.where((m >= 2) & (den > 0), S / den, np.nan)
        qualify = pair & (np.abs(rn[:, :, None] - rn[:, None, :]) > margin)
        agree = (qualify & (sd == sr)).sum(axis=(1, 2))
        q = qualify.sum(axis=(1, 2))
        out["triplet_agreement"] = np.where(m >= 1, np.where(q > 0, agree / np.maximum(q, 1), 0.0), np.nan)
    score = np.where(ok, 1.0 - dn, -np.inf)
    relevance = np.where(ok, 1.0 - rn, 0.0)
    order = np.argsort(-score, axis=1, kind="stable")
    discount = 1.0 / np.log2(np.arange(2, l + 2))
    dcg = (np.take_along_axis(relevance, order, axis=1) * discount).sum(axis=1)
    ideal = (-np.sort(-np.where(ok, relevance, -1.0), axis=1)).clip(min=0.0)
    idcg = (ideal * discount).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ndcg"] = np.where(m >= 1, np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), 0.0), np.nan)
    return out


def _mae_terms(distances, ratings, valid) -> tuple[float, int]:
    d, r, ok = _check(distances, ratings, valid)
    upper = np.triu(ok, 1)
    diff = np.abs(normalize(d, ok) - normalize(r, ok))[upper]
    return float(diff.sum()), int(upper.sum())


def study_metrics(distances, ratings, *, valid=None, margin: float = 0.1) -> dict[str, float]:
    """The five numbers of one study: the anchor metrics' means over counted anchors, MAE."""
    values = anchor_values(distances, ratings, valid=valid, margin=margin)
    out = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in values.items()}
    total, count = _mae_terms(distances, ratings, valid)
    out["mae"] = total / count if count else float("nan")
    return out


def pooled(studies, *, margin: float = 0.1) -> dict[str, float]:
    """The five numbers pooled over ``studies`` [(distances (l, l), ratings (l, l))] as
    the benchmark pools them (see the module docstring)."""
    sums = {k: 0.0 for k in ANCHOR_METRICS}
    counts = {k: 0 for k in ANCHOR_METRICS}
    total, pairs = 0.0, 0
    for d, r in studies:
        for k, v in anchor_values(d, r, margin=margin).items():
            sums[k] += float(np.nansum(v))
            counts[k] += int(np.isfinite(v).sum())
        t, c = _mae_terms(d, r, None)
        total, pairs = total + t, pairs + c
    out = {k: sums[k] / counts[k] if counts[k] else float("nan") for k in ANCHOR_METRICS}
    out["mae"] = total / pairs if pairs else float("nan")
    return out
