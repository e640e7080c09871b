"""The solver: :class:`LBFGSB` (``init``, ``update`` and ``run``, the reference's
``mainlb``), whose state is :class:`~timbre_jax.optim.lbfgsb.state.LBFGSBState`; one
iteration is the search direction (generalized Cauchy point, then subspace
minimization), the line search, the stopping tests and the correction pair that updates
the memory."""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
from jax import Array, lax

from timbre_jax.core.reductions import EPS, Sums
from timbre_jax.optim.lbfgsb.cauchy import CauchyPoint, generalized_cauchy_point
from timbre_jax.optim.lbfgsb.memory import Memory, empty_memory, next_memory
from timbre_jax.optim.lbfgsb.more_thuente import LineSearchResult, line_search
from timbre_jax.optim.lbfgsb.options import DEFAULT_OPTIONS, LBFGSBOptions, Status
from timbre_jax.optim.lbfgsb.state import LBFGSBState
from timbre_jax.optim.lbfgsb.subspace import subspace_minimization
from timbre_jax.optim.lbfgsb.tracing import select


def projected_gradient_norm(x: Array, g: Array, lower: Array, upper: Array) -> Array:
    """Inf-norm of the projected gradient (``projgr``): (n,) x4 -> scalar.

    A component pushing against an active bound counts only as far as the bound.
    """
    pg = jnp.where(g < 0, jnp.maximum(x - upper, g), jnp.minimum(x - lower, g))
    norm = jnp.max(jnp.abs(pg))
    # NaN in g must not look like convergence (projgr propagates it).
    return jnp.where(jnp.any(jnp.isnan(g)), jnp.nan, norm)


def search_direction(x: Array, g: Array, lower: Array, upper: Array, mem: Memory, sums: Sums):
    """The point z the line search heads for: GCP, then subspace minimization.

    Without bounds and with memory the GCP is x itself with every variable free (as the
    reference skips ``cauchy``); without memory or free variables, z is the GCP.
    Returns z (n,) and whether the subspace factorization was sound.
    """
    constrained = jnp.any(jnp.isfinite(lower) | jnp.isfinite(upper))
    cp = generalized_cauchy_point(x, g, lower, upper, mem, sums)
    use_cp = constrained | (mem.count == 0)
    cp = CauchyPoint(
        jnp.where(use_cp, cp.xcp, x), jnp.where(use_cp, cp.c, 0.0), jnp.where(use_cp, cp.free, True)
    )
    z_sub, sub_ok = subspace_minimization(x, g, cp, lower, upper, mem, sums)
    do_sub = (mem.count > 0) & jnp.any(cp.free)
    return jnp.where(do_sub, z_sub, cp.xcp), ~do_sub | sub_ok


def correction_pair(x: Array, g: Array, z: Array, ls: LineSearchResult, sums: Sums):
    """s = stp d, y = g_new - g, and s^T y, s^T s as the reference forms them (``mainlb``):
    s^T y = stp (g_new^T d - g^T d), s^T s = stp^2 |d|^2, with d = z - x."""
    d = z - x
    return ls.stp * d, ls.g - g, ls.stp * (ls.slope - sums.vdot(g, d)), ls.stp**2 * sums.vdot(d, d)


def _as_bounds(lower, upper, x):
    lower = jnp.broadcast_to(jnp.asarray(lower, x.dtype), x.shape)
    upper = jnp.broadcast_to(jnp.asarray(upper, x.dtype), x.shape)
    return lower, upper


class LBFGSB:
    """L-BFGS-B minimizer of ``fun_and_grad`` under bounds ``lower <= x <= upper``.

    ``fun_and_grad(x, *args) -> (f, g)``: the objective to minimize and its gradient,
    x and g of shape (n,), f a scalar.  ``*args`` are passed through unchanged, so a
    batch of problems is solved by ``jax.vmap(solver.run)(x0, lower, upper, *data)``.
    Bounds may be -inf / +inf (no bound) and scalars or (n,) arrays.  ``options``: an
    :class:`LBFGSBOptions` (its defaults run to stagnation, with plain sums).
    """

    def __init__(self, fun_and_grad: Callable, options: LBFGSBOptions = DEFAULT_OPTIONS):
        self.fun_and_grad = fun_and_grad
        self.options = options
        self.sums = options.sums

    def init(self, x0: Array, lower, upper, *args) -> LBFGSBState:
        """Project x0 (n,) onto the box, evaluate it, empty memory."""
        x0 = jnp.asarray(x0, jnp.float64)
        lower, upper = _as_bounds(lower, upper, x0)
        x = jnp.minimum(upper, jnp.maximum(lower, x0))
        f, g = self.fun_and_grad(x, *args)
        pg = projected_gradient_norm(x, g, lower, upper)
        return LBFGSBState(
            x=x,
            f=jnp.asarray(f, x.dtype),
            g=g,
            iteration=jnp.array(0, jnp.int32),
            n_fev=jnp.array(1, jnp.int32),
            status=jnp.where(pg <= self.options.gtol, Status.CONVERGED_PGTOL, Status.RUNNING).astype(jnp.int32),
            proj_grad_norm=pg,
            memory=empty_memory(x.shape[0], self.options.history, x.dtype),
        )

    def update(self, state: LBFGSBState, lower, upper, *args) -> LBFGSBState:
        """One L-BFGS-B iteration: GCP, subspace step, line search, tests, memory.

        When the line search or a factorization fails with a non-empty memory, the
        memory is emptied and the iterate kept (the next call retries from it with
        steepest descent, as the reference does); this attempt does not count as an
        iteration.  A state whose status is not RUNNING is returned unchanged, without
        evaluating the objective.
        """
        return select(state.status == Status.RUNNING, self._step(state, lower, upper, *args), state)

    def _step(self, state: LBFGSBState, lower, upper, *args) -> LBFGSBState:
        """:meth:`update` without its final select, for :meth:`run`, whose loop steps only
        running states (under ``vmap`` its batching rule selects): selecting between the
        old and the new memory kept the old S and Y alive past their in-place update,
        which cost a copy of each per iteration."""
        opts, sums = self.options, self.sums
        x, g, f, mem = state.x, state.g, state.f, state.memory
        lower, upper = _as_bounds(lower, upper, x)
        running = state.status == Status.RUNNING

        z, direction_ok = search_direction(x, g, lower, upper, mem, sums)
        ls = line_search(self.fun_and_grad, args, state, z, lower, upper, direction_ok & running,
                         maxls=opts.maxls, sums=sums)

        has_memory = mem.count > 0
        # A step without any decrease means the quasi-Newton direction is spent; with
        # memory, treat it as a line-search failure (retry by steepest descent).
        stagnant = ls.ok & (ls.f >= f) & has_memory & opts.restart_on_stagnation
        failed = ~ls.ok | stagnant
        ls = select(stagnant, ls._replace(x=x, f=f, g=g), ls)
        iteration = state.iteration + jnp.where(failed, 0, 1)
        pg = projected_gradient_norm(ls.x, ls.g, lower, upper)
        status = self._stopping_status(iteration, pg, f, ls.f)
        status = jnp.where(failed, jnp.where(has_memory, Status.RUNNING, Status.ABNORMAL_LINE_SEARCH), status)

        s, y, sy, ss = correction_pair(x, g, z, ls, sums)
        curvature = sy > EPS * (-sums.vdot(g, z - x) * ls.stp)  # else skip the update
        keep_pair = ~failed & (status == Status.RUNNING) & curvature
        mem = next_memory(mem, keep_pair, failed & has_memory, s, y, sy, ss, sums)

        return LBFGSBState(
            x=ls.x,
            f=ls.f,
            g=ls.g,
            iteration=iteration,
            n_fev=state.n_fev + ls.n_fev,
            status=status.astype(jnp.int32),
            proj_grad_norm=jnp.where(failed, state.proj_grad_norm, pg),
            memory=mem,
        )

    def _stopping_status(self, iteration, pg, f_prev, f):
        """scipy's tests after an accepted step, in its order (iteration limit first)."""
        opts = self.options
        f_scale = jnp.maximum(jnp.maximum(jnp.abs(f_prev), jnp.abs(f)), 1.0)
        status = jnp.where(f_prev - f <= opts.ftol * f_scale, Status.CONVERGED_FTOL, Status.RUNNING)
        status = jnp.where(pg <= opts.gtol, Status.CONVERGED_PGTOL, status)
        return jnp.where(iteration >= opts.maxiter, Status.MAX_ITERATIONS, status)

    def run(self, x0: Array, lower, upper, *args) -> LBFGSBState:
        """Iterate from x0 (n,) until a stopping test holds; jit- and vmap-able."""
        state = self.init(x0, lower, upper, *args)
        return lax.while_loop(
            lambda s: s.status == Status.RUNNING,
            lambda s: self._step(s, lower, upper, *args),
            state,
        )
