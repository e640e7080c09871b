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
           starts: int = 1, progress: bool = True):
    """Explained variance per (representation, dataset).

    Returns ``(ev, skipped, fits)``: ``ev[(representation, dataset)]``, the
    (representation, dataset, reason) of problems without data, and one record per fit
    (iterations, convergence, solver message, winning start, seconds of the call that
    solved it divided among its problems; the first call of a shape includes
    compilation).  ``starts``: see :func:`timbre_jax.learn_metrics`."""
    ev: dict[tuple[str, str], float] = {}
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
            # In lockstep, as many problems per call as fit memory; in sequence (CPU) one
            # per call, so the bar moves per fit (compiled shapes are reused either way).
            step = chunk_size(max(len(s.pairs) for s in sets), n, 1) if default_lockstep() else 1
            for i in range(0, len(sets), step):
                chunk = sets[i:i + step]
                t0 = time.perf_counter()
                results = learn_metrics([(s.features, s.ratings) for s in chunk], maxiter=maxiter,
                                        starts=starts)
                seconds = (time.perf_counter() - t0) / len(chunk)
                for s, res in zip(chunk, results):
                    ev[(r, s.dataset)] = res.explained_variance
                    fits.append(dict(representation=r, dataset=s.dataset, n=n, pairs=len(s.pairs),
                                     explained_variance=res.explained_variance, iterations=res.iterations,
                                     converged=res.converged, message=res.message, start=res.start,
                                     seconds=seconds))
                advance(len(chunk))
    return ev, skipped, fits
