"""The processes of a sweep: one per host, joined by ``jax.distributed``.

Every process builds the same groups and chunks (:mod:`timbre_jax.fit.sweep`), solves the
chunks it owns (chunk c belongs to process c mod P) on its own devices, and then every
process gets every result with one ``process_allgather`` (:func:`share`, per part of a
group where a chunk holds a piece of one): the numbers are those of one process,
whatever P.  On the CPU the exchange goes through Gloo, which
:func:`initialize` switches on before joining.

Start P processes with the same command and, in each, either call :func:`initialize`
or set ``TIMBRE_JAX_COORDINATOR`` (host:port of process 0), ``TIMBRE_JAX_PROCESSES``
(P) and ``TIMBRE_JAX_PROCESS_ID`` (0 .. P - 1): the command line joins them itself.
Only process 0 writes the output files.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils

from timbre_jax.errors import UsageError
from timbre_jax.solvers.batch import Results, messages_of

ENVIRONMENT = ("TIMBRE_JAX_COORDINATOR", "TIMBRE_JAX_PROCESSES", "TIMBRE_JAX_PROCESS_ID")


def initialize(coordinator: str, processes: int, process_id: int) -> None:
    """Join ``processes`` processes (this one is ``process_id``) through the coordinator
    at ``coordinator`` ("host:port", served by process 0).  Call before any JAX
    computation."""
    if not 0 <= process_id < processes:
        raise UsageError(f"process id {process_id} is not in 0 .. {processes - 1}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes=processes, process_id=process_id)


def initialize_from_environment() -> bool:
    """:func:`initialize` from the ``TIMBRE_JAX_*`` variables when they are set; returns
    whether it joined."""
    values = [os.environ.get(name) for name in ENVIRONMENT]
    if not any(values):
        return False
    if not all(values):
        missing = ", ".join(name for name, v in zip(ENVIRONMENT, values) if not v)
        raise UsageError(f"to run as several processes set all of {', '.join(ENVIRONMENT)}; missing {missing}")
    try:
        processes, process_id = int(values[1]), int(values[2])
    except ValueError:
        raise UsageError(f"TIMBRE_JAX_PROCESSES and TIMBRE_JAX_PROCESS_ID must be integers, got {values[1]!r} "
                         f"and {values[2]!r}") from None
    initialize(values[0], processes, process_id)
    return True


def count() -> int:
    return jax.process_count()


def index() -> int:
    return jax.process_index()


def owns(chunk: int) -> bool:
    """Whether this process solves chunk number ``chunk``."""
    return chunk % count() == index()


_NUMBERS = ("pearson", "iterations", "status", "converged", "certified", "start", "degenerate_start")


def share(groups, results: list[Results | None], Status) -> list[Results]:
    """Every process's results for every group: ``results`` holds this process's (None
    for the groups of other processes); ``Status``: the solver's results enum, for the
    messages.  A collective: every process calls it with the same groups."""
    if count() == 1:
        return results  # type: ignore[return-value]
    n = groups[0].D.shape[1]
    sizes = [g.K * (n + g.D.shape[0] + len(_NUMBERS)) for g in groups]
    flat = np.zeros(sum(sizes))
    start = 0
    for r, size in zip(results, sizes):
        if r is not None:
            flat[start:start + size] = np.concatenate([np.ravel(r.weights), np.ravel(r.distances)]
                                                      + [np.asarray(getattr(r, f), float) for f in _NUMBERS])
        start += size
    flat = np.asarray(multihost_utils.process_allgather(flat)).sum(axis=0)  # one owner per slot: exact
    out, start = [], 0
    for g, size in zip(groups, sizes):
        K, p = g.K, g.D.shape[0]
        part = flat[start:start + size]
        start += size
        weights, distances = part[:K * n].reshape(K, n), part[K * n:K * (n + p)].reshape(K, p)
        numbers = part[K * (n + p):].reshape(len(_NUMBERS), K)
        fields = dict(zip(_NUMBERS, numbers))
        status = fields["status"].astype(np.int64)
        out.append(Results(weights, distances, fields["pearson"], fields["iterations"].astype(np.int64), status,
                           messages_of(status, Status), fields["converged"] > 0, fields["certified"] > 0,
                           fields["start"].astype(np.int64), fields["degenerate_start"] > 0))
    return out
