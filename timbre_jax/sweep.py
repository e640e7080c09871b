"""Chunked, resumable batched solving of many problems that share pair-difference matrices.

The robustness sweep, the permutation null and cross-validation all fit, for each
dataset, ``K`` problems on the *same* ``D`` that differ only in their ratings or mask.
A :class:`Group` holds one such dataset; :func:`solve` packs groups into chunks that fit
memory, solves each chunk with one compiled :func:`timbre_jax.learn.solve_grouped` call,
and (given a directory) persists every chunk atomically, so an interrupted run resumes
where it stopped and ends with the same files.

Per problem it returns the learned squared distances of *every* pair ``d = D w^-2``
(p <= 190 numbers, from which callers score any ratings), the Pearson correlation with
the fitted ratings, the iteration count and the solver status.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .errors import UsageError
from .learn import (
    FitOptions,
    chunk_size,
    default_lockstep,
    fit_options,
    host_nnls_start,
    require_float64,
    solve_packed,
)
from .progress import bar
from .store import atomic_write_bytes


@dataclass(frozen=True)
class Group:
    """K problems on one dataset: D (p, n); ratings and mask (K, p)."""

    name: str
    D: np.ndarray
    ratings: np.ndarray
    mask: np.ndarray

    @property
    def K(self) -> int:
        return self.ratings.shape[0]


@dataclass(frozen=True)
class GroupResult:
    distances: np.ndarray   # (K, p) learned d = D w^-2 for every pair
    pearson: np.ndarray     # (K,) P with the fitted ratings over the fitted mask
    iterations: np.ndarray  # (K,)
    status: np.ndarray      # (K,)


@jax.jit
def _distances(D, weights):
    return jnp.einsum("gpn,gkn->gkp", D, weights ** -2.0)


def _solve_chunk(groups: list[Group], options: FitOptions, solver: str) -> list[GroupResult]:
    starts = None
    if solver == "lbfgsb" and not default_lockstep():  # sequence mode starts from scipy's NNLS
        starts = [np.stack([host_nnls_start(g.D[mk > 0], y[mk > 0], options) for y, mk in zip(g.ratings, g.mask)])
                  for g in groups]
    D, weights, pearson, iterations, status = solve_packed([(g.D, g.ratings, g.mask) for g in groups], starts,
                                                           options, default_lockstep(), solver)
    d = np.asarray(_distances(D, weights))
    return [GroupResult(d[i, :g.K, :g.D.shape[0]], pearson[i, :g.K], iterations[i, :g.K], status[i, :g.K])
            for i, g in enumerate(groups)]


def fingerprint(groups: list[Group], options: FitOptions, solver: str = "lbfgsb") -> str:
    """Hash of everything that determines the results (the solver, every field of the
    options, the groups' data): a resumed run must match it."""
    h = hashlib.sha256(json.dumps({"solver": solver, **asdict(options)}, sort_keys=True).encode())
    for g in groups:
        h.update(g.name.encode())
        for a in (g.D, g.ratings, g.mask):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def plan_chunks(groups: list[Group], chunk_groups: int | None, history: int) -> list[list[int]]:
    """Groups per chunk: as many as fit memory in lockstep; one otherwise, so that each
    group is solved in its own padded shape (plain sums, see :mod:`timbre_jax.reductions`)
    and the progress bar moves once per dataset.  ``history``: the solver's memory, for
    :func:`timbre_jax.learn.chunk_size`."""
    if chunk_groups is None and not default_lockstep():
        chunk_groups = 1
    if chunk_groups is None:
        p = max(g.D.shape[0] for g in groups)
        chunk_groups = chunk_size(p, groups[0].D.shape[1], max(g.K for g in groups), history=history)
    return [list(range(i, min(i + chunk_groups, len(groups)))) for i in range(0, len(groups), chunk_groups)]


def _save(path: Path, results: list[GroupResult]) -> None:
    arrays = {}
    for i, r in enumerate(results):
        for k in ("distances", "pearson", "iterations", "status"):
            arrays[f"{i}_{k}"] = getattr(r, k)
    atomic_write_bytes(path, lambda fh: np.savez(fh, **arrays))


def _load(path: Path, count: int) -> list[GroupResult]:
    with np.load(path, allow_pickle=False) as z:
        return [GroupResult(*(z[f"{i}_{k}"] for k in ("distances", "pearson", "iterations", "status")))
                for i in range(count)]


def solve(groups: list[Group], *, maxiter: int | None = None, chunk_groups: int | None = None,
          directory: Path | None = None, label: str = "fits", progress: bool = True,
          solver: str = "lbfgsb", options: FitOptions | None = None) -> list[GroupResult]:
    """Solve every problem of every group; chunks persisted under ``directory`` if given.

    ``solver``: ``"lbfgsb"`` (the paper's) or ``"exact"`` (the certified optimum; its
    status codes are those of :mod:`timbre_jax.exact`).  ``options``: the fit's
    :class:`~timbre_jax.learn.FitOptions` (default the paper's), ``maxiter`` if given
    replacing its iteration limit (:func:`timbre_jax.learn.fit_options`).

    On resume the chunk plan is read back from ``directory/plan.json`` (so a run resumed
    on another machine splits the work identically and produces identical numbers).
    """
    require_float64()
    if not groups:
        return []
    options = fit_options(options, maxiter)
    key = fingerprint(groups, options, solver)
    chunks = plan_chunks(groups, chunk_groups, options.history)
    if directory is not None:
        directory = Path(directory)
        plan_file = directory / "plan.json"
        if plan_file.exists():
            plan = json.loads(plan_file.read_text())
            if plan["fingerprint"] != key:
                raise UsageError(f"{directory} holds chunks of a different run (other data, seed or settings); "
                                 "use a new --out directory or delete it")
            chunks = plan["chunks"]
        else:
            plan = {"fingerprint": key, "chunks": chunks}
            atomic_write_bytes(plan_file, lambda fh: fh.write(json.dumps(plan).encode()))
    results: list[GroupResult | None] = [None] * len(groups)
    total = sum(groups[i].K for c in chunks for i in c)
    solved, solving_time = 0, 0.0
    with bar(progress, label, total=total) as advance:
        for c, members in enumerate(chunks):
            path = directory / f"chunk_{c:04d}.npz" if directory is not None else None
            todo = [groups[i] for i in members]
            k = sum(g.K for g in todo)
            if path is not None and path.exists():
                out = _load(path, len(members))
            else:
                t0 = time.perf_counter()
                out = _solve_chunk(todo, options, solver)
                solving_time += time.perf_counter() - t0
                solved += k
                if path is not None:
                    _save(path, out)
            for i, r in zip(members, out):
                results[i] = r
            advance(k, rate=f"{solved / solving_time:.2f} fits/s" if solved else "resumed")
    return results  # type: ignore[return-value]
