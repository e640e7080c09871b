"""The certified global optimum of the fit, as a solver (:mod:`timbre_jax.optim.exact_lockstep`).

:class:`Exact` has no start, no tolerance and no box to choose: its weights are the
optimum u* = w^-2 of a non-negative least squares with a free intercept, mapped into
[1, 1e15] (an unused feature at 1e15), and every fit is checked against the optimality
(KKT) conditions on every feature, which sets ``certified``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import numpy as np

from timbre_jax.errors import UsageError
from timbre_jax.optim import exact_host, exact_lockstep
from timbre_jax.solvers.batch import default_lockstep, over, pack, padded_pairs, require_float64, unpack
from timbre_jax.solvers.sharding import pad_to_devices, per_device, place
from timbre_jax.solvers.solver import Solver


@dataclass(frozen=True)
class Exact(Solver):
    """Lawson & Hanson's active set, certified on every feature.

    Two paths to the same optimum (equal up to rounding): ``lockstep`` True vmaps every
    problem in one compiled JAX program (:func:`timbre_jax.optim.exact_lockstep.solve`, working sets and
    an updated QR: the accelerator path); False solves each group on the host in NumPy
    (:func:`timbre_jax.optim.exact_host.solve_group`, the products of a group shared, no
    compilation: the CPU path); None, the default, means lockstep on accelerators only.

    working_set: columns per active-set run (lockstep only); max_passes: full-gradient
    passes; max_steps: columns entered (None: 3 n)."""

    name = "exact"
    Status = exact_lockstep.Status

    working_set: int = 1024
    max_passes: int = 100
    max_steps: int | None = None
    lockstep: bool | None = None

    def __post_init__(self):
        for option in ("working_set", "max_passes", "max_steps"):
            value = getattr(self, option)
            if value is not None and int(value) < 1:
                raise UsageError(f"{option} must be at least 1, got {value}")

    def per_problem_memory(self, p: int, n: int) -> float:
        return 60 * n + 10 * p  # an upper estimate: the active set's state is (p, working set)

    def solve(self, batch) -> list:
        require_float64()
        groups = list(batch)
        lockstep = default_lockstep() if self.lockstep is None else bool(self.lockstep)
        if not lockstep:
            return self._solve_host(groups)
        # Not chaotic (the optimum does not hang on the last bits of a sum): every group
        # shares the largest shape, at least exact_lockstep.MIN_PAIRS pairs: one compilation.
        D, s, m, _ = pack(groups, max(padded_pairs(max(g.D.shape[0] for g in groups)), exact_lockstep.MIN_PAIRS))
        options = dict(working_set=self.working_set, max_passes=self.max_passes, max_steps=self.max_steps)
        arrays, _ = pad_to_devices(D, s, m)
        out = [np.asarray(o)[:len(groups)] for o in _solve_lockstep(*place(*arrays), **options)]
        certified = np.ones(out[3].shape, dtype=bool)  # where converged: every end but the iteration limit
        return unpack(groups, *out, exact_lockstep.Status, certified=certified)

    def _solve_host(self, groups) -> list:
        """Each group on the host, its outputs padded to the shapes of :func:`unpack`."""
        G, K, n = len(groups), max(g.K for g in groups), groups[0].D.shape[1]
        out = [np.ones((G, K, n)), np.zeros((G, K)), np.zeros((G, K), np.int64), np.zeros((G, K), np.int64)]
        for i, g in enumerate(groups):
            sol = exact_host.solve_group(g.D, g.ratings, g.mask, max_passes=self.max_passes,
                                         max_steps=self.max_steps)
            for o, value in zip(out, (exact_lockstep.weights(sol.u), sol.pearson, sol.iterations, sol.status)):
                o[i, :g.K] = value
        return unpack(groups, *out, exact_lockstep.Status, certified=np.ones((G, K), dtype=bool))


@partial(jax.jit, static_argnames=("working_set", "max_passes", "max_steps"))
def _solve_lockstep(D, s, mask, *, working_set: int, max_passes: int, max_steps: int | None):
    """Every problem of D (G, p, n), s and mask (G, K, p), vmapped; returns weights
    (G, K, n), pearson, iterations, status (G, K)."""

    def local(D, s, mask):
        def one(Dg, sk, mk):
            sol = exact_lockstep.solve(Dg, sk, mk, working_set=working_set, max_passes=max_passes,
                                       max_steps=max_steps)
            return exact_lockstep.weights(sol.u), sol.pearson, sol.iterations, sol.status

        return over(lambda Dg, sg, mg: over(one, (Dg, sg, mg), True, (None, 0, 0)), (D, s, mask), True, (0, 0, 0))

    return per_device(local, D, s, mask)
