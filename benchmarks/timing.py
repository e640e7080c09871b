"""The timbre-jax side of the benchmark, timed apart from compilation, and the Table I
comparison with the scipy loop."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from common import read_csv
from reference import scipy_reference, table_problems


def timed_twice(solve):
    """``solve()`` twice: compile + run, then run alone (compiled shapes are cached).
    Returns (second result, run s, compile s = first - second).  Subtracting a
    1-iteration run's compile time instead is fragile: maxiter is a compile-time
    constant, so the real run compiles again, for a different time."""
    t0 = time.perf_counter()
    solve()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = solve()
    run = time.perf_counter() - t0
    return out, run, max(first - run, 0.0)


def jax_batch(problems, maxiter: int) -> tuple[list[tuple], float, float]:
    """timbre-jax on all problems: ((EV, iterations, message) each, run s, compile s)."""
    import timbre_jax

    solver = timbre_jax.Lbfgsb(maxiter=maxiter)
    ours, t_jax, compile_s = timed_twice(lambda: timbre_jax.learn_metrics(problems, solver=solver))
    return [(o.explained_variance, o.iterations, o.message) for o in ours], t_jax, compile_s


def jax_from_fits(rep: str, sets, fits: Path) -> tuple[list[tuple], float, float]:
    """timbre-jax's side read from the fits.csv of a ``timbre-jax table`` run (which solved
    the same problems with the same settings), so that an hour-long representation is not
    solved twice.  Its seconds include compilation (compile s is reported as NaN)."""
    rows = {(r["representation"], r["dataset"]): r for r in read_csv(fits)}
    missing = [s.dataset for s in sets if (rep, s.dataset) not in rows]
    if missing:
        raise SystemExit(f"{fits} has no {rep} fit for {', '.join(missing)}")
    got = [rows[(rep, s.dataset)] for s in sets]
    return ([(float(r["explained_variance"]), int(r["iterations"]), r["message"]) for r in got],
            sum(float(r["seconds"]) for r in got), float("nan"))


def bench_table(rep: str, names, maxiter: int, cache: Path | None = None,
                jax_fits: Path | None = None) -> tuple[dict, list[dict]]:
    """Both solvers on every available Table I problem of ``rep``: a summary row and one
    row per problem (the quality check of the solver: EV_jax - EV_scipy)."""
    sets = table_problems(rep, names)
    ref = scipy_reference(rep, sets, maxiter, cache)
    t_scipy = sum(r[2] for r in ref)
    if jax_fits is None:
        ours, t_jax, compile_s = jax_batch([(s.features, s.ratings) for s in sets], maxiter)
    else:
        ours, t_jax, compile_s = jax_from_fits(rep, sets, jax_fits)
    diff = np.array([o[0] - r[0] for o, r in zip(ours, ref)])
    it_jax = sum(o[1] for o in ours)
    it_scipy = sum(r[1] for r in ref)
    rows = [dict(representation=rep, dataset=s.dataset, ev_scipy=r[0], ev_jax=o[0],
                 ev_diff=o[0] - r[0], iterations_scipy=r[1], iterations_jax=o[1],
                 scipy_s=r[2], jax_message=o[2]) for s, o, r in zip(sets, ours, ref)]
    summary = dict(representation=rep, problems=len(sets), n=int(sets[0].features.shape[1]),
                   scipy_s=t_scipy, jax_s=t_jax, compile_s=compile_s,
                   speedup=t_scipy / t_jax, jax_fits_per_s=len(sets) / t_jax, scipy_fits_per_s=len(sets) / t_scipy,
                   jax_ms_per_iteration=1e3 * t_jax / max(it_jax, 1),
                   scipy_ms_per_iteration=1e3 * t_scipy / max(it_scipy, 1),
                   ev_diff_min=float(diff.min()), ev_diff_median=float(np.median(diff)),
                   worst_dataset=sets[int(diff.argmin())].dataset,
                   ev_jax_median=float(np.median([o[0] for o in ours])),
                   ev_scipy_median=float(np.median([r[0] for r in ref])))
    return summary, rows
