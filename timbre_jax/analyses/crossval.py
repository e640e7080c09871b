"""Leave-one-sound-out cross-validation: does the learned metric generalize?

For a dataset of ``l`` sounds, fold ``k`` learns on the pairs that do not involve sound
``k`` and predicts the ``l - 1`` pairs that do; all folds (and the in-sample fit on all
pairs) go through one batched solve (the folds, their standardization and pooling:
:mod:`timbre_jax.stats.heldout`).

Reported per dataset:

- ``heldout_pearson``: the *pooled* held-out correlation.  A fold's predicted squared
  distances are only defined up to a scale (P is invariant to it), so each fold's
  predictions are standardized (zero mean, unit variance over its held-out pairs) before
  the folds are pooled and correlated with the ratings of the same pairs.
- ``heldout_ev``: ``max(heldout_pearson, 0)**2`` (a negative correlation explains nothing).
- ``fold_ev_mean``: the mean over folds of each fold's own ``P**2``.
- ``in_sample_ev``: the fit on every pair, as in Table I.

Then how many of the dataset's ``l + 1`` fits did not converge (``unconverged``) and
whether the in-sample fit and every fold did (``in_sample_converged``,
``heldout_converged``; :mod:`timbre_jax.stats.convergence`): a ``*`` marks a printed EV
that stands on a fit that did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.core.pearson import pearson_of_vectors
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.plots.crossval import plot_crossval
from timbre_jax.plots.tables import write_csv
from timbre_jax.solvers import Solver
from timbre_jax.stats import convergence
from timbre_jax.stats.heldout import convergence_of, folds, pooled_pearson, solve_folds

WRITES = ("OUT/crossval.csv (one row per dataset: in-sample and held-out EV, the fits that did not converge), "
          "OUT/crossval.png and the saved fits under OUT/chunks/<representation>/")


@dataclass(frozen=True)
class CrossvalRow:
    representation: str
    dataset: str
    in_sample_ev: float
    heldout_pearson: float
    heldout_ev: float
    fold_ev_mean: float
    sounds: int
    unconverged: int = 0              # of the l + 1 fits (in-sample and folds), those that did not converge
    in_sample_converged: bool = True  # the fit on every pair converged
    heldout_converged: bool = True    # every fold converged (heldout_pearson, heldout_ev, fold_ev_mean)


def score(fs: FeatureSet, distances: np.ndarray, in_sample_pearson: float, converged=None) -> CrossvalRow:
    """The row of one dataset from its group's fits: ``distances`` (l + 1, p), row 0 the
    in-sample fit; ``converged`` (l + 1,): their flags (None: all converged)."""
    found = folds(fs, distances)
    fold_ev = [pearson_of_vectors(d, s) ** 2 for d, _, s in found]
    P = pooled_pearson(found)
    flags = convergence_of(np.ones(len(fs.sounds) + 1, dtype=bool) if converged is None else converged)
    return CrossvalRow(fs.representation, fs.dataset, max(in_sample_pearson, 0.0) ** 2, P, max(P, 0.0) ** 2,
                       float(np.mean(fold_ev)), len(fs.sounds), flags.unconverged, flags.in_sample, flags.heldout)


def heldout_rows(sets: list[FeatureSet], solver: Solver, *, directory: Path | None = None,
                 progress: bool = True) -> list[CrossvalRow]:
    """Every fold of every dataset of one representation, in batched solves."""
    return [score(fs, res.distances, float(res.pearson[0]), res.converged)
            for fs, res in zip(sets, solve_folds(sets, solver, directory=directory, progress=progress))]


@dataclass(frozen=True)
class CrossvalResult:
    """One :class:`CrossvalRow` per (representation, dataset), what was skipped, and
    per representation (fits, seconds)."""

    rows: list[CrossvalRow]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    timings: dict[str, tuple[int, float]] = field(default_factory=dict)
    source: str = ""
    solver: str = ""


def run(representations, datasets, *, source: str = "auto", solver: Solver | None = None,
        directory: Path | None = None, progress: bool = True) -> CrossvalResult:
    """Cross-validation of every representation on every dataset it has (``solver``:
    default :class:`~timbre_jax.solvers.Exact`; the paper's is :class:`~timbre_jax.solvers.Lbfgsb`); fits
    saved under ``directory/<representation>``."""
    job = base.start(representations, datasets, source, solver, directory)
    rows, timings = [], {}
    for r, sets, clock in job.each():
        rows += heldout_rows(sets, job.solver, directory=job.folder(r), progress=progress)
        timings[r] = (sum(len(s.sounds) + 1 for s in sets), clock())
    return CrossvalResult(rows, job.skipped, timings, job.source, job.solver.name)


def write(result: CrossvalResult, out: Path) -> list[Path]:
    """OUT/crossval.csv (one :class:`CrossvalRow` per dataset) and, with rows, its figure
    OUT/crossval.png."""
    fields = list(CrossvalRow.__dataclass_fields__)
    written = [write_csv(Path(out) / "crossval.csv", fields, [[getattr(x, f) for f in fields] for x in result.rows])]
    if result.rows:
        written.append(plot_crossval(result.rows, Path(out) / "crossval.png", source=result.source,
                                     solver=result.solver, skipped=result.skipped))
    return written


def summary(result: CrossvalResult) -> list[str]:
    """What was skipped, fits and time per representation, one line per dataset (``*``
    after an EV that stands on a fit that did not converge) and, where some did not,
    their count (:func:`timbre_jax.stats.convergence.report`)."""
    lines = base.skipped_lines(result.skipped)
    lines += [f"{r}: {fits} fits in {seconds:.1f} s" for r, (fits, seconds) in result.timings.items()]
    for x in result.rows:
        ev = convergence.marked(f"{x.in_sample_ev:.3f}", x.in_sample_converged)
        held = convergence.marked(f"{x.heldout_ev:.3f}", x.heldout_converged)
        lines.append(f"{x.representation:10s} {x.dataset:22s} in-sample {ev}  held-out {held}"
                     f"  (pooled P {x.heldout_pearson:+.3f}, mean fold EV {x.fold_ev_mean:.3f})")
    found = convergence.counted((x.representation, x.dataset, x.sounds + 1, x.unconverged) for x in result.rows)
    return lines + convergence.report("crossval", found, result.solver,
                                      "EV from a fit that did not converge (crossval.csv: unconverged, "
                                      "in_sample_converged, heldout_converged)")
