"""The scipy side of the benchmark: one problem at a time, cached per problem.

The fit itself is tests/scipy_reference.py (the tests' independent reference): the
benchmark times exactly what the tests compare against.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from common import read_csv, write_rows

# benchmarks/ is a folder of scripts, not a package: the shared fit is found beside it.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from scipy_reference import scipy_fit


def table_problems(rep: str, names) -> list:
    """The FeatureSets of ``rep`` that can be had among the datasets ``names``."""
    from timbre_jax.data.datasets import load_available

    sets, _ = load_available(rep, names)
    return sets


def scipy_reference(rep: str, sets, maxiter: int, cache: Path | None = None) -> list[tuple]:
    """(EV, iterations, seconds) of the scipy loop for each feature set.  With ``cache`` (a
    CSV), finished problems are read back and each new one is appended as it ends, so an
    interrupted multi-hour reference run resumes where it stopped."""
    from timbre_jax.core.pearson import pair_differences

    done = {}
    if cache is not None and cache.exists():
        for row in read_csv(cache):
            if int(row["maxiter"]) == maxiter:
                done[(row["representation"], row["dataset"])] = (
                    float(row["ev_scipy"]), int(row["iterations_scipy"]), float(row["scipy_s"]))
    rows = [dict(representation=r, dataset=d, maxiter=maxiter, ev_scipy=v[0], iterations_scipy=v[1],
                 scipy_s=v[2]) for (r, d), v in done.items()]
    ref = []
    for s in sets:
        if (rep, s.dataset) not in done:
            t0 = time.perf_counter()
            ev, nit = scipy_fit(np.asarray(pair_differences(s.features)), s.pairs, maxiter)
            done[(rep, s.dataset)] = (ev, nit, time.perf_counter() - t0)
            print(f"  scipy {rep}/{s.dataset}: EV {ev:.4f}, {nit} iterations, "
                  f"{done[(rep, s.dataset)][2]:.1f} s", flush=True)
            if cache is not None:
                rows.append(dict(representation=rep, dataset=s.dataset, maxiter=maxiter, ev_scipy=ev,
                                 iterations_scipy=nit, scipy_s=done[(rep, s.dataset)][2]))
                write_rows(cache, rows)
        ref.append(done[(rep, s.dataset)])
    return ref
