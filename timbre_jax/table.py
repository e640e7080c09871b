"""Table I of Pascal & Lagrange (2024): the explained variance of the metric learned on
each (dataset, representation), solved one representation at a time in batches.

Given a directory, every call of :func:`timbre_jax.learn_metrics` saves its results there
atomically, named by a hash of its inputs, so an interrupted table resumes where it stopped
and a table over more representations reuses the fits of an earlier, smaller one."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .datasets import load_available
from .learn import FitOptions, MetricResult, chunk_size, default_lockstep, fit_options, learn_metrics
from .progress import bar
from .store import atomic_write_bytes


def fingerprint(sets, settings: dict) -> str:
    """Hash of one call's inputs: ``settings`` (solver, options, ...), then the dataset
    names, features and ratings of ``sets`` in order (so other data never matches)."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for s in sets:
        h.update(s.dataset.encode() + b"\0" + s.representation.encode() + b"\0")
        for a in (s.features, s.ratings):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:20]


def _save(path: Path, results: list[MetricResult], seconds: float) -> None:
    """One call's results and its seconds per fit, atomically (npz, no pickles)."""
    arrays = dict(weights=np.stack([r.weights for r in results]),
                  pearson=np.array([r.pearson for r in results], dtype=np.float64),
                  iterations=np.array([r.iterations for r in results], dtype=np.int64),
                  status=np.array([r.status for r in results], dtype=np.int64),
                  start=np.array([r.start for r in results], dtype=np.int64),
                  degenerate_start=np.array([r.degenerate_start for r in results], dtype=bool),
                  message=np.array([r.message for r in results], dtype=np.str_),
                  solver=np.array([r.solver for r in results], dtype=np.str_),
                  seconds=np.float64(seconds))
    atomic_write_bytes(path, lambda fh: np.savez(fh, **arrays))


def _load(path: Path) -> tuple[list[MetricResult], float]:
    """What :func:`_save` wrote: the results, bit for bit, and the seconds per fit."""
    with np.load(path, allow_pickle=False) as z:
        results = [MetricResult(weights=z["weights"][i], pearson=float(z["pearson"][i]),
                                iterations=int(z["iterations"][i]), status=int(z["status"][i]),
                                message=str(z["message"][i]), start=int(z["start"][i]), solver=str(z["solver"][i]),
                                degenerate_start=bool(z["degenerate_start"][i]))
                   for i in range(len(z["pearson"]))]
        return results, float(z["seconds"])


def _solve(sets, settings: dict, directory: Path | None, **kwargs) -> tuple[list[MetricResult], float, bool]:
    """``learn_metrics`` on ``sets``: (results, seconds per fit, whether read back).

    With a directory, results saved there by an earlier call with the same fingerprint are
    read back instead of solved; new ones are saved as soon as they are solved."""
    path = None
    if directory is not None:
        path = Path(directory) / f"{settings['solver']}-{fingerprint(sets, settings)}.npz"
        if path.exists():
            return *_load(path), True
    t0 = time.perf_counter()
    results = learn_metrics([(s.features, s.ratings) for s in sets], **kwargs)
    seconds = (time.perf_counter() - t0) / len(results)
    if path is not None:
        _save(path, results, seconds)
    return results, seconds, False


def table1(representations, names, *, source: str = "upstream", maxiter: int | None = None,
           starts: int = 1, progress: bool = True, solver: str = "lbfgsb", directory: Path | None = None,
           options: FitOptions | None = None):
    """Explained variance per (representation, dataset).

    Returns ``(ev, optimum, skipped, fits)``: ``ev[(representation, dataset)]`` from
    ``solver``; ``optimum[...]``, the certified global optimum EV* of the same problem
    (:mod:`timbre_jax.exact`; it is cheap, so it is solved beside every L-BFGS-B fit, and
    equals ``ev`` with ``solver="exact"``); the (representation, dataset, reason) of
    problems without data; and one record per fit (iterations, convergence, solver
    message, winning start, the optimum and the gap EV* - EV, seconds of the call that
    solved it divided among its problems; the first call of a shape includes
    compilation; ``resumed``: read back from ``directory`` rather than solved, its
    seconds are those of the run that solved it).  ``starts``: see
    :func:`timbre_jax.learn_metrics`.  ``options``: the L-BFGS-B fit's
    :class:`~timbre_jax.learn.FitOptions` (default the paper's), ``maxiter`` if given
    replacing its iteration limit.

    ``directory``: where each call's results are saved (``directory/<representation>/``)
    and, on a re-run, read back (see the module docstring)."""
    options = fit_options(options, maxiter)
    ev: dict[tuple[str, str], float] = {}
    optimum: dict[tuple[str, str], float] = {}
    fits: list[dict] = []
    skipped = []
    loaded = []
    for r in representations:
        sets, sk = load_available(r, names, source)
        loaded.append((r, sets))
        skipped += sk
    total = sum(len(s) for _, s in loaded)
    with bar(progress, "Table I fits", total=total) as advance:
        for r, sets in loaded:
            if not sets:
                continue
            n = sets[0].features.shape[1]
            where = Path(directory) / r if directory is not None else None
            # The optimum of every problem first, in one batch (milliseconds per fit).
            best, exact_seconds, best_resumed = _solve(sets, {"solver": "exact", "source": source}, where,
                                                       solver="exact")
            if solver == "exact":
                per_fit = [(b, exact_seconds, best_resumed) for b in best]
                advance(len(sets))
            else:
                per_fit = []
                settings = {"solver": "lbfgsb", "source": source, "options": asdict(options), "starts": starts}
                # In lockstep, as many problems per call as fit memory; in sequence (CPU)
                # one per call, so the bar moves per fit (compiled shapes are reused).
                step = (chunk_size(max(len(s.pairs) for s in sets), n, 1, history=options.history)
                        if default_lockstep() else 1)
                for i in range(0, len(sets), step):
                    results, seconds, resumed = _solve(sets[i:i + step], settings, where,
                                                       options=options, starts=starts)
                    per_fit += [(res, seconds, resumed) for res in results]
                    advance(len(results))
            for s, b, (res, seconds, resumed) in zip(sets, best, per_fit):
                key = (r, s.dataset)
                ev[key], optimum[key] = res.explained_variance, b.explained_variance
                fits.append(dict(representation=r, dataset=s.dataset, n=n, pairs=len(s.pairs), solver=solver,
                                 explained_variance=res.explained_variance, optimum=b.explained_variance,
                                 gap=b.explained_variance - res.explained_variance,
                                 certified=b.certified, iterations=res.iterations, converged=res.converged,
                                 message=res.message, start=res.start, degenerate_start=res.degenerate_start,
                                 seconds=seconds, exact_seconds=exact_seconds, resumed=resumed))
    return ev, optimum, skipped, fits


def write_outputs(out: Path, ev: dict, optimum: dict | None, fits: list[dict], representations, names) -> list[Path]:
    """OUT/table1.csv, OUT/table1_optimum.csv (given the optimum of each cell, i.e. for
    L-BFGS-B fits) and OUT/fits.csv (one row per fit); returns the paths written."""
    from . import report

    out = Path(out)
    written = [report.write_table1(out / "table1.csv", ev, representations, names)]
    if optimum is not None:
        written.append(report.write_table1(out / "table1_optimum.csv", optimum, representations, names))
    if fits:
        written.append(report.write_csv(out / "fits.csv", list(fits[0]), [list(f.values()) for f in fits]))
    return written
