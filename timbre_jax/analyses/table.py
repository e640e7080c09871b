"""Table I of Pascal & Lagrange (2024): the explained variance of the metric learned on
each (dataset, representation), solved one representation at a time in batches.

Beside every fit the certified optimum of the same problem is solved
(:class:`~timbre_jax.solvers.Exact`, milliseconds per fit), so each cell says how far
the solver stopped from the best any weights can do.  Given a directory, every batch of
fits is saved there (:mod:`timbre_jax.fit.resume`), so an interrupted table resumes where it
stopped and a table over more representations reuses the fits of an earlier one.

A fit that did not converge keeps its cell: table1.csv is the paper's table and keeps its
values and format, the flag is the ``converged`` column of fits.csv, and the printed table
marks the cell (and the median and IQR of its column) with ``*`` above the count of such
fits (:mod:`timbre_jax.stats.convergence`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.fit import resume
from timbre_jax.fit.learn import MetricResult, learn_metrics
from timbre_jax.plots import tables
from timbre_jax.progress import bar
from timbre_jax.solvers import Exact, Solver
from timbre_jax.solvers.batch import chunk_size, default_lockstep
from timbre_jax.solvers.messages import too_many_weights
from timbre_jax.stats import convergence

WRITES = ("OUT/table1.csv (explained variance per dataset x representation), OUT/table1_optimum.csv (the "
          "certified optimum of each cell; left out when every cell is itself certified), OUT/fits.csv (one "
          "row per fit: iterations, solver message, gap to the optimum, seconds, ...) and the saved fits "
          "under OUT/chunks/table/<representation>/")

_TYPES = {"pearson": float, "iterations": int, "status": int, "message": str, "converged": bool, "certified": bool,
          "start": int, "solver": str, "degenerate_start": bool}


def _arrays(results: list[MetricResult], seconds: float) -> dict[str, np.ndarray]:
    """One batch's results and its seconds per fit, as arrays (npz, no pickles)."""
    arrays = {f.name: np.array([getattr(r, f.name) for r in results], dtype=np.str_ if _TYPES.get(f.name) is str
                               else None) for f in fields(MetricResult)}
    return {**arrays, "seconds": np.float64(seconds)}


def _results(arrays: dict[str, np.ndarray]) -> tuple[list[MetricResult], float]:
    """What :func:`_arrays` made: the results, bit for bit, and the seconds per fit."""
    count = len(arrays["pearson"])
    results = [MetricResult(weights=arrays["weights"][i], **{k: t(arrays[k][i]) for k, t in _TYPES.items()})
               for i in range(count)]
    return results, float(arrays["seconds"])


def _solve(sets, solver: Solver, source: str, directory: Path | None) -> tuple[list[MetricResult], float, bool]:
    """``learn_metrics`` on ``sets``: (results, seconds per fit, whether read back)."""
    key = resume.fingerprint({**solver.settings, "source": source},
                             [x for s in sets for x in (s.dataset, s.representation)],
                             [a for s in sets for a in (s.features, s.ratings)])

    def compute():
        t0 = time.perf_counter()
        results = learn_metrics([(s.features, s.ratings) for s in sets], solver=solver)
        return _arrays(results, (time.perf_counter() - t0) / len(results))

    arrays, resumed = resume.cached(resume.path(directory, solver.name, key), compute)
    return *_results(arrays), resumed


@dataclass(frozen=True)
class TableResult:
    """Explained variance per (representation, dataset): ``ev`` of the solver, ``optimum``
    the certified global optimum EV* of the same problem; one record per fit in
    ``fits`` (iterations, convergence, the solver's message, winning start, the optimum
    and the gap EV* - EV, the seconds of the batch that solved it divided among its fits
    (the first batch of a shape includes compilation), ``resumed``: read back rather than
    solved); what was skipped; ``rated``: the rated pairs of each (representation,
    dataset), beside the fit's n weights (not a column of fits.csv)."""

    ev: dict[tuple[str, str], float]
    optimum: dict[tuple[str, str], float]
    fits: list[dict]
    representations: list[str]
    datasets: list[str]
    solver: str
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    rated: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        """Whether every cell is itself a certified optimum (then ``optimum`` repeats ``ev``)."""
        return all(f["solver_certified"] for f in self.fits)


def run(representations, datasets, *, source: str = "auto", solver: Solver | None = None,
        directory: Path | None = None, progress: bool = True) -> TableResult:
    """Table I with ``solver`` (default :class:`~timbre_jax.solvers.Exact`; the paper's is
    :class:`~timbre_jax.solvers.Lbfgsb`);
    batches saved under ``directory/<representation>``."""
    reference = Exact()
    job = base.start(representations, datasets, source, solver, directory)
    solver = job.solver
    ev, optimum, fits, rated = {}, {}, [], {}
    with bar(progress, "Table I fits", total=sum(len(s) for s in job.sets.values())) as advance:
        for r, sets in job.sets.items():
            n = sets[0].dims
            where = job.folder(r)
            # The optimum of every problem first, in one batch (milliseconds per fit).
            best, exact_seconds, best_resumed = _solve(sets, reference, source, where)
            if solver == reference:
                per_fit = [(b, exact_seconds, best_resumed) for b in best]
                advance(len(sets))
            else:
                per_fit = []
                # In lockstep, as many problems per batch as fit memory; in sequence (CPU)
                # one per batch, so the bar moves per fit (compiled shapes are reused).
                p = max(len(s.pairs) for s in sets)
                step = chunk_size(p, n, 1, solver.per_problem_memory(p, n)) if default_lockstep() else 1
                for i in range(0, len(sets), step):
                    results, seconds, resumed = _solve(sets[i:i + step], solver, source, where)
                    per_fit += [(res, seconds, resumed) for res in results]
                    advance(len(results))
            for s, b, (res, seconds, resumed) in zip(sets, best, per_fit):
                key = (r, s.dataset)
                ev[key], optimum[key] = res.explained_variance, b.explained_variance
                rated[key] = int(np.isfinite(s.pairs).sum())
                fits.append(dict(representation=r, dataset=s.dataset, n=n, pairs=len(s.pairs), solver=solver.name,
                                 explained_variance=res.explained_variance, optimum=b.explained_variance,
                                 gap=b.explained_variance - res.explained_variance,
                                 certified=b.certified, iterations=res.iterations, converged=res.converged,
                                 message=res.message, start=res.start, degenerate_start=res.degenerate_start,
                                 seconds=seconds, exact_seconds=exact_seconds, resumed=resumed,
                                 solver_certified=res.certified))
    return TableResult(ev, optimum, fits, list(representations), list(datasets), solver.name, job.skipped,
                       job.seconds(), rated)


def _records(result: TableResult) -> list[dict]:
    return [{k: v for k, v in f.items() if k != "solver_certified"} for f in result.fits]


def write(result: TableResult, out: Path) -> list[Path]:
    """OUT/table1.csv, OUT/table1_optimum.csv (unless every cell is itself certified) and
    OUT/fits.csv (one row per fit); returns the paths written."""
    out = Path(out)
    reps, names = result.representations, result.datasets
    written = [tables.write_table1(out / "table1.csv", result.ev, reps, names)]
    if not result.certified:
        written.append(tables.write_table1(out / "table1_optimum.csv", result.optimum, reps, names))
    records = _records(result)
    if records:
        written.append(tables.write_csv(out / "fits.csv", list(records[0]), [list(f.values()) for f in records]))
    return written


def warning_lines(result: TableResult) -> list[str]:
    """What a reader must know before trusting the table, one line each (the command line
    prints them on stderr): the cells with at least as many weights as rated pairs."""
    line = too_many_weights([(f"{f['representation']}/{f['dataset']}", f["n"],
                              result.rated.get((f["representation"], f["dataset"]), f["pairs"]))
                             for f in result.fits])
    return [line] if line else []


def marked_table(markdown: str, stopped: set[tuple[str, str]], representations, datasets) -> str:
    """The markdown Table I (:func:`timbre_jax.plots.tables.markdown_table1`: a header, a
    rule, one line per dataset, then the summary rows) with :data:`~timbre_jax.stats.convergence.MARK`
    after our value in each (representation, dataset) cell of ``stopped`` and in the
    summary rows of their columns."""
    if not stopped:
        return markdown
    lines = markdown.split("\n")
    columns = {representations.index(r) for r, _ in stopped}
    for i, line in enumerate(lines[2:], start=2):
        d = datasets[i - 2] if i - 2 < len(datasets) else None
        cells = line[2:-2].split(" | ")  # "| name | cell | ... |"
        for c, r in enumerate(representations):
            if ((r, d) in stopped if d is not None else c in columns):
                ours, _, rest = cells[c + 1].partition(" ")
                cells[c + 1] = " ".join(filter(None, [ours + convergence.MARK, rest]))
        lines[i] = "| " + " | ".join(cells) + " |"
    return "\n".join(lines)


def summary(result: TableResult) -> list[str]:
    """The table in markdown with the paper's values, a key, what was skipped, the count
    and, where some fits did not converge, their count (``*`` in their cells)."""
    optimum = None if result.certified else result.optimum
    stopped = {(f["representation"], f["dataset"]) for f in result.fits if not f["converged"]}
    lines = [marked_table(tables.markdown_table1(result.ev, result.representations, result.datasets, optimum),
                          stopped, result.representations, result.datasets)]
    certified = sum(f["certified"] for f in result.fits)
    if optimum is not None:
        lines.append(f"cells: our explained variance, {result.solver} (the paper's value) [the global optimum, "
                     f"certified by the KKT conditions for {certified} of {len(result.fits)}]; in-sample: each metric "
                     "scored on the pairs it was fitted on")
    else:
        lines.append(f"cells: our explained variance at the global optimum (the paper's value); "
                     f"{certified} of {len(result.fits)} certified by the KKT conditions; in-sample: each metric "
                     "scored on the pairs it was fitted on")
    lines += base.skipped_lines(result.skipped)
    resumed = sum(f["resumed"] for f in result.fits)
    lines.append(f"\n{len(result.ev)} fits ({result.solver}{f', {resumed} resumed' if resumed else ''}) "
                 f"in {result.seconds:.1f} s")
    found = convergence.tally((f["representation"], f["dataset"], f["converged"]) for f in result.fits)
    return lines + convergence.report("table", found, result.solver,
                                      "from a fit that did not converge, or a median or IQR over one "
                                      "(fits.csv: converged; table1.csv keeps the paper's format)")
