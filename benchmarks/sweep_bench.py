"""Both solvers on a robustness sub-sweep: many rating sets on one dataset's features."""

from __future__ import annotations

import time

import numpy as np
from reference import scipy_fit
from timing import timed_twice


def bench_sweep(rep: str, dataset: str, realizations: int, maxiter: int) -> dict:
    """A robustness sub-sweep: the 9 noise levels x ``realizations`` noisy rating sets of
    one dataset (what ``timbre-jax robustness`` solves), by the scipy loop and by one
    batched ``sweep.solve``; quality is EV on the ratings each fit was given."""
    from timbre_jax.data import datasets
    from timbre_jax.fit import sweep
    from timbre_jax.solvers import Lbfgsb
    from timbre_jax.stats import degradation

    g = degradation.make_group(datasets.load(dataset, rep), degradation.levels(9), realizations, 0)
    rated = g.mask[0] > 0
    t0 = time.perf_counter()
    ref, nit = np.array([scipy_fit(g.D[rated], y[rated], maxiter) for y in g.ratings]).T
    t_scipy = time.perf_counter() - t0
    solver = Lbfgsb(maxiter=maxiter)
    (out,), t_jax, compile_s = timed_twice(lambda: sweep.solve([g], solver, progress=False)[0])
    diff = out.pearson ** 2 - ref
    # Iterations apart from time: run to stagnation (ftol 1e-36) both solvers stop at
    # chaotic points, so a ratio per fit mixes speed with where each happened to stop.
    its = (int(nit.sum()), int(np.sum(out.iterations)))
    return dict(representation=rep, dataset=dataset, problems=g.K, n=int(g.D.shape[1]), scipy_s=t_scipy,
                jax_s=t_jax, compile_s=compile_s, speedup=t_scipy / t_jax,
                scipy_iterations=its[0], jax_iterations=its[1],
                scipy_ms_per_iteration=1e3 * t_scipy / its[0], jax_ms_per_iteration=1e3 * t_jax / its[1],
                ev_diff_min=float(diff.min()), ev_diff_median=float(np.median(diff)))
