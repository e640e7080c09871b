"""Leave-one-sound-out cross-validation: does the learned metric generalize?

For a dataset of ``l`` sounds, fold ``k`` learns on the pairs that do not involve sound
``k`` and predicts the ``l - 1`` pairs that do.  All folds (and the in-sample fit on all
pairs) share the dataset's ``D`` and go through one batched solve.

Reported per dataset:

- ``heldout_pearson``: the *pooled* held-out correlation.  A fold's predicted squared
  distances are only defined up to a scale (P is invariant to it), so each fold's
  predictions are standardized (zero mean, unit variance over its held-out pairs) before
  the folds are pooled and correlated with the ratings of the same pairs.
- ``heldout_ev``: ``max(heldout_pearson, 0)**2`` (a negative correlation explains nothing).
- ``fold_ev_mean``: the mean over folds of each fold's own ``P**2``.
- ``in_sample_ev``: the fit on every pair, as in Table I.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import FeatureSet
from .learn import FitOptions
from .pearson import pair_differences, pair_indices
from .sweep import Group, solve


def make_group(fs: FeatureSet) -> Group:
    """Problem 0: all pairs; problem k + 1: all pairs not involving sound k."""
    l = len(fs.sounds)
    i, j = pair_indices(l)
    rated = np.isfinite(fs.pairs)
    masks = [rated] + [rated & (i != k) & (j != k) for k in range(l)]
    mask = np.array(masks, dtype=float)
    ratings = np.broadcast_to(np.nan_to_num(fs.pairs), mask.shape).copy()
    return Group(fs.dataset, np.asarray(pair_differences(fs.features)), ratings, mask)


@dataclass(frozen=True)
class CrossvalRow:
    representation: str
    dataset: str
    in_sample_ev: float
    heldout_pearson: float
    heldout_ev: float
    fold_ev_mean: float
    sounds: int


def score(fs: FeatureSet, distances: np.ndarray, in_sample_pearson: float) -> CrossvalRow:
    l = len(fs.sounds)
    i, j = pair_indices(l)
    s = fs.pairs
    pooled_d, pooled_s, fold_ev = [], [], []
    for k in range(l):
        held = ((i == k) | (j == k)) & np.isfinite(s)
        d = distances[k + 1, held]
        z = (d - d.mean()) / d.std() if d.std() > 0 else np.zeros_like(d)
        pooled_d.append(z)
        pooled_s.append(s[held])
        fold_ev.append(np.corrcoef(d, s[held])[0, 1] ** 2 if d.std() > 0 and s[held].std() > 0 else 0.0)
    P = float(np.corrcoef(np.concatenate(pooled_d), np.concatenate(pooled_s))[0, 1])
    return CrossvalRow(fs.representation, fs.dataset, max(in_sample_pearson, 0.0) ** 2, P, max(P, 0.0) ** 2,
                       float(np.mean(fold_ev)), l)


def run(sets: list[FeatureSet], *, maxiter: int | None = None, directory: Path | None = None,
        progress: bool = True, solver: str = "lbfgsb", options: FitOptions | None = None) -> list[CrossvalRow]:
    """Every fold of every dataset in one batched solve; ``solver``, ``maxiter``,
    ``options``: see :func:`timbre_jax.learn_metrics`."""
    groups = [make_group(fs) for fs in sets]
    rep = sets[0].representation if sets else ""
    results = solve(groups, maxiter=maxiter, directory=directory, label=f"crossval {rep}", progress=progress,
                    solver=solver, options=options)
    return [score(fs, res.distances, float(res.pearson[0])) for fs, res in zip(sets, results)]


def write_outputs(rows: list[CrossvalRow], out: Path) -> list[Path]:
    """OUT/crossval.csv (one :class:`CrossvalRow` per dataset) and, with rows, its figure
    OUT/crossval.png."""
    from .report import plot_crossval, write_csv

    fields = list(CrossvalRow.__dataclass_fields__)
    written = [write_csv(Path(out) / "crossval.csv", fields, [[getattr(x, f) for f in fields] for x in rows])]
    if rows:
        written.append(plot_crossval(rows, Path(out) / "crossval.png"))
    return written
