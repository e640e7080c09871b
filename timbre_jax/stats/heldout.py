"""Leave-one-sound-out folds: the held-out predictions of a learned metric.

For a dataset of ``l`` sounds, fold ``k`` learns on the pairs that do not involve sound
``k`` and predicts the ``l - 1`` pairs that do.  All folds (and the in-sample fit on all
pairs) share the dataset's ``D`` and go through one batched solve (:func:`solve_folds`).

A fold's predicted squared distances are only defined up to a scale (P is invariant to
it), so each fold's predictions are standardized (zero mean, unit variance over its
held-out pairs, :func:`folds`) before the folds are pooled and correlated with the ratings
of the same pairs (:func:`pooled_pearson`).  A fold that did not converge puts the pooled
held-out numbers in doubt, the in-sample fit its own EV (:func:`convergence_of`).  The
analysis that reports them: :mod:`timbre_jax.analyses.crossval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.core.pearson import pair_differences, pair_indices, pearson_of_vectors
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.fit import sweep
from timbre_jax.solvers import Solver
from timbre_jax.solvers.batch import Group
from timbre_jax.stats.convergence import count_unconverged


def make_group(fs: FeatureSet) -> Group:
    """Problem 0: all pairs; problem k + 1: all pairs not involving sound k."""
    l = len(fs.sounds)
    i, j = pair_indices(l)
    rated = np.isfinite(fs.pairs)
    masks = [rated] + [rated & (i != k) & (j != k) for k in range(l)]
    mask = np.array(masks, dtype=float)
    ratings = np.broadcast_to(np.nan_to_num(fs.pairs), mask.shape).copy()
    return Group(np.asarray(pair_differences(fs.features)), ratings, mask, fs.dataset)


def folds(fs: FeatureSet, distances: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per held-out sound k: (d, z, s) over its rated pairs: the predicted squared
    distances of fold k, the same standardized (zero mean, unit variance; zeros when
    constant), and their ratings.  ``distances`` (l + 1, p): the group's fits (row 0 the
    in-sample one)."""
    l = len(fs.sounds)
    i, j = pair_indices(l)
    s = fs.pairs
    out = []
    for k in range(l):
        held = ((i == k) | (j == k)) & np.isfinite(s)
        d = distances[k + 1, held]
        z = (d - d.mean()) / d.std() if d.std() > 0 else np.zeros_like(d)
        out.append((d, z, s[held]))
    return out


def pooled_pearson(fold_list, which=None) -> float:
    """The pooled held-out P of the folds ``which`` (indices, repeats allowed; default all)."""
    which = range(len(fold_list)) if which is None else which
    return pearson_of_vectors(np.concatenate([fold_list[k][1] for k in which]),
                              np.concatenate([fold_list[k][2] for k in which]))


@dataclass(frozen=True)
class FoldConvergence:
    """Which fits of one dataset's group did not converge: ``unconverged`` of all
    ``l + 1``; ``in_sample``: the fit on all pairs converged; ``heldout``: every fold did
    (then the held-out numbers stand on converged fits)."""

    unconverged: int
    in_sample: bool
    heldout: bool


def convergence_of(converged) -> FoldConvergence:
    """The :class:`FoldConvergence` of a group's ``converged`` flags (l + 1,), row 0 the
    in-sample fit (``Results.converged`` of :func:`solve_folds`)."""
    flags = np.asarray(converged, dtype=bool)
    return FoldConvergence(count_unconverged(flags), bool(flags[0]), bool(flags[1:].all()))


def solve_folds(sets: list[FeatureSet], solver: Solver, *, directory: Path | None = None, progress: bool = True):
    """The fits of every fold of every dataset: one :class:`~timbre_jax.solvers.batch.Results`
    per set (problem 0 on all pairs, problem k + 1 without sound k)."""
    rep = sets[0].representation if sets else ""
    results, _ = sweep.solve([make_group(fs) for fs in sets], solver, directory=directory,
                             label=f"crossval {rep}", progress=progress)
    return results
