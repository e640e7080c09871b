"""The line search (``lnsrlb`` + MINPACK-2's ``dcsrch`` / ``dcstep``): More & Thuente's
safeguarded search for a step satisfying the strong Wolfe conditions (ftol=1e-3,
gtol=0.9, xtol=0.1) along the direction to the subspace minimizer, inside the box and
up to the maximum step the bounds allow."""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
from jax import Array, lax

from timbre_jax.core.reductions import Sums
from timbre_jax.optim.lbfgsb.state import LBFGSBState
from timbre_jax.optim.lbfgsb.tracing import select

# More-Thuente constants of lnsrlb.
LS_FTOL, LS_GTOL, LS_XTOL = 1e-3, 0.9, 0.1
STPMAX_UNCONSTRAINED = 1e10

# Line-search task codes.
_FG, _CONVERGED, _WARNING, _ERROR = 0, 1, 2, 3


class _SearchState(NamedTuple):
    """dcsrch's saved variables plus the current trial step and task."""

    stp: Array
    task: Array
    brackt: Array
    stage: Array
    finit: Array
    ginit: Array
    gtest: Array
    stx: Array
    fx: Array
    gx: Array
    sty: Array
    fy: Array
    gy: Array
    stmin: Array
    stmax: Array
    width: Array
    width1: Array


def _cubic_gamma(theta, s, da, db, clamp):
    q = (theta / s) ** 2 - (da / s) * (db / s)
    return s * jnp.sqrt(jnp.maximum(0.0, q) if clamp else q)


def dcstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """One safeguarded step of More & Thuente (MINPACK-2 ``dcstep``), all scalars.

    Returns (stx, fx, dx, sty, fy, dy, stp, brackt): the updated interval of
    uncertainty and the new trial step.  The four cases are computed and selected.
    """
    sgnd = dp * (dx / jnp.abs(dx))
    span = stp - stx

    # Case 1: higher function value; the minimum is bracketed.
    theta = 3.0 * (fx - fp) / span + dx + dp
    s = jnp.maximum(jnp.abs(theta), jnp.maximum(jnp.abs(dx), jnp.abs(dp)))
    gamma = _cubic_gamma(theta, s, dx, dp, clamp=False)
    gamma = jnp.where(stp < stx, -gamma, gamma)
    r = ((gamma - dx) + theta) / (((gamma - dx) + gamma) + dp)
    stpc = stx + r * span
    stpq = stx + ((dx / ((fx - fp) / span + dx)) / 2.0) * span
    f_case1 = jnp.where(
        jnp.abs(stpc - stx) < jnp.abs(stpq - stx), stpc, stpc + (stpq - stpc) / 2.0
    )

    # Case 2: lower value, derivatives of opposite sign; bracketed.
    gamma = _cubic_gamma(theta, s, dx, dp, clamp=False)
    gamma = jnp.where(stp > stx, -gamma, gamma)
    r = ((gamma - dp) + theta) / (((gamma - dp) + gamma) + dx)
    stpc = stp + r * (stx - stp)
    stpq = stp + (dp / (dp - dx)) * (stx - stp)
    f_case2 = jnp.where(jnp.abs(stpc - stp) > jnp.abs(stpq - stp), stpc, stpq)

    # Case 3: lower value, same sign, derivative magnitude decreases.
    gamma = _cubic_gamma(theta, s, dx, dp, clamp=True)
    gamma = jnp.where(stp > stx, -gamma, gamma)
    r = ((gamma - dp) + theta) / ((gamma + (dx - dp)) + gamma)
    stpc = jnp.where(
        (r < 0.0) & (gamma != 0.0),
        stp + r * (stx - stp),
        jnp.where(stp > stx, stpmax, stpmin),
    )
    stpq = stp + (dp / (dp - dx)) * (stx - stp)
    closer = jnp.where(jnp.abs(stpc - stp) < jnp.abs(stpq - stp), stpc, stpq)
    limit = stp + 0.66 * (sty - stp)
    f_br = jnp.where(stp > stx, jnp.minimum(limit, closer), jnp.maximum(limit, closer))
    farther = jnp.where(jnp.abs(stpc - stp) > jnp.abs(stpq - stp), stpc, stpq)
    f_nbr = jnp.maximum(stpmin, jnp.minimum(stpmax, farther))
    f_case3 = jnp.where(brackt, f_br, f_nbr)

    # Case 4: lower value, same sign, derivative does not decrease.
    theta4 = 3.0 * (fp - fy) / (sty - stp) + dy + dp
    s4 = jnp.maximum(jnp.abs(theta4), jnp.maximum(jnp.abs(dy), jnp.abs(dp)))
    gamma = _cubic_gamma(theta4, s4, dy, dp, clamp=False)
    gamma = jnp.where(stp > sty, -gamma, gamma)
    r = ((gamma - dp) + theta4) / (((gamma - dp) + gamma) + dy)
    f_case4 = jnp.where(
        brackt, stp + r * (sty - stp), jnp.where(stp > stx, stpmax, stpmin)
    )

    case1 = fp > fx
    case2 = ~case1 & (sgnd < 0.0)
    case3 = ~case1 & ~case2 & (jnp.abs(dp) < jnp.abs(dx))
    stpf = jnp.where(
        case1, f_case1, jnp.where(case2, f_case2, jnp.where(case3, f_case3, f_case4))
    )
    brackt = brackt | case1 | case2

    # Update the interval that contains a minimizer.
    new_sty = jnp.where(case1, stp, jnp.where(sgnd < 0.0, stx, sty))
    new_fy = jnp.where(case1, fp, jnp.where(sgnd < 0.0, fx, fy))
    new_dy = jnp.where(case1, dp, jnp.where(sgnd < 0.0, dx, dy))
    new_stx = jnp.where(case1, stx, stp)
    new_fx = jnp.where(case1, fx, fp)
    new_dx = jnp.where(case1, dx, dp)
    return new_stx, new_fx, new_dx, new_sty, new_fy, new_dy, stpf, brackt


def _dcsrch_start(stp, f0, g0, stpmax, ok) -> _SearchState:
    """dcsrch's initialization (task 'START'); ``ok`` False marks the search impossible."""
    zero = jnp.zeros_like(f0)
    return _SearchState(
        stp=stp,
        task=jnp.where(ok, _FG, _ERROR).astype(jnp.int32),
        brackt=jnp.array(False),
        stage=jnp.array(1, jnp.int32),
        finit=f0,
        ginit=g0,
        gtest=LS_FTOL * g0,
        stx=zero,
        fx=f0,
        gx=g0,
        sty=zero,
        fy=f0,
        gy=g0,
        stmin=zero,
        stmax=stp + 4.0 * stp,
        width=stpmax,
        width1=stpmax / 0.5,
    )


def _dcsrch_step(ls: _SearchState, f, g, stpmax) -> _SearchState:
    """dcsrch given f and its slope g at ls.stp: converge, warn, or propose a new step."""
    stpmin = 0.0
    stp = ls.stp
    ftest = ls.finit + stp * ls.gtest
    stage = jnp.where((ls.stage == 1) & (f <= ftest) & (g >= 0.0), 2, ls.stage)

    warn = (
        (ls.brackt & ((stp <= ls.stmin) | (stp >= ls.stmax)))
        | (ls.brackt & (ls.stmax - ls.stmin <= LS_XTOL * ls.stmax))
        | ((stp == stpmax) & (f <= ftest) & (g <= ls.gtest))
        | ((stp == stpmin) & ((f > ftest) | (g >= ls.gtest)))
    )
    conv = (f <= ftest) & (jnp.abs(g) <= LS_GTOL * (-ls.ginit))
    task = jnp.where(conv, _CONVERGED, jnp.where(warn, _WARNING, _FG)).astype(jnp.int32)

    # First stage with a lower but not sufficiently lower value: work on the modified
    # function psi(stp) = f(stp) - f(0) - ftol stp f'(0).
    shift = jnp.where((stage == 1) & (f <= ls.fx) & (f > ftest), ls.gtest, 0.0)
    stx, fx, gx, sty, fy, gy, new_stp, brackt = dcstep(
        ls.stx, ls.fx - ls.stx * shift, ls.gx - shift,
        ls.sty, ls.fy - ls.sty * shift, ls.gy - shift,
        stp, f - stp * shift, g - shift, ls.brackt, ls.stmin, ls.stmax,
    )
    fx, fy = fx + stx * shift, fy + sty * shift
    gx, gy = gx + shift, gy + shift

    # Bisect if the interval does not shrink fast enough.
    bisect = brackt & (jnp.abs(sty - stx) >= 0.66 * ls.width1)
    new_stp = jnp.where(bisect, stx + 0.5 * (sty - stx), new_stp)
    width1 = jnp.where(brackt, ls.width, ls.width1)
    width = jnp.where(brackt, jnp.abs(sty - stx), ls.width)
    stmin = jnp.where(brackt, jnp.minimum(stx, sty), new_stp + 1.1 * (new_stp - stx))
    stmax = jnp.where(brackt, jnp.maximum(stx, sty), new_stp + 4.0 * (new_stp - stx))
    new_stp = jnp.minimum(jnp.maximum(new_stp, stpmin), stpmax)
    stuck = brackt & ((new_stp <= stmin) | (new_stp >= stmax) | (stmax - stmin <= LS_XTOL * stmax))
    new_stp = jnp.where(stuck, stx, new_stp)

    moved = _SearchState(
        new_stp, task, brackt, stage, ls.finit, ls.ginit, ls.gtest,
        stx, fx, gx, sty, fy, gy, stmin, stmax, width, width1,
    )
    done = ls._replace(task=task, stage=stage)
    return select(task == _FG, moved, done)


class LineSearchResult(NamedTuple):
    """x, f, g at the accepted step (the start point on failure); stp; slope g^T d at it;
    n_fev evaluations used; ok whether a step was accepted."""

    x: Array
    f: Array
    g: Array
    stp: Array
    slope: Array
    n_fev: Array
    ok: Array


def max_step(x: Array, d: Array, lower: Array, upper: Array, first: Array) -> Array:
    """Largest feasible step along d (``lnsrlb``): (n,) x4, () -> ().

    1 on the first iteration of a constrained problem, 1e10 without bounds, and 0 if a
    variable already at a bound heads out of the box.
    """
    room = jnp.where(d < 0, lower - x, jnp.where(d > 0, upper - x, jnp.inf))
    blocked = ((d < 0) & (room >= 0)) | ((d > 0) & (room <= 0))
    ratio = jnp.where(blocked, 0.0, room / jnp.where(d == 0, 1.0, d))
    stpmax = jnp.minimum(STPMAX_UNCONSTRAINED, jnp.min(jnp.where(d == 0, jnp.inf, ratio)))
    constrained = jnp.any(jnp.isfinite(lower) | jnp.isfinite(upper))
    return jnp.where(constrained, jnp.where(first, 1.0, stpmax), STPMAX_UNCONSTRAINED)


def line_search(
    fun_and_grad: Callable,
    args: tuple,
    state: LBFGSBState,
    z: Array,
    lower: Array,
    upper: Array,
    ok: Array,
    *,
    maxls: int,
    sums: Sums,
) -> LineSearchResult:
    """More-Thuente search from ``state`` (its x, f, g) along d = z - x inside the box
    (``lnsrlb`` + ``dcsrch``).

    Trial points x + stp d (exactly z at stp = 1) clipped to the box; at most ``maxls``
    evaluations.  The initial step is 1, except on the first iteration (state.iteration
    0) of a problem whose variables are not all doubly bounded: min(1/|d|, stpmax).  A
    warning of dcsrch (rounding, xtol, stpmax) accepts the last trial as the reference
    does.  ``ok`` False (bad direction from the caller) fails at once without evaluating.

    Shapes: z, lower, upper (n,); ok () -> LineSearchResult.
    """
    x, f, g = state.x, state.f, state.g
    first = state.iteration == 0
    vdot = sums.vdot
    d = z - x
    boxed = jnp.all(jnp.isfinite(lower) & jnp.isfinite(upper))
    stpmax = max_step(x, d, lower, upper, first)
    stp0 = jnp.where(first & ~boxed, jnp.minimum(1.0 / jnp.sqrt(vdot(d, d)), stpmax), 1.0)
    stp0 = jnp.minimum(stp0, stpmax)
    slope0 = vdot(g, d)
    ls0 = _dcsrch_start(stp0, f, slope0, stpmax, ok & (slope0 < 0))

    def trial(stp):
        return jnp.where(stp == 1.0, z, jnp.minimum(upper, jnp.maximum(lower, x + stp * d)))

    def cond(carry):
        ls, n, *_ = carry
        return (ls.task == _FG) & (n < maxls)

    def body(carry):
        ls, n, _, _, _, _ = carry
        xt = trial(ls.stp)
        ft, gt = fun_and_grad(xt, *args)
        slope = vdot(gt, d)
        return _dcsrch_step(ls, ft, slope, stpmax), n + 1, xt, ft, gt, slope

    init = (ls0, jnp.array(0, jnp.int32), x, f, g, slope0)
    ls, n, xt, ft, gt, slope = lax.while_loop(cond, body, init)
    accepted = (ls.task == _CONVERGED) | (ls.task == _WARNING)
    xt, ft, gt = select(accepted, (xt, ft, gt), (x, f, g))
    return LineSearchResult(xt, ft, gt, ls.stp, slope, n, accepted)
