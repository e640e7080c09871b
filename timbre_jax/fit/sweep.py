"""Chunked, resumable batched solving of many problems that share pair-difference matrices.

The robustness sweep, the permutation null and cross-validation all fit, for each
dataset, ``K`` problems on the *same* ``D`` that differ only in their ratings or mask: a
:class:`~timbre_jax.solvers.batch.Group`.  :func:`solve` packs groups into chunks
(:func:`plan_chunks`), solves each chunk with one call of the solver and (given a
directory) saves every chunk as it is solved (:mod:`timbre_jax.fit.resume`), so an
interrupted run resumes where it stopped and ends with the same files.

Interrupts: each call of the solver runs in a worker thread
(:mod:`timbre_jax.fit.interruptible`), so Ctrl-C stops the run within a fraction of a
second, and on the CPU a chunk holds a few seconds of fits (a group of many problems is
cut into pieces, each saved as it is solved), so an interrupt loses at most the chunk it
was solving.  Run as several processes (:mod:`timbre_jax.fit.processes`), each solves its
share of the chunks and all get every result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.fit import interruptible, processes, resume
from timbre_jax.progress import bar
from timbre_jax.solvers import Solver
from timbre_jax.solvers.batch import Group, Results, chunk_size, cut, default_lockstep, joined, piece

FIELDS = ("weights", "distances", "pearson", "iterations", "status", "messages", "converged", "certified", "start",
          "degenerate_start")


@dataclass(frozen=True)
class Part:
    """Problems ``start`` .. ``stop - 1`` of group number ``group``, solved as ``size``
    problems (the last piece of a cut group is padded to the size of the others): the
    whole group or a piece of it."""

    group: int
    start: int
    stop: int
    size: int

    @property
    def K(self) -> int:
        return self.stop - self.start


def plan_chunks(groups: list[Group], solver: Solver, chunk_groups: int | None = None) -> list[list[Part]]:
    """The chunks of a sweep, each solved by one call of the solver and saved as one file.

    In lockstep (accelerators): whole groups, as many as fit memory (or ``chunk_groups``).
    In sequence (the CPU): ``chunk_groups`` whole groups (default one, each solved in its
    own padded shape, see :mod:`timbre_jax.core.reductions`), but a group of more problems
    than ``solver.problems_per_chunk`` holds is cut into pieces of one size
    (:func:`~timbre_jax.solvers.batch.cut`), one chunk each, so that a chunk takes seconds.
    The plan depends on the groups and the solver only, never on timing: a re-run finds the
    same chunk files."""
    if default_lockstep():
        if chunk_groups is None:
            p, n = max(g.D.shape[0] for g in groups), groups[0].D.shape[1]
            K = max(g.K for g in groups)
            chunk_groups = chunk_size(p, n, K, solver.per_problem_memory(p, n))
        return [[Part(i, 0, groups[i].K, groups[i].K) for i in range(c, min(c + chunk_groups, len(groups)))]
                for c in range(0, len(groups), chunk_groups)]
    chunk_groups = chunk_groups or 1
    chunks: list[list[Part]] = []
    whole: list[Part] = []  # whole groups waiting for a chunk
    for i, g in enumerate(groups):
        pieces = cut(g.K, solver.problems_per_chunk(*g.D.shape))
        if len(pieces) == 1:
            whole.append(Part(i, 0, g.K, g.K))
            if len(whole) == chunk_groups:
                chunks.append(whole)
                whole = []
            continue
        size = pieces[0][1] - pieces[0][0]
        chunks += [[Part(i, start, stop, size)] for start, stop in pieces]
    return chunks + ([whole] if whole else [])


def _arrays(results: list[Results]) -> dict[str, np.ndarray]:
    return {f"{i}_{k}": np.asarray(getattr(r, k), dtype=str if k == "messages" else None)
            for i, r in enumerate(results) for k in FIELDS}


def _results(arrays: dict[str, np.ndarray], count: int) -> list[Results]:
    return [Results(**{k: arrays[f"{i}_{k}"] for k in FIELDS}) for i in range(count)]


def _problems(groups: list[Group], part: Part, padded: bool = False) -> Group:
    """The problems of ``part`` as a group: the group itself when whole, else its piece
    (padded to ``part.size`` problems if ``padded``)."""
    g = groups[part.group]
    return g if part.K == g.K else piece(g, part.start, part.stop, part.size if padded else part.K)


def _key(solver: Solver, groups: list[Group], chunk: list[Part]) -> str:
    """The fingerprint of a chunk: a whole group by its name and arrays (as before groups
    were cut), a piece by its name and range and its own problems' arrays."""
    names, arrays = [], []
    for part in chunk:
        g = _problems(groups, part)
        names.append(g.name if g is groups[part.group] else f"{g.name}[{part.start}:{part.stop}]")
        arrays += [g.D, g.ratings, g.mask]
    return resume.fingerprint(solver.settings, names, arrays)


def _solved(solver: Solver, groups: list[Group], chunk: list[Part]) -> dict[str, np.ndarray]:
    """Solve one chunk, interruptibly: the arrays of its parts' own fits (padding dropped)."""
    results = interruptible.call(solver.solve, [_problems(groups, part, padded=True) for part in chunk])
    return _arrays([r.first(part.K) for r, part in zip(results, chunk)])


def solve(groups: list[Group], solver: Solver, *, chunk_groups: int | None = None, directory: Path | None = None,
          label: str = "fits", progress: bool = True) -> tuple[list[Results], int]:
    """Solve every problem of every group with ``solver``: one
    :class:`~timbre_jax.solvers.batch.Results` per group, chunks saved under ``directory`` if
    given, and the number of fits read back from there."""
    if not groups:
        return [], 0
    chunks = plan_chunks(groups, solver, chunk_groups)
    parts = [part for chunk in chunks for part in chunk]
    found: list[Results | None] = [None] * len(parts)
    starts = np.cumsum([0] + [len(chunk) for chunk in chunks])  # where each chunk's parts begin in ``parts``
    mine = [c for c in range(len(chunks)) if processes.owns(c)]  # all of them in one process
    total = sum(part.K for c in mine for part in chunks[c])
    solved, solving_time, read_back = 0, 0.0, 0
    with bar(progress, label, total=total) as advance:
        for c in mine:
            chunk = chunks[c]
            t0 = time.perf_counter()
            arrays, resumed = resume.cached(resume.path(directory, "chunk", _key(solver, groups, chunk)),
                                            lambda chunk=chunk: _solved(solver, groups, chunk))
            k = sum(part.K for part in chunk)
            if resumed:
                read_back += k
            else:
                solving_time += time.perf_counter() - t0
                solved += k
            found[starts[c]:starts[c + 1]] = _results(arrays, len(chunk))
            advance(k, rate=f"{solved / solving_time:.2f} fits/s" if solved else "resumed")
    found = processes.share([_problems(groups, part) for part in parts], found, solver.Status)
    results = [joined(g, [r for part, r in zip(parts, found) if part.group == i]) for i, g in enumerate(groups)]
    return results, read_back
