"""Chunked, resumable batched solving of many problems that share pair-difference matrices.

The robustness sweep, the permutation null and cross-validation all fit, for each
dataset, ``K`` problems on the *same* ``D`` that differ only in their ratings or mask: a
:class:`~timbre_jax.solvers.batch.Group`.  :func:`solve` packs groups into chunks that fit
memory, solves each chunk with one call of the solver, and (given a directory) saves
every chunk as it is solved (:mod:`timbre_jax.fit.resume`), so an interrupted run resumes
where it stopped and ends with the same files.  Run as several processes
(:mod:`timbre_jax.fit.processes`), each solves its share of the chunks and all get every
result.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from timbre_jax.fit import processes, resume
from timbre_jax.progress import bar
from timbre_jax.solvers import Solver
from timbre_jax.solvers.batch import Group, Results, chunk_size, default_lockstep

FIELDS = ("weights", "distances", "pearson", "iterations", "status", "messages", "converged", "certified", "start",
          "degenerate_start")


def plan_chunks(groups: list[Group], solver: Solver, chunk_groups: int | None = None) -> list[list[int]]:
    """Groups per chunk: as many as fit memory in lockstep; one otherwise, so that each
    group is solved in its own padded shape (plain sums, see :mod:`timbre_jax.core.reductions`)
    and the progress bar moves once per dataset."""
    if chunk_groups is None and not default_lockstep():
        chunk_groups = 1
    if chunk_groups is None:
        p, n = max(g.D.shape[0] for g in groups), groups[0].D.shape[1]
        K = max(g.K for g in groups)
        chunk_groups = chunk_size(p, n, K, solver.per_problem_memory(p, n))
    return [list(range(i, min(i + chunk_groups, len(groups)))) for i in range(0, len(groups), chunk_groups)]


def _arrays(results: list[Results]) -> dict[str, np.ndarray]:
    return {f"{i}_{k}": np.asarray(getattr(r, k), dtype=str if k == "messages" else None)
            for i, r in enumerate(results) for k in FIELDS}


def _results(arrays: dict[str, np.ndarray], count: int) -> list[Results]:
    return [Results(**{k: arrays[f"{i}_{k}"] for k in FIELDS}) for i in range(count)]


def solve(groups: list[Group], solver: Solver, *, chunk_groups: int | None = None, directory: Path | None = None,
          label: str = "fits", progress: bool = True) -> tuple[list[Results], int]:
    """Solve every problem of every group with ``solver``: one
    :class:`~timbre_jax.solvers.batch.Results` per group, chunks saved under ``directory`` if
    given, and the number of fits read back from there."""
    if not groups:
        return [], 0
    chunks = plan_chunks(groups, solver, chunk_groups)
    results: list[Results | None] = [None] * len(groups)
    mine = [c for c in range(len(chunks)) if processes.owns(c)]  # all of them in one process
    total = sum(groups[i].K for c in mine for i in chunks[c])
    solved, solving_time, read_back = 0, 0.0, 0
    with bar(progress, label, total=total) as advance:
        for members in (chunks[c] for c in mine):
            todo = [groups[i] for i in members]
            key = resume.fingerprint(solver.settings, [g.name for g in todo],
                                     [a for g in todo for a in (g.D, g.ratings, g.mask)])
            t0 = time.perf_counter()
            arrays, resumed = resume.cached(resume.path(directory, "chunk", key),
                                            lambda todo=todo: _arrays(solver.solve(todo)))
            k = sum(g.K for g in todo)
            if resumed:
                read_back += k
            else:
                solving_time += time.perf_counter() - t0
                solved += k
            for i, r in zip(members, _results(arrays, len(members))):
                results[i] = r
            advance(k, rate=f"{solved / solving_time:.2f} fits/s" if solved else "resumed")
    return processes.share(groups, results, solver.Status), read_back
