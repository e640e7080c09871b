"""Scaling curves: wall time and peak memory against the batch size and against n.

Each point runs in its own process (``python benchmarks/scaling.py KIND SIZE MAXITER``
prints it as JSON), so that its peak host RSS (or device memory on a GPU) is its own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np


def bytes_per_iteration(pairs: int, n: int, history: int = 10) -> int:
    """A lower bound on the memory traffic of one L-BFGS-B iteration (float64 bytes), the
    floor against which time per iteration is compared: one objective-and-gradient
    evaluation reads the pair-difference matrix twice (D w^-2, then r^T D; padded pairs
    included), the compact L-BFGS-B products read the history S, Y (2 m n) three times
    (Cauchy point, subspace step, memory update), and about 20 n-vectors are streamed
    (x, g, bounds, breakpoints and their sorted order, the step).  Line searches that
    need more than one evaluation add 2 p n each, so the true traffic is higher."""
    from timbre_jax.solvers.batch import padded_pairs

    return 8 * (2 * padded_pairs(pairs) * n + 3 * 2 * history * n + 20 * n)


def host_peak_bytes() -> int:
    """This process's peak resident memory.  VmHWM, not getrusage's ru_maxrss: Linux keeps
    ru_maxrss across execve, so a child started by a big parent would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scaling_point(kind: str, size: int, maxiter: int) -> dict:
    """One measurement (run in a child process): ``kind`` "batch" solves ``size``
    robustness-style problems of Grey1977 (encodec), "features" 4 problems on 16 sounds
    with ``size`` synthetic features."""
    import jax
    from timing import timed_twice  # here, so that the floor above loads without benchmarks/ on sys.path

    from timbre_jax.core.pearson import pair_differences
    from timbre_jax.data import datasets
    from timbre_jax.fit import sweep
    from timbre_jax.solvers import Lbfgsb
    from timbre_jax.solvers.batch import Group
    from timbre_jax.stats import degradation

    fs = datasets.load("Grey1977", "encodec")
    if kind == "batch":
        g = degradation.make_group(fs, degradation.levels(9), 5 * -(-size // 45), 0)
        group = Group(g.D, g.ratings[:size], g.mask[:size], "Grey1977")
    else:
        F = np.random.default_rng(0).random((16, size)) ** 4
        group = Group(np.asarray(pair_differences(F)), np.tile(fs.pairs, (4, 1)), np.ones((4, len(fs.pairs))),
                      "synthetic")
    solver = Lbfgsb(maxiter=maxiter)
    out, run, compile_s = timed_twice(lambda: sweep.solve([group], solver, progress=False)[0])
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    peak = stats.get("peak_bytes_in_use") if stats else host_peak_bytes()
    iterations = int(out[0].iterations.sum())
    return dict(kind=kind, size=size, problems=group.K, run_s=run, compile_s=compile_s,
                fits_per_s=group.K / run, max_iterations=int(out[0].iterations.max()),
                iterations=iterations, ms_per_iteration=1e3 * run / max(iterations, 1),
                pairs=int(group.D.shape[0]),
                floor_bytes_per_iteration=bytes_per_iteration(group.D.shape[0], group.D.shape[1]),
                peak_bytes=int(peak),
                memory="device" if stats else "host RSS")


def scaling(kind: str, sizes, maxiter: int) -> list[dict]:
    """:func:`scaling_point` for each size, each in a fresh process."""
    rows = []
    for size in sizes:
        cmd = [sys.executable, __file__, kind, str(size), str(maxiter)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  {kind} {size}: {rows[-1]['run_s']:.2f} s, {rows[-1]['fits_per_s']:.1f} fits/s", flush=True)
    return rows


if __name__ == "__main__":
    print(json.dumps(scaling_point(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
