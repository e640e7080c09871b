"""Relabelled sounds: the permutation null of a fit.

With thousands of weights and at most 190 rated pairs, a metric can fit ratings whose
sounds were randomly relabelled.  A dataset's group (:func:`make_group`) holds the true
order and ``K`` relabellings (rows and columns of the rating matrix permuted together;
identity excluded, :func:`permutations`), fitted exactly as the true order, in batched
solves that share the dataset's ``D``.

:func:`compare_to_null` reports the observed EV, the null median and 95th percentile, the
permutation p-value ``(1 + #{null >= observed - TIE}) / (K + 1)`` and the excess of the
observed EV over the null median.  ``TIE`` counts a relabelling that reaches the observed
EV up to rounding as reaching it: where every fit interpolates the ratings (EV = 1,
mertcat), the optima differ only in the last bits.  ``unconverged`` counts the fits of
the comparison (the observed one and the relabellings) that did not converge
(:mod:`timbre_jax.stats.convergence`): with one, each of its numbers is in doubt.  The
analysis that reports them: :mod:`timbre_jax.analyses.null`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.solvers.batch import Group
from timbre_jax.stats.convergence import count_unconverged


def permutations(l: int, K: int, seed: int, dataset: str) -> np.ndarray:
    """K relabellings (K, l) of l sounds, none the identity; PCG64 seeded by
    (seed, CRC-32 of the dataset name)."""
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(dataset.encode())]))
    out = []
    while len(out) < K:
        perm = rng.permutation(l)
        if np.any(perm != np.arange(l)):
            out.append(perm)
    return np.array(out)


def permuted_pairs(ratings: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Condensed ratings after relabelling sound i as perm[i]: (l, l), (l,) -> (p,)."""
    i, j = pair_indices(len(perm))
    return ratings[perm[i], perm[j]]


def make_group(fs: FeatureSet, K: int, seed: int) -> Group:
    """Problem 0: the true order; problems 1..K: relabellings."""
    perms = np.vstack([np.arange(len(fs.sounds)), permutations(len(fs.sounds), K, seed, fs.dataset)])
    ratings = np.array([permuted_pairs(fs.ratings, p) for p in perms])
    mask = np.isfinite(ratings).astype(float)
    return Group(np.asarray(pair_differences(fs.features)), np.nan_to_num(ratings), mask, fs.dataset)


@dataclass(frozen=True)
class NullSummary:
    representation: str
    dataset: str
    observed_ev: float
    null_median: float
    null_p95: float
    p_value: float
    excess_over_median: float
    permutations: int
    unconverged: int = 0  # fits, of the observed one and the relabellings, that did not converge

    @property
    def converged(self) -> bool:
        """Whether every fit behind these numbers converged."""
        return self.unconverged == 0


TIE = 1e-9


def compare_to_null(representation: str, dataset: str, ev: np.ndarray, converged=None) -> NullSummary:
    """ev (K + 1,): ev[0] observed, ev[1:] null; ``converged`` (K + 1,): each fit's flag
    (None: all converged)."""
    obs, null = float(ev[0]), np.asarray(ev[1:])
    med = float(np.median(null))
    return NullSummary(representation, dataset, obs, med, float(np.percentile(null, 95)),
                       float((1 + np.sum(null >= obs - TIE)) / (len(null) + 1)), obs - med, len(null),
                       0 if converged is None else count_unconverged(converged))
