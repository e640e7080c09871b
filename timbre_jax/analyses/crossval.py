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

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base as analysis
from timbre_jax.core.pearson import pair_differences, pair_indices, pearson_of_vectors
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.fit import sweep
from timbre_jax.solvers import Lbfgsb, Solver
from timbre_jax.solvers.batch import Group


def make_group(fs: FeatureSet) -> Group:
    """Problem 0: all pairs; problem k + 1: all pairs not involving sound k."""
    l = len(fs.sounds)
    i, j = pair_indices(l)
    rated = np.isfinite(fs.pairs)
    masks = [rated] + [rated & (i != k) & (j != k) for k in range(l)]
    mask = np.array(masks, dtype=float)
    ratings = np.broadcast_to(np.nan_to_num(fs.pairs), mask.shape).copy()
    return Group(np.asarray(pair_differences(fs.features)), ratings, mask, fs.dataset)


@dataclass(frozen=True)
class CrossvalRow:
    representation: str
    dataset: str
    in_sample_ev: float
    heldout_pearson: float
    heldout_ev: float
    fold_ev_mean: float
    sounds: int


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


def score(fs: FeatureSet, distances: np.ndarray, in_sample_pearson: float) -> CrossvalRow:
    found = folds(fs, distances)
    fold_ev = [pearson_of_vectors(d, s) ** 2 for d, _, s in found]
    P = pooled_pearson(found)
    return CrossvalRow(fs.representation, fs.dataset, max(in_sample_pearson, 0.0) ** 2, P, max(P, 0.0) ** 2,
                       float(np.mean(fold_ev)), len(fs.sounds))


def fit(sets: list[FeatureSet], solver: Solver, *, directory: Path | None = None,
        progress: bool = True) -> list[CrossvalRow]:
    """Every fold of every dataset of one representation, in batched solves."""
    return [score(fs, res.distances, float(res.pearson[0]))
            for fs, res in zip(sets, solve_folds(sets, solver, directory=directory, progress=progress))]


def solve_folds(sets: list[FeatureSet], solver: Solver, *, directory: Path | None = None, progress: bool = True):
    """The fits of every fold of every dataset: one :class:`~timbre_jax.solvers.batch.Results`
    per set (problem 0 on all pairs, problem k + 1 without sound k)."""
    rep = sets[0].representation if sets else ""
    results, _ = sweep.solve([make_group(fs) for fs in sets], solver, directory=directory,
                             label=f"crossval {rep}", progress=progress)
    return results


@dataclass(frozen=True)
class CrossvalResult:
    """One :class:`CrossvalRow` per (representation, dataset), what was skipped, and
    per representation (fits, seconds)."""

    rows: list[CrossvalRow]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    timings: dict[str, tuple[int, float]] = field(default_factory=dict)
    source: str = ""
    solver: str = ""


def run(representations, datasets, *, source: str = "upstream", solver: Solver | None = None,
        directory: Path | None = None, progress: bool = True) -> CrossvalResult:
    """Cross-validation of every representation on every dataset it has (``solver``:
    default :class:`~timbre_jax.solvers.Lbfgsb`); fits saved under ``directory/<representation>``."""
    solver = Lbfgsb() if solver is None else solver
    loaded = analysis.load(representations, datasets, source)
    rows, timings = [], {}
    for r, sets in loaded.sets.items():
        t = time.perf_counter()
        rows += fit(sets, solver, directory=None if directory is None else Path(directory) / r, progress=progress)
        timings[r] = (sum(len(s.sounds) + 1 for s in sets), time.perf_counter() - t)
    return CrossvalResult(rows, loaded.skipped, timings, source, solver.name)


def write(result: CrossvalResult, out: Path) -> list[Path]:
    """OUT/crossval.csv (one :class:`CrossvalRow` per dataset) and, with rows, its figure
    OUT/crossval.png."""
    from timbre_jax.plots.figures import plot_crossval
    from timbre_jax.plots.tables import write_csv

    fields = list(CrossvalRow.__dataclass_fields__)
    written = [write_csv(Path(out) / "crossval.csv", fields, [[getattr(x, f) for f in fields] for x in result.rows])]
    if result.rows:
        written.append(plot_crossval(result.rows, Path(out) / "crossval.png", source=result.source,
                                     solver=result.solver, skipped=result.skipped))
    return written


def summary(result: CrossvalResult) -> list[str]:
    """What was skipped, fits and time per representation, one line per dataset."""
    lines = analysis.skipped_lines(result.skipped)
    lines += [f"{r}: {fits} fits in {seconds:.1f} s" for r, (fits, seconds) in result.timings.items()]
    lines += [f"{x.representation:10s} {x.dataset:22s} in-sample {x.in_sample_ev:.3f}  held-out {x.heldout_ev:.3f}"
              f"  (pooled P {x.heldout_pearson:+.3f}, mean fold EV {x.fold_ev_mean:.3f})" for x in result.rows]
    return lines
