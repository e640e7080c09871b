"""Robustness of a learned metric to rater noise (Pascal & Lagrange 2024, Sec. V).

Degraded ratings ``y = clip(s + delta * xi, 0, 1)`` with ``xi`` i.i.d. N(0, 1) per pair,
for degradation levels ``delta = logspace(-1, 1, 9)`` and 5 realizations each (the noise,
its seeds and the areas: :mod:`timbre_jax.stats.degradation`).  The metric is learned on
``y`` exactly as :func:`timbre_jax.learn_metric` does (NNLS start on ``y``, then
L-BFGS-B) and scored on the *human* ratings: ``EV_human = P(d_w, s)^2``; the fit to the
degraded ratings ``EV_degraded = P(d_w, y)^2`` is recorded too.

Area: the trapezoid of the mean (over realizations) EV_human against ``log10 delta``;
over the default levels it lies in [0, 2].  Relative area of representation R on a
dataset: ``10 log10(area_R / area_stmf)`` dB (negative = less robust than STMF).

Each fit's ``converged`` is in robustness.csv; auc.csv counts the fits behind each area
that did not converge (``unconverged``, and ``converged``: every fit behind the row's
numbers did), and the summary says how many did not (:mod:`timbre_jax.stats.convergence`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.core.pearson import pearson_rows
from timbre_jax.data.datasets import FeatureSet, participants
from timbre_jax.data.participants import mean_of
from timbre_jax.data.registry import DATASETS, get_dataset
from timbre_jax.fit import sweep
from timbre_jax.fit.learn import explained_variance
from timbre_jax.plots.robustness import plot_area_heatmap, plot_robustness_curves
from timbre_jax.plots.tables import write_csv
from timbre_jax.solvers import Solver
from timbre_jax.stats import convergence
from timbre_jax.stats.degradation import auc_table, levels, make_group
from timbre_jax.stats.reliability import pair_spread

WRITES = ("OUT/robustness.csv (one row per fit), OUT/auc.csv (area under each curve, its fits that did not "
          "converge), "
          "OUT/fig1a_<dataset>.png, OUT/fig1b.png and the saved fits under OUT/chunks/<representation>/")


@dataclass(frozen=True)
class SweepRow:
    representation: str
    dataset: str
    delta: float
    delta_over_bar: float
    realization: int
    ev_human: float
    ev_degraded: float
    iterations: int
    converged: bool


def noise_sweep(sets: list[FeatureSet], solver: Solver, *, n_levels: int = 9, realizations: int = 5, seed: int = 0,
                std_scale: bool = False, directory: Path | None = None, chunk_groups: int | None = None,
                progress: bool = True) -> tuple[list[SweepRow], int]:
    """Every (dataset x level x realization) problem of one representation, batched:
    (rows, fits read back from ``directory``)."""
    deltas = levels(n_levels)
    groups = [make_group(fs, deltas, realizations, seed, std_scale) for fs in sets]
    rep = sets[0].representation if sets else ""
    results, resumed = sweep.solve(groups, solver, chunk_groups=chunk_groups, directory=directory,
                                   label=f"robustness {rep}", progress=progress)
    rows = []
    for fs, g, res in zip(sets, groups, results):
        ev_human = explained_variance(pearson_rows(res.distances, np.nan_to_num(fs.pairs), g.mask[0]))
        bar_delta = get_dataset(fs.dataset).typical_noise if fs.dataset in DATASETS else np.nan
        for k in range(g.K):
            li, r = divmod(k, realizations)
            rows.append(SweepRow(rep, fs.dataset, float(deltas[li]), float(deltas[li] / bar_delta), r,
                                 float(ev_human[k]), float(explained_variance(res.pearson[k])),
                                 int(res.iterations[k]), bool(res.converged[k])))
    return rows, resumed


@dataclass(frozen=True)
class RobustnessResult:
    """The rows of a sweep, what was skipped, and per representation (fits, seconds,
    fits read back from a saved run)."""

    rows: list[SweepRow]
    representations: list[str]
    datasets: list[str]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    timings: dict[str, tuple[int, float, int]] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""
    solver: str = ""
    measured: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Per dataset with per-participant ratings: the measured noise of its mean ratings in
    δ units (:func:`measured_noise`) and its number of participants."""


def measured_noise(X: np.ndarray, std_scale: bool = False) -> float:
    """The noise of the mean ratings measured from the participants ``X`` (m, p), in the
    sweep's δ units: the median over pairs of the standard error of the pair's mean rating
    (:func:`timbre_jax.stats.reliability.pair_spread`); over the std of the mean ratings
    with ``std_scale`` (whose noise is δ·std·ξ)."""
    sem = pair_spread(X).sem_median
    if not std_scale:
        return sem
    mean = mean_of(X)
    return sem / float(np.std(mean[np.isfinite(mean)]))


def run(representations, datasets, *, source: str = "auto", solver: Solver | None = None, n_levels: int = 9,
        realizations: int = 5, seed: int = 0, std_scale: bool = False, chunk_groups: int | None = None,
        directory: Path | None = None, progress: bool = True) -> RobustnessResult:
    """The sweep of every representation on every dataset it has (``solver``: default
    :class:`~timbre_jax.solvers.Exact`; the paper's is :class:`~timbre_jax.solvers.Lbfgsb`);
    fits saved under ``directory/<representation>``."""
    job = base.start(representations, datasets, source, solver, directory)
    rows, timings = [], {}
    for r, sets, clock in job.each():
        found, resumed = noise_sweep(sets, job.solver, n_levels=n_levels, realizations=realizations, seed=seed,
                                     std_scale=std_scale, directory=job.folder(r), chunk_groups=chunk_groups,
                                     progress=progress)
        rows += found
        timings[r] = (len(found), clock(), resumed)
    measured = {}
    for d in dict.fromkeys(fs.dataset for sets in job.sets.values() for fs in sets):
        found = participants(d)
        if found is not None and found.m >= 2:
            measured[d] = (measured_noise(found.pairs, std_scale), found.m)
    return RobustnessResult(rows, list(representations), list(datasets), job.skipped, timings, job.seconds(),
                            job.source, job.solver.name, measured)


def write(result: RobustnessResult, out: Path) -> list[Path]:
    """robustness.csv, auc.csv, fig1a_<dataset>.png and fig1b.png under ``out``."""
    rows, representations, datasets = result.rows, result.representations, result.datasets
    out = Path(out)
    written = [write_csv(out / "robustness.csv", list(SweepRow.__dataclass_fields__),
                         [[getattr(r, f) for f in SweepRow.__dataclass_fields__] for r in rows])]
    auc = auc_table(rows)
    keys = [(r, d) for r in representations for d in datasets if (r, d) in auc]
    columns = ["auc", "auc_std", "rel_auc_db", "unconverged", "converged"]
    written.append(write_csv(out / "auc.csv", ["representation", "dataset", *columns],
                             [[r, d, *(auc[(r, d)][c] for c in columns)] for r, d in keys]))
    present = [d for d in datasets if any((r, d) in auc for r in representations)]
    # what the figures' titles name (source and solver where the result records them) and say is missing
    figure = dict(source=result.source, solver=result.solver, skipped=result.skipped)
    for d in present:
        # A study of your own has no known number of participants, hence no delta_bar line.
        typical = get_dataset(d).typical_noise if d in DATASETS else np.nan
        written.append(plot_robustness_curves(rows, d, typical, out / f"fig1a_{d}.png",
                                              measured=result.measured.get(d), **figure))
    if present:
        shown = [r for r in representations if any((r, d) in auc for d in present)]
        written.append(plot_area_heatmap(auc, present, shown, out / "fig1b.png", **figure))
    return written


def summary(result: RobustnessResult) -> list[str]:
    """Fits and time per representation, what was skipped, a note where the relative
    areas cannot be computed and, where some fits did not converge, their count."""
    lines = base.skipped_lines(result.skipped)
    for r, (fits, seconds, resumed) in result.timings.items():
        if resumed:  # saved chunks are read back, not solved: no rate to report
            lines.append(f"{r}: {fits} fits, {seconds:.1f} s in this run ({resumed} resumed from saved chunks)")
        else:
            lines.append(f"{r}: {fits} fits in {seconds:.1f} s ({fits / seconds:.2f} fits/s)")
    have = {(x.representation, x.dataset) for x in result.rows}
    if "stmf" not in result.representations or any(("stmf", d) not in have for d in result.datasets):
        lines.append("note: relative areas (dB) need stmf on the same dataset; those cells are left empty")
    for d, (delta, m) in result.measured.items():
        bar = get_dataset(d).typical_noise if d in DATASETS else np.nan
        lines.append(f"{d}: noise of the mean ratings measured from its {m} participants: δ = {delta:.3f} "
                     f"(the median standard error of a pair's mean rating)"
                     + (f"; the paper's δ̄ = {bar:.2f}" if np.isfinite(bar) else ""))
    found = convergence.tally((x.representation, x.dataset, x.converged) for x in result.rows)
    lines += convergence.report("robustness", found, result.solver)
    lines.append(f"wall time {result.seconds:.1f} s")
    return lines
