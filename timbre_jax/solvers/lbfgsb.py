"""The paper's fit: L-BFGS-B on -P(d_w^2, s) from the NNLS warm start.

:class:`Lbfgsb` holds every option of the fit and solves batches of groups
(:mod:`timbre_jax.solvers.batch`) with the pure-JAX L-BFGS-B of :mod:`timbre_jax.optim.lbfgsb`.  Two
ways to run a batch, chosen by ``lockstep``:

- *lockstep* (``vmap``, the default on accelerators): every problem advances together;
  sums are fixed trees, so a problem rounds the same alone or in any batch, and padding
  is harmless: one compiled call per batch.
- *sequence* (``lax.map``, the default on the CPU): one problem after the other in the
  same compiled call; sums are plain, so each problem keeps the shape it has when solved
  alone (groups are solved per padded pair count), and the NNLS start comes from
  ``scipy.optimize.nnls`` on the host.

The two differ only in the rounding of fused reductions (last bits; about 1e-10 in P
after hundreds of iterations).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from timbre_jax.core.pearson import pearson_and_grad, standardize_ratings
from timbre_jax.errors import UsageError
from timbre_jax.optim.lbfgsb import LBFGSB, LBFGSBOptions, Status
from timbre_jax.optim.nnls import warm_start
from timbre_jax.optim.starts import degenerate_start, extra_starts, host_nnls_start, nnls_start, random_start
from timbre_jax.solvers.batch import Group, default_lockstep, over, pack, padded_pairs, require_float64, unpack
from timbre_jax.solvers.sharding import pad_to_devices, per_device, place
from timbre_jax.solvers.solver import Solver


@dataclass(frozen=True)
class Lbfgsb(Solver):
    """L-BFGS-B, the paper's settings by default (scipy's names in brackets).

    maxiter: iteration limit per fit; maxls: objective evaluations per line search;
    memory: stored correction pairs [maxcor]; ftol, gtol: relative decrease of f and
    projected-gradient tolerances [ftol, pgtol] (1e-36: run to stagnation, as the paper
    does); bounds: the box (lower, upper) of the weights; restart_on_stagnation: see
    :mod:`timbre_jax.optim.lbfgsb` (False stops where scipy stops); invariant_sums: fixed-tree
    sums (True), plain ones (False), or None, the default: trees exactly in lockstep;
    lockstep: vmap the problems (True) or solve them in sequence (False); None, the
    default, means lockstep on accelerators only (:func:`timbre_jax.solvers.batch.default_lockstep`);
    init: ``"nnls"`` (the paper's warm start) or ``"random"`` (Thoret et al. 2021, seeded
    by ``seed`` + problem index); starts: also solve from ``starts - 1`` log-normal
    perturbations of the first start (seeded by (seed, problem index)) and keep the fit
    with the highest P on the fitted ratings (:func:`timbre_jax.optim.starts.extra_starts`).
    """

    name = "lbfgsb"
    Status = Status

    maxiter: int = 10_000
    maxls: int = 50
    memory: int = 10
    ftol: float = 1e-36
    gtol: float = 1e-36
    bounds: tuple[float, float] = (1.0, 1e15)
    restart_on_stagnation: bool = True
    invariant_sums: bool | None = None
    lockstep: bool | None = None
    init: str = "nnls"
    seed: int = 0
    starts: int = 1

    def __post_init__(self):
        for option in ("maxiter", "maxls", "memory", "starts"):
            if int(getattr(self, option)) < 1:
                raise UsageError(f"{option} must be at least 1, got {getattr(self, option)}")
        lower, upper = self.bounds
        if not 0 < lower <= upper:
            raise UsageError(f"the weights' bounds must satisfy 0 < lower <= upper; got [{lower}, {upper}]")
        object.__setattr__(self, "bounds", (float(lower), float(upper)))
        if self.init not in ("nnls", "random"):
            raise UsageError(f"init must be 'nnls' or 'random', got {self.init!r}")

    @property
    def in_lockstep(self) -> bool:
        return default_lockstep() if self.lockstep is None else bool(self.lockstep)

    def options(self, lockstep: bool) -> LBFGSBOptions:
        """The options of the L-BFGS-B iteration, its sums resolved for ``lockstep``."""
        sums = lockstep if self.invariant_sums is None else self.invariant_sums
        return LBFGSBOptions(maxiter=self.maxiter, maxls=self.maxls, history=self.memory, ftol=self.ftol,
                             gtol=self.gtol, restart_on_stagnation=self.restart_on_stagnation, invariant_sums=sums)

    def per_problem_memory(self, p: int, n: int) -> float:
        return (2 * self.memory + 40) * n + p * self.memory

    def problems_per_chunk(self, p: int, n: int) -> int | None:
        # An iteration costs about (padded pairs) x n; on a 2-core CPU a fit of 128 pairs
        # and 128 features takes 0.05 to 1.3 s (Table I), so 8 of them a few seconds.
        return max(1, min(8, 2 ** 17 // (padded_pairs(p) * n)))

    # ------------------------------------------------------------------ solve

    def solve(self, batch) -> list:
        require_float64()
        groups = list(batch)
        lockstep = self.in_lockstep
        lower, upper = self.bounds
        rated = [[(g.D[m > 0], y[m > 0]) for y, m in zip(g.ratings, g.mask)] for g in groups]
        first = None
        if self.init == "random":
            first, q = [], 0
            for g in groups:
                first.append(np.stack([random_start(g.D.shape[1], self.seed + q + g.offset + k, lower, upper)
                                       for k in range(g.K)]))
                q += g.K
        elif not lockstep:
            first = [np.stack([host_nnls_start(Dk, yk, lower, upper) for Dk, yk in r]) for r in rated]
        results = self._bucketed(groups, first, lockstep)
        if self.init == "nnls":
            for res, r in zip(results, rated):
                res.degenerate_start[:] = [degenerate_start(Dk, yk) for Dk, yk in r]
        if self.starts > 1:
            self._keep_best_of_starts(groups, rated, first, results, lockstep)
        return results

    def _keep_best_of_starts(self, groups, rated, first, results, lockstep) -> None:
        """Solve every problem from ``starts - 1`` more starts; keep the best fit in
        ``results`` (in place).  Each extra start is a group of its own."""
        lower, upper = self.bounds
        problems = [(i, k) for i, g in enumerate(groups) for k in range(g.K)]
        which, extra_groups, extra_w0 = [], [], []
        for q, (i, k) in enumerate(problems):
            g = groups[i]
            # Without a host start, the NNLS start is computed again here (cheap next to
            # the fits) so that start 0 stays the very call that starts=1 makes.
            w0 = first[i][k] if first is not None else np.asarray(nnls_start(*rated[i][k], lower, upper))
            for j, w in enumerate(extra_starts(w0, self.starts - 1, (self.seed, q + g.offset), lower, upper), 1):
                which.append((i, k, j))
                extra_groups.append(Group(g.D, g.ratings[k:k + 1], g.mask[k:k + 1], g.name))
                extra_w0.append(w[None])
        tried = self._bucketed(extra_groups, extra_w0, lockstep)
        for (i, k, j), r in zip(which, tried):
            best = results[i]
            if np.isfinite(r.pearson[0]) and r.pearson[0] > best.pearson[k]:
                for name in ("weights", "distances", "pearson", "iterations", "status", "messages", "converged",
                             "certified"):
                    getattr(best, name)[k] = getattr(r, name)[0]
                best.start[k] = j

    def _bucketed(self, groups, first, lockstep: bool) -> list:
        """:meth:`_solve_packed` over groups of any sizes: in lockstep one call; in sequence
        one call per padded pair count, so that each problem keeps its own shape."""
        key = (lambda g: 0) if lockstep else (lambda g: padded_pairs(g.D.shape[0]))
        results = [None] * len(groups)
        for bucket in sorted({key(g) for g in groups}):
            members = [i for i, g in enumerate(groups) if key(g) == bucket]
            out = self._solve_packed([groups[i] for i in members], None if first is None else
                                     [first[i] for i in members], lockstep)
            for i, r in zip(members, out):
                results[i] = r
        return results

    def _solve_packed(self, groups, first, lockstep: bool) -> list:
        D, s, m, w0 = pack(groups, padded_pairs(max(g.D.shape[0] for g in groups)), first)
        arrays, _ = pad_to_devices(*([D, s, m] if w0 is None else [D, s, m, w0]))
        out = solve_padded(*place(*arrays), options=self.options(lockstep), bounds=self.bounds,
                           init="nnls" if w0 is None else "given", lockstep=lockstep)
        G = len(groups)
        return unpack(groups, *(np.asarray(o)[:G] for o in out), Status)


def objective(w, D, s_hat, mask, sums):
    """The fit's objective and its gradient, -P(d_w^2, s_hat) and -dP/dw: (n,), D (p, n),
    s_hat and mask (p,) -> (), (n,)."""
    P, g = pearson_and_grad(D, w, s_hat, mask, sums)
    return -P, -g


@partial(jax.jit, static_argnames=("options", "bounds", "init", "lockstep"))
def solve_padded(D, s, mask, w0=None, *, options: LBFGSBOptions, bounds: tuple[float, float], init: str = "nnls",
                 lockstep: bool = True):
    """Fit G x K padded problems with L-BFGS-B; D (G, p, n) shared within a group, s and
    mask (G, K, p), w0 (G, K, n) the starts when ``init="given"`` (else the NNLS warm
    start is computed on each problem's own ratings, in the batch).

    ``options`` (static) sets the iteration and its sums; ``bounds`` the box; ``lockstep``
    vmaps the problems, else they run one after the other.  With several devices the G
    axis is split over them (G a multiple of the device count, see
    :func:`timbre_jax.solvers.sharding.pad_to_devices`), each device solving its own groups.
    Returns weights (G, K, n), pearson, iterations, status (G, K)."""
    local = partial(_solve_local, options=options, bounds=bounds, init=init, lockstep=lockstep)
    args = (D, s, mask) if w0 is None else (D, s, mask, w0)
    return per_device(local, *args)


def _solve_local(D, s, mask, w0=None, *, options: LBFGSBOptions, bounds, init: str, lockstep: bool):
    """:func:`solve_padded` on the groups held by one device."""
    sums = options.sums
    minimizer = LBFGSB(partial(objective, sums=sums), options)
    lower = jnp.full(D.shape[-1], bounds[0])
    upper = jnp.full(D.shape[-1], bounds[1])

    def one(Dg, sk, mk, wk):
        if init == "nnls":
            wk = warm_start(Dg, sk, mk, sums=sums)  # LBFGSB.run projects it into the bounds
        s_hat = standardize_ratings(sk, mk, sums)
        state = minimizer.run(wk, lower, upper, Dg, s_hat, mk)
        return state.x, -state.f, state.iteration, state.status

    batched = None if w0 is None else 0  # the NNLS start needs no w0 array at all

    def group(Dg, sg, mg, wg):
        return over(one, (Dg, sg, mg, wg), lockstep, in_axes=(None, 0, 0, batched))

    return over(group, (D, s, mask, w0), lockstep, in_axes=(0, 0, 0, batched))
