"""Permutation null: what explained variance does chance give?

With thousands of weights and at most 190 rated pairs, a metric can fit ratings whose
sounds were randomly relabelled.  For each dataset we refit on ``K`` relabellings (rows
and columns of the rating matrix permuted together; identity excluded), exactly as the
true order is fitted, all in batched solves that share the dataset's ``D`` (the
relabellings and the test: :mod:`timbre_jax.stats.relabelling`).

Reported per (representation, dataset): the observed EV, the null median and 95th
percentile, the permutation p-value ``(1 + #{null >= observed - TIE}) / (K + 1)`` and
the excess of the observed EV over the null median.  ``TIE`` counts a relabelling that
reaches the observed EV up to rounding as reaching it: where every fit interpolates the
ratings (EV = 1, mertcat), the optima differ only in the last bits.

A fit that did not converge is kept and said (:mod:`timbre_jax.stats.convergence`): its
``converged`` in null.csv, the count of such fits behind each p-value in summary.csv
(``unconverged``, ``converged``), a ``*`` after that p in the printed line and the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from timbre_jax.analyses import base
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.fit import sweep
from timbre_jax.fit.learn import explained_variance
from timbre_jax.plots.null import plot_null
from timbre_jax.plots.tables import write_csv
from timbre_jax.solvers import Solver
from timbre_jax.stats import convergence
from timbre_jax.stats.relabelling import NullSummary, compare_to_null, make_group

WRITES = ("OUT/null.csv (one row per fit; permutation 0 is the true order; converged), OUT/summary.csv (per "
          "dataset: the true EV, the null's quantiles, p, the fits behind it that did not converge), "
          "OUT/null_<representation>.png and the saved fits under OUT/chunks/<representation>/")


def relabelled_fits(sets: list[FeatureSet], solver: Solver, *, K: int = 100, seed: int = 0,
                    directory: Path | None = None, progress: bool = True):
    """The null of one representation: (per-fit rows [(representation, dataset,
    permutation index, ev, iterations, converged)], one :class:`NullSummary` per dataset)."""
    groups = [make_group(fs, K, seed) for fs in sets]
    rep = sets[0].representation if sets else ""
    results, _ = sweep.solve(groups, solver, directory=directory, label=f"null {rep}", progress=progress)
    rows, summaries = [], []
    for fs, res in zip(sets, results):
        ev = explained_variance(res.pearson)
        rows += [(rep, fs.dataset, k, float(e), int(it), bool(c))
                 for k, (e, it, c) in enumerate(zip(ev, res.iterations, res.converged))]
        summaries.append(compare_to_null(rep, fs.dataset, ev, res.converged))
    return rows, summaries


@dataclass(frozen=True)
class NullResult:
    """Every fit (rows of :func:`fit`), one :class:`NullSummary` per (representation,
    dataset), what was skipped, and the seconds per representation."""

    rows: list[tuple]
    summaries: list[NullSummary]
    source: str = ""
    solver: str = ""
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run(representations, datasets, *, source: str = "auto", solver: Solver | None = None,
        permutations: int = 100, seed: int = 0, directory: Path | None = None, progress: bool = True) -> NullResult:
    """The null of every representation on every dataset it has (``solver``: default
    :class:`~timbre_jax.solvers.Exact`, the null of the optimum; the paper's is
    :class:`~timbre_jax.solvers.Lbfgsb`); fits saved under ``directory/<representation>``."""
    job = base.start(representations, datasets, source, solver, directory)
    rows, summaries, timings = [], [], {}
    for r, sets, clock in job.each():
        found, summarized = relabelled_fits(sets, job.solver, K=permutations, seed=seed, directory=job.folder(r),
                                progress=progress)
        rows += found
        summaries += summarized
        timings[r] = clock()
    return NullResult(rows, summaries, job.source, job.solver.name, job.skipped, timings)


def write(result: NullResult, out: Path) -> list[Path]:
    """OUT/null.csv (one row per fit: representation, dataset, permutation (0 = the true
    order), ev, iterations, converged), OUT/summary.csv (one :class:`NullSummary` per
    dataset, then ``converged``: whether every fit behind it converged) and
    OUT/null_<representation>.png."""
    fields = [*NullSummary.__dataclass_fields__, "converged"]
    written = [write_csv(Path(out) / "null.csv",
                         ["representation", "dataset", "permutation", "ev", "iterations", "converged"],
                         [list(x) for x in result.rows]),
               write_csv(Path(out) / "summary.csv", fields,
                         [[getattr(x, f) for f in fields] for x in result.summaries])]
    for r in result.timings:
        written.append(plot_null([x for x in result.rows if x[0] == r], [x for x in result.summaries
                                                                          if x.representation == r],
                                 r, Path(out) / f"null_{r}.png", source=result.source, solver=result.solver,
                                 skipped=result.skipped))
    return written


def summary(result: NullResult) -> list[str]:
    """What was skipped, fits and time per representation, one line per dataset (``*``
    after a p computed from fits that did not converge) and, where some did not, their
    count (:func:`timbre_jax.stats.convergence.report`)."""
    lines = base.skipped_lines(result.skipped)
    for r, seconds in result.timings.items():
        lines.append(f"{r}: {sum(x[0] == r for x in result.rows)} fits in {seconds:.1f} s")
    for x in result.summaries:
        p = convergence.marked(f"{x.p_value:.3f}", x.converged)
        lines.append(f"{x.representation:10s} {x.dataset:22s} in-sample EV: observed {x.observed_ev:.3f}  null median "
                     f"{x.null_median:.3f}  p95 {x.null_p95:.3f}  p = {p}")
    found = convergence.tally((x[0], x[1], x[5]) for x in result.rows)
    return lines + convergence.report("null", found, result.solver,
                                      "p computed from fits that did not converge (summary.csv: unconverged)")
