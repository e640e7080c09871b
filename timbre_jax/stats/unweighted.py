"""Unweighted distances: how well do feature distances follow the ratings with no metric learned?

With all weights 1 the distance of a pair of sounds is fixed by the features alone, so
nothing can overfit.  Two distances between the feature vectors ``Psi_i`` and ``Psi_j``
(rows of the (l, n) feature matrix, :func:`distances`):

- ``euclidean``: the squared Euclidean distance ``d_ij = sum_k (Psi_ik - Psi_jk)^2``,
  the learned metric of :mod:`timbre_jax.core.pearson` with every weight 1;
- ``cosine``: ``1 - cos(Psi_i, Psi_j)``, blind to each vector's scale.

Each is compared with the ratings over the rated pairs by Pearson's and Spearman's
correlations (``scipy.stats``, :func:`alignment`).  A representation whose rows are
paired with the wrong sounds scores near 0 here, whatever its in-sample explained
variance.  The analysis that reports them: :mod:`timbre_jax.analyses.zeroshot`.
"""

from __future__ import annotations

import warnings

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.errors import DataError

DISTANCES = ("euclidean", "cosine")


def distances(features) -> dict[str, np.ndarray]:
    """Both distances of every pair: (l, n) -> {distance: (p,)}, condensed order (i < j).

    A row of zeros has no direction: its cosine distances are NaN.  A frame-aligned
    representation (:class:`~timbre_jax.core.aligned.AlignedPairs`) gives the same two on
    each pair's flattened aligned sequences."""
    if aligned.is_aligned(features):
        return {"euclidean": aligned.euclidean(features), "cosine": aligned.cosine(features)}
    features = np.asarray(features, dtype=np.float64)
    i, j = pair_indices(len(features))
    norms = np.linalg.norm(features, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("pk,pk->p", features[i], features[j]) / (norms[i] * norms[j])
    return {"euclidean": pair_differences(features).sum(axis=1), "cosine": 1.0 - cos}


def alignment(features: np.ndarray, pairs: np.ndarray) -> dict[str, tuple[float, float]]:
    """(Pearson, Spearman) between each distance and the ratings over the rated pairs.

    ``features`` (l, n) or aligned pairs; ``pairs`` (p,) condensed ratings, p = l (l - 1) / 2, i < j
    row-major, NaN = unrated (excluded).  Returns ``{distance: (pearson, spearman)}``
    for ``distance`` in :data:`DISTANCES`; NaN where a correlation is undefined
    (constant distances, or a zero feature row for cosine)."""
    from scipy.stats import ConstantInputWarning, pearsonr, spearmanr  # lazy: ~0.6 s to import, kept off --help

    if not aligned.is_aligned(features):
        features = np.asarray(features, dtype=np.float64)
    pairs = np.asarray(pairs, dtype=np.float64)
    l = aligned.sounds_of(features)
    if pairs.shape != (l * (l - 1) // 2,):
        raise DataError(f"ratings have shape {pairs.shape}, expected ({l * (l - 1) // 2},) for {l} sounds")
    rated = np.isfinite(pairs)
    if rated.sum() < 3:
        raise DataError(f"{int(rated.sum())} rated pairs; a correlation needs at least 3")
    out = {}
    for name, d in distances(features).items():
        d, s = d[rated], pairs[rated]
        if not np.all(np.isfinite(d)) or np.ptp(d) == 0:
            out[name] = (float("nan"), float("nan"))
            continue
        with warnings.catch_warnings():  # constant ratings: scipy warns and returns NaN, kept
            warnings.simplefilter("ignore", ConstantInputWarning)
            out[name] = (float(pearsonr(d, s)[0]), float(spearmanr(d, s)[0]))
    return out


def signed_p2(p: float) -> float:
    """sign(P) P^2: the explained variance, negative when distances anti-correlate."""
    return float(np.sign(p) * p * p)


SIMILARITY_HINT = -0.2
"""A zero-shot Pearson below this with every representation suggests similarities, not dissimilarities."""


def similarity_warnings(found) -> list[str]:
    """One warning per dataset whose ratings anti-correlate clearly with the unweighted
    distances of every representation tried (Pearson < :data:`SIMILARITY_HINT` each):
    ratings of "how similar" given as dissimilarities give exactly that.

    ``found``: (dataset, representation, Pearson) triples (NaN ones left out)."""
    by: dict[str, dict[str, float]] = {}
    for dataset, representation, p in found:
        if np.isfinite(p):
            by.setdefault(dataset, {})[representation] = float(p)
    lines = []
    for dataset, ps in by.items():
        if max(ps.values()) < SIMILARITY_HINT:
            lines.append(f"warning: the ratings of {dataset} anti-correlate with the distances of every "
                         f"representation tried ({len(ps)}; zero-shot Pearson {min(ps.values()):+.2f} to "
                         f"{max(ps.values()):+.2f}): were they similarities? If so, add the study again with "
                         "`data add ... --similarity`")
    return lines
