"""Table I of Pascal & Lagrange (2024): the explained variance of the metric learned on
each (dataset, representation), solved one representation at a time in batches."""

from __future__ import annotations

import time

from . import datasets as ds_mod
from .download import MissingUpstreamFile
from .learn import MAXITER, chunk_size, default_lockstep, learn_metrics
from .progress import bar


def load_available(representation: str, names, source: str = "upstream"):
    """Feature sets that can be had, and (representation, dataset, reason) for the rest."""
    sets, skipped = [], []
    for d in names:
        try:
            sets.append(ds_mod.load(d, representation, source))
        except (MissingUpstreamFile, FileNotFoundError) as e:
            skipped.append((representation, d, str(e)))
    return sets, skipped


def table1(representations, names, *, source: str = "upstream", maxiter: int = MAXITER,
           starts: int = 1, progress: bool = True, solver: str = "lbfgsb"):
    """Explained variance per (representation, dataset).

    Returns ``(ev, optimum, skipped, fits)``: ``ev[(representation, dataset)]`` from
    ``solver``; ``optimum[...]``, the certified global optimum EV* of the same problem
    (:mod:`timbre_jax.exact`; it is cheap, so it is solved beside every L-BFGS-B fit, and
    equals ``ev`` with ``solver="exact"``); the (representation, dataset, reason) of
    problems without data; and one record per fit (iterations, convergence, solver
    message, winning start, the optimum and the gap EV* - EV, seconds of the call that
    solved it divided among its problems; the first call of a shape includes
    compilation).  ``starts``: see :func:`timbre_jax.learn_metrics`."""
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
            problems = [(s.features, s.ratings) for s in sets]
            # The optimum of every problem first, in one batch (milliseconds per fit).
            t0 = time.perf_counter()
            best = learn_metrics(problems, solver="exact")
            exact_seconds = (time.perf_counter() - t0) / len(sets)
            if solver == "exact":
                per_fit = [(b, exact_seconds) for b in best]
            else:
                per_fit = []
                # In lockstep, as many problems per call as fit memory; in sequence (CPU)
                # one per call, so the bar moves per fit (compiled shapes are reused).
                step = chunk_size(max(len(s.pairs) for s in sets), n, 1) if default_lockstep() else 1
                for i in range(0, len(sets), step):
                    t0 = time.perf_counter()
                    results = learn_metrics(problems[i:i + step], maxiter=maxiter, starts=starts)
                    seconds = (time.perf_counter() - t0) / len(results)
                    per_fit += [(res, seconds) for res in results]
                    advance(len(results))
            if solver == "exact":
                advance(len(sets))
            for s, b, (res, seconds) in zip(sets, best, per_fit):
                key = (r, s.dataset)
                ev[key], optimum[key] = res.explained_variance, b.explained_variance
                fits.append(dict(representation=r, dataset=s.dataset, n=n, pairs=len(s.pairs), solver=solver,
                                 explained_variance=res.explained_variance, optimum=b.explained_variance,
                                 gap=b.explained_variance - res.explained_variance,
                                 certified=b.certified, iterations=res.iterations, converged=res.converged,
                                 message=res.message, start=res.start, seconds=seconds,
                                 exact_seconds=exact_seconds))
    return ev, optimum, skipped, fits
