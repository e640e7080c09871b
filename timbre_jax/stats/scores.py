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
:func:`numbers` scores one sample; :func:`sample_numbers` (behind :func:`intervals`) scores
many at once and gives each the same numbers to the last bit: the rank metrics of every
distance and of the held-out matrix on a chunk of samples in one stack
(:func:`~timbre_jax.stats.rank_metrics.study_metrics_batch`), the ranks of Spearman's rho
for every sample at once (integers, exact); only each sample's Pearson sums (over its own
pairs) and the held-out EV run one sample at a time.
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
STACK_ENTRIES = 1 << 22
"""How many bootstrap samples :func:`sample_numbers` scores together: as many as keep its
(distances x samples, l, l, l) arrays within this many entries (a few of them live at once,
one byte an entry), at least one."""


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


def _pair_correlations(d: np.ndarray, sn: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P (B,), rho (B,)): :func:`_pearson_spearman` of the pair distances ``d`` (p,) and the
    ratings ``sn`` (p,) with the multiplicities of each sample, ``W`` (B, p), to the last
    bit: the ranks (exact, integer multiplicities) for every sample at once, each
    correlation over its sample's compacted pairs as there."""
    W = np.where(np.isfinite(d), W, 0.0)  # a pair without a distance is left out, as unrated
    keep = W > 0
    P, rho = np.full(len(W), np.nan), np.full(len(W), np.nan)
    spread = [np.where(keep, x, -np.inf).max(axis=1) != np.where(keep, x, np.inf).min(axis=1) for x in (d, sn)]
    rank_d, rank_s = bootstrap.weighted_ranks(d, W), bootstrap.weighted_ranks(sn, W)
    for b in np.flatnonzero((keep.sum(axis=1) >= 3) & spread[0] & spread[1]):
        q = keep[b]
        P[b] = bootstrap.weighted_pearson(d[q], sn[q], W[b, q])
        rho[b] = bootstrap.weighted_pearson(rank_d[b, q], rank_s[b, q], W[b, q])
    return P, rho


def sample_numbers(st: Study, samples: np.ndarray, margin: float = 0.1) -> dict[tuple[str, str], np.ndarray]:
    """{(kind, number): values (B,)} on the bootstrap ``samples`` (B, l): entry b equal to
    ``numbers(st, samples[b], margin)[(kind, number)]`` to the last bit, keyed in the same
    order, computed for many samples at once (the rank metrics of every kind and of the
    held-out matrix in one stack, :func:`~timbre_jax.stats.rank_metrics.study_metrics_batch`)."""
    fs = st.fs
    samples = np.asarray(samples)
    l = len(fs.sounds)
    rated = np.isfinite(fs.pairs)
    rated_matrix = np.isfinite(fs.ratings) & ~np.eye(l, dtype=bool)
    W = bootstrap.pair_weights(samples, rated)
    sn = np.nan_to_num(fs.pairs)
    out = {}
    for kind in st.kinds:
        P, rho = _pair_correlations(st.pair_distances[kind], sn, W)
        out[(kind, "pearson")], out[(kind, "spearman")] = P, rho
        out[(kind, "ev")] = np.array([max(float(x), 0.0) ** 2 if np.isfinite(x) else float("nan") for x in P])
        out.update({(kind, name): np.empty(len(samples)) for name in rank_metrics.METRICS})
    if st.folds is not None:
        out[("learned", "heldout_ev")] = np.array([max(heldout.pooled_pearson(st.folds, idx), 0.0) ** 2
                                                   for idx in samples])
    scored = [(kind, "") for kind in st.kinds] + ([("learned", "heldout_")] if st.heldout is not None else [])
    out.update({(kind, f"heldout_{name}"): np.empty(len(samples)) for kind, prefix in scored if prefix
                for name in rank_metrics.ANCHOR_METRICS})
    matrices = np.stack([st.matrices[kind] if not prefix else st.heldout for kind, prefix in scored])
    size = max(1, STACK_ENTRIES // (len(scored) * l**3))
    for start in range(0, len(samples), size):
        idx = samples[start:start + size]
        rows, cols = idx[:, :, None], idx[:, None, :]
        stack = (len(scored), len(idx), l, l)  # every distance on every sample of the chunk, one ratings stack
        found = rank_metrics.study_metrics_batch(
            matrices[:, rows, cols].reshape(-1, l, l),
            np.broadcast_to(fs.ratings[rows, cols], stack).reshape(-1, l, l),
            valid=np.broadcast_to((rows != cols) & rated_matrix[rows, cols], stack).reshape(-1, l, l),
            margin=margin)
        for name, values in found.items():
            for (kind, prefix), v in zip(scored, values.reshape(len(scored), -1)):
                if (kind, prefix + name) in out:
                    out[(kind, prefix + name)][start:start + size] = v
    return out


def intervals(st: Study, samples: np.ndarray, level: float = 0.95, margin: float = 0.1):
    """({(kind, number): (low, high)}, {(kind, number): values (B,)}) over the bootstrap
    ``samples`` (B, l) (:func:`sample_numbers`)."""
    if not len(samples):
        return {}, {}
    arrays = sample_numbers(st, samples, margin)
    return {k: bootstrap.interval(v, level) for k, v in arrays.items()}, arrays
