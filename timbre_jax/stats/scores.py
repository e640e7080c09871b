"""Every number of one study in one representation, at all its sounds or at a bootstrap
sample of them.

Three distances between the sounds' feature vectors: ``euclidean`` (all weights 1),
``cosine`` and ``learned`` (the certified optimum of the fit on every rated pair,
:class:`~timbre_jax.solvers.Exact`).  For each: ``pearson``, Pearson's P between the
distances and the ratings over the rated pairs (squared distances for ``euclidean`` and
``learned``, as the fit sees them), ``ev`` = max(P, 0)^2, ``spearman`` over the pairs,
and the benchmark's rank metrics (:mod:`timbre_jax.stats.rank_metrics`: per anchor sound
Spearman and Kendall, triplet agreement, NDCG; MAE), which use distances, not squared.
The learned distance also has ``heldout_ev``: the pooled leave-one-sound-out EV
(:mod:`timbre_jax.stats.heldout`), and the held-out anchor metrics ``heldout_<name>`` for
each name of :data:`~timbre_jax.stats.rank_metrics.ANCHOR_METRICS`: anchor sound k is
scored with the distances of fold k, the metric learned without any pair of sound k
(:func:`heldout_matrix`), so no anchor is scored by a metric that saw its ratings.  An
anchor metric is defined per row and depends only on the order of the row's distances,
so each row may come from its own fold (whose scale is its own).  MAE compares distances
of different rows on one scale and has no held-out counterpart.  The other numbers of
``learned`` are in-sample (the fit saw every pair it is scored on); those of
``euclidean`` and ``cosine`` are zero-shot (no fit).

A bootstrap sample ``idx`` (l,) of sounds (drawn with replacement) is scored without
refitting: pairs of a sound with its own copy are dropped, every other pair counts as
often as it is drawn, the folds of the held-out EV are the drawn sounds.  The metric is
held fixed, so the interval says how much the number depends on which sounds were
rated; it is the bootstrap over stimuli of representational similarity analysis.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.stats import bootstrap, heldout, rank_metrics

KINDS = ("euclidean", "cosine", "learned")
NUMBERS = ("pearson", "ev", "spearman", *rank_metrics.METRICS)
HELDOUT_RANK = tuple(f"heldout_{name}" for name in rank_metrics.ANCHOR_METRICS)  # numbers of ``learned`` only


def samples_of(dataset: str, l: int, count: int, seed: int) -> np.ndarray:
    """The bootstrap samples (count, l) of a study's sounds: the same for every
    representation (so that representations compare on the same samples), seeded by
    ``seed`` and the CRC-32 of the dataset's name."""
    return bootstrap.resample(l, count, seed * 2 ** 32 + zlib.crc32(dataset.encode()))


def square(pairs: np.ndarray, l: int) -> np.ndarray:
    """(p,) condensed -> (l, l) symmetric, zero diagonal."""
    i, j = pair_indices(l)
    M = np.zeros((l, l))
    M[i, j] = M[j, i] = pairs
    return M


def heldout_matrix(fit_distances: np.ndarray, l: int) -> np.ndarray:
    """The learned metric held out, as the anchor metrics see it: ``fit_distances``
    (l + 1, p), the squared distances of the in-sample fit (row 0) and of each fold
    (:func:`timbre_jax.stats.heldout.solve_folds`: fold k learned without the pairs of
    sound k) -> (l, l), whose row k holds the distances (not squared) from sound k to
    every other sound under fold k's metric, zero diagonal.  Not symmetric: entry (k, j)
    is fold k's, entry (j, k) fold j's."""
    folds = np.sqrt(np.maximum(np.asarray(fit_distances)[1:], 0.0))  # (l, p): row k is fold k's
    i, j = pair_indices(l)
    pair = np.arange(len(i))
    H = np.zeros((l, l))
    H[i, j] = folds[i, pair]  # pair (i, j) seen from anchor i: the fold without sound i
    H[j, i] = folds[j, pair]  # and from anchor j: the fold without sound j
    return H


@dataclass(frozen=True)
class Study:
    """What the scores of one study need: its feature set, the pair vector (p,) and the
    distance matrix (l, l) of each kind, the held-out folds of the learned metric and its
    held-out distance matrix (l, l) (:func:`heldout_matrix`) (both None without a fit)."""

    fs: FeatureSet
    pair_distances: dict[str, np.ndarray]
    matrices: dict[str, np.ndarray]
    folds: list | None
    heldout: np.ndarray | None = None

    @property
    def kinds(self) -> list[str]:
        return list(self.pair_distances)


def study(fs: FeatureSet, fit_distances: np.ndarray | None = None) -> Study:
    """A :class:`Study` of ``fs``; ``fit_distances`` (l + 1, p): the squared distances of
    the in-sample fit (row 0) and of each fold (:func:`timbre_jax.stats.heldout.solve_folds`),
    or None for the zero-shot kinds only."""
    l = len(fs.sounds)
    pairs = {"euclidean": pair_differences(fs.features).sum(axis=1)}
    matrices = {"euclidean": rank_metrics.distance_matrix(fs.features, "euclidean"),
                "cosine": rank_metrics.distance_matrix(fs.features, "cosine")}
    i, j = pair_indices(l)
    pairs["cosine"] = matrices["cosine"][i, j]
    folds = held = None
    if fit_distances is not None:
        pairs["learned"] = fit_distances[0]
        matrices["learned"] = square(np.sqrt(np.maximum(fit_distances[0], 0.0)), l)
        folds = heldout.folds(fs, fit_distances)
        held = heldout_matrix(fit_distances, l)
    return Study(fs, pairs, matrices, folds, held)


def _pearson_spearman(d: np.ndarray, s: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    keep = (weights > 0) & np.isfinite(d)
    d, s, w = d[keep], s[keep], weights[keep]
    if d.size < 3 or np.ptp(d) == 0 or np.ptp(s) == 0:
        return float("nan"), float("nan")
    return bootstrap.weighted_pearson(d, s, w), bootstrap.weighted_spearman(d, s, w)


def numbers(st: Study, idx: np.ndarray | None = None, margin: float = 0.1) -> dict[tuple[str, str], float]:
    """{(kind, number): value} at the sounds ``idx`` (default: every sound once)."""
    fs = st.fs
    l = len(fs.sounds)
    s = fs.pairs
    rated = np.isfinite(s)
    rated_matrix = np.isfinite(fs.ratings) & ~np.eye(l, dtype=bool)
    if idx is None:
        weights, valid, ix = rated.astype(float), None, np.arange(l)
    else:
        weights = bootstrap.pair_weights(idx, rated)
        valid, ix = bootstrap.valid_pairs(idx, rated_matrix), idx
    out = {}
    sn = np.nan_to_num(s)
    for kind in st.kinds:
        P, rho = _pearson_spearman(st.pair_distances[kind], sn, weights)
        out[(kind, "pearson")], out[(kind, "spearman")] = P, rho
        out[(kind, "ev")] = max(P, 0.0) ** 2 if np.isfinite(P) else float("nan")
        M = st.matrices[kind][np.ix_(ix, ix)]
        for name, value in rank_metrics.study_metrics(M, fs.ratings[np.ix_(ix, ix)], valid=valid,
                                                      margin=margin).items():
            out[(kind, name)] = float(value)
    if st.folds is not None:
        P = heldout.pooled_pearson(st.folds, None if idx is None else idx)
        out[("learned", "heldout_ev")] = max(P, 0.0) ** 2
    if st.heldout is not None:
        held = rank_metrics.study_metrics(st.heldout[np.ix_(ix, ix)], fs.ratings[np.ix_(ix, ix)], valid=valid,
                                          margin=margin)
        for name in rank_metrics.ANCHOR_METRICS:
            out[("learned", f"heldout_{name}")] = float(held[name])
    return out


def intervals(st: Study, samples: np.ndarray, level: float = 0.95, margin: float = 0.1):
    """({(kind, number): (low, high)}, {(kind, number): values (B,)}) over the bootstrap
    ``samples`` (B, l)."""
    values: dict[tuple[str, str], list[float]] = {}
    for idx in samples:
        for key, v in numbers(st, idx, margin).items():
            values.setdefault(key, []).append(v)
    arrays = {k: np.asarray(v) for k, v in values.items()}
    return {k: bootstrap.interval(v, level) for k, v in arrays.items()}, arrays
