"""The generalized Cauchy point (``cauchy``): the first local minimizer of the model along
the projected steepest-descent path, in both formulations: every segment at once after
one sort of the breakpoints (:func:`cauchy_point`, for problems in lockstep) and the
walk over the breakpoints in order (:func:`cauchy_walk`, one problem at a time), chosen
by :func:`generalized_cauchy_point`."""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
from jax import Array, lax

from timbre_jax.core.reductions import EPS, Sums
from timbre_jax.optim.lbfgsb.memory import Memory, compact_W, oldest_first, pairs_oldest_first
from timbre_jax.optim.lbfgsb.tracing import one_at_a_time, select


def _reverse_cumsum(a: Array, cumsum: Callable) -> Array:
    """out[j] = sum_{i >= j} a[i] along axis 0."""
    return jnp.flip(cumsum(jnp.flip(a, 0)), 0)


class CauchyPoint(NamedTuple):
    """xcp (n,): the GCP; c (2m,): W^T (xcp - x); free (n,) bool: variables free at xcp."""

    xcp: Array
    c: Array
    free: Array


class _Path(NamedTuple):
    """The projected steepest-descent path x(t) = P(x - t g), variable by variable (n,)."""

    d: Array  # direction: -g where the variable moves, else 0
    t: Array  # breakpoint: step at which it meets the bound it heads for (inf: none)
    has_brk: Array  # it has a breakpoint
    to_bound: Array  # (xcp - x) once it is fixed
    free_at_x: Array  # free at x (not held at a bound, not fixed by equal bounds)
    n_brk: Array  # () number of breakpoints
    bnded: Array  # () no unbounded moving variable: the path ends at the last breakpoint


def _path(x: Array, g: Array, lower: Array, upper: Array) -> _Path:
    """Status of each variable at x (``cauchy``'s first loop): (n,) x4 -> _Path."""
    has_l, has_u = jnp.isfinite(lower), jnp.isfinite(upper)
    bounded = has_l | has_u
    always_fixed = has_l & has_u & (upper - lower <= 0)
    neg_g = -g

    # Status of each variable at x (iwhere): held at a bound the gradient pushes into,
    # or not moving because its gradient is zero.
    at_lower = has_l & (x - lower <= 0)
    at_upper = has_u & (upper - x <= 0)
    held = jnp.where(at_lower, neg_g <= 0, at_upper & (neg_g >= 0))
    idle = ~at_lower & ~at_upper & (neg_g == 0)
    moving = jnp.where(bounded, ~always_fixed & ~held & ~idle, True)
    d = jnp.where(moving, neg_g, 0.0)

    # Breakpoints: the step at which a moving variable meets the bound it heads for.
    brk_lower = moving & has_l & (neg_g < 0)
    brk_upper = moving & has_u & (neg_g > 0)
    has_brk = brk_lower | brk_upper
    safe = jnp.where(has_brk, neg_g, 1.0)
    t = jnp.where(brk_lower, (x - lower) / -safe, jnp.where(brk_upper, (upper - x) / safe, jnp.inf))
    return _Path(
        d=d,
        t=t,
        has_brk=has_brk,
        to_bound=jnp.where(d > 0, upper, lower) - x,
        free_at_x=~always_fixed & ~held,
        n_brk=jnp.sum(has_brk),
        bnded=~jnp.any(moving & ~has_brk & (neg_g != 0)),
    )


def cauchy_point(
    x: Array, g: Array, lower: Array, upper: Array, W: Array, M: Array, theta: Array, sums: Sums
) -> CauchyPoint:
    """First local minimizer of the model along the projected gradient path (``cauchy``).

    Path x(t) = P(x - t g); the model m(t) = g^T(x(t) - x) + 1/2 (x(t) - x)^T B (x(t) - x)
    is quadratic between consecutive breakpoints t_1 <= t_2 <= ... (where a coordinate
    reaches its bound).  On segment j (after fixing the j first breakpoints), with d_j the
    direction (-g with those coordinates zeroed), z_j = x(b_j) and b_j its start,
        f''_j = theta |d_j|^2 - p_j^T M p_j,              p_j = W^T d_j,
        f'_j  = -|d_j|^2 + b_j f''_j - p_j^T M C_j,       C_j = W^T (z_j - x - b_j d_j),
    where p_j is a suffix sum and C_j a prefix sum over the sorted breakpoints of the rows
    of W.  The GCP lies in the first segment whose minimizer -f'_j/f''_j comes before the
    segment's end.

    All segments at once, after one sort of the n breakpoints: the formulation for
    problems in lockstep (vmap), where every branch would run anyway.  One problem at a
    time, :func:`cauchy_walk` visits only the breakpoints it reaches.

    Shapes: x, g, lower, upper (n,); W (n, 2m); M (2m, 2m); theta () -> CauchyPoint.
    """
    cumsum, mm, tree_sum = sums.cumsum, sums.mm, sums.tree_sum
    n = x.shape[0]
    path = _path(x, g, lower, upper)
    d, t, n_brk, bnded = path.d, path.t, path.n_brk, path.bnded

    order = jnp.argsort(t, stable=True)
    t_s, d_s, W_s = t[order], d[order], W[order]
    brk_s = path.has_brk[order]
    z_s = jnp.where(brk_s, path.to_bound[order], 0.0)

    # Segment quantities for j = 0..n (only j <= n_brk is used).
    zero_row = jnp.zeros((1, W.shape[1]), W.dtype)
    P = jnp.concatenate([_reverse_cumsum(d_s[:, None] * W_s, cumsum), zero_row])  # p_j
    C = jnp.concatenate([zero_row, cumsum(z_s[:, None] * W_s)])  # C_j
    dd = jnp.concatenate([_reverse_cumsum(d_s * d_s, cumsum), jnp.zeros(1, x.dtype)])  # |d_j|^2
    start = jnp.concatenate([jnp.zeros(1, x.dtype), jnp.where(brk_s, t_s, 0.0)])  # b_j
    end = jnp.concatenate([t_s, jnp.full(1, jnp.inf, x.dtype)])

    MP = mm(P, M)
    f2 = theta * dd - tree_sum(MP * P, axis=1)
    f1 = -dd + start * f2 - tree_sum(MP * C, axis=1)
    j = jnp.arange(n + 1)
    # Safeguard of the reference against a curvature lost to rounding past breakpoints.
    f2 = jnp.where(j >= 1, jnp.maximum(EPS * f2[0], f2), f2)
    dtm = -f1 / f2
    # Past the last breakpoint of a bounded path everything is fixed: stay there.
    dtm = jnp.where((j == n_brk) & (n_brk > 0) & bnded, 0.0, dtm)
    inside = jnp.where(j < n_brk, dtm < end - start, True)
    jstar = jnp.argmax(inside)

    any_d = jnp.any(d != 0)
    tsum = start[jstar] + jnp.maximum(dtm[jstar], 0.0)
    tsum = jnp.where(any_d, tsum, 0.0)
    fixed = jnp.zeros(n, bool).at[order].set(jnp.arange(n) < jstar)
    xcp = jnp.where(fixed, jnp.where(d > 0, upper, lower), x + tsum * d)
    c = jnp.where(any_d, tsum * P[jstar] + C[jstar], 0.0)
    return CauchyPoint(xcp, c, path.free_at_x & ~fixed)


# Breakpoints the walk visits one by one before it gives up for the sort of all n.  On
# the paper's problems the GCP lies before the first or second breakpoint.
WALK_STEPS = 16


def cauchy_walk(
    x: Array, g: Array, lower: Array, upper: Array, mem: Memory, sums: Sums, max_steps: int | None = None
) -> tuple[CauchyPoint, Array]:
    """:func:`cauchy_point` by walking the breakpoints in order, as the reference does.

    Each step takes the next breakpoint (the smallest t after the last one, ties in index
    order: the sort's order) with one O(n) pass, evaluates its segment with the formulas
    of :func:`cauchy_point`, and stops at the first segment that holds the minimizer;
    p_j, C_j and |d_j|^2 are updated by the fixed variable's row of W = [Y^T, theta S^T]
    (never formed).  Costs O(m n) plus O(n) per breakpoint reached, against a sort and
    O(m^2 n) for all segments; it pays where ``while_loop`` really stops, i.e. one
    problem at a time.  Returns the GCP and whether it was found within ``max_steps``
    (default :data:`WALK_STEPS`) breakpoints; if not, the caller falls back to
    :func:`cauchy_point`.

    Shapes: x, g, lower, upper (n,).
    """
    S, Y, M, theta, head = mem.S, mem.Y, mem.M, mem.theta, mem.head
    mv, vdot = sums.mv, sums.vdot
    n = x.shape[0]
    max_steps = WALK_STEPS if max_steps is None else max_steps
    path = _path(x, g, lower, upper)
    d, t, n_brk, bnded = path.d, path.t, path.n_brk, path.bnded
    index = jnp.arange(n)

    def row(i):  # row i of W
        return jnp.concatenate([oldest_first(Y[:, i], head), theta * oldest_first(S[:, i], head)])

    dd0 = vdot(d, d)
    p0 = jnp.concatenate([oldest_first(mv(Y, d), head), theta * oldest_first(mv(S, d), head)])
    f2_0 = theta * dd0 - vdot(mv(M, p0), p0)
    zero = jnp.zeros((), x.dtype)

    def segment(j, b, p, C, dd):
        """dtm: the minimizer's offset in segment j (start b), as cauchy_point forms it."""
        Mp = mv(M, p)
        f2 = theta * dd - vdot(Mp, p)
        f1 = -dd + b * f2 - vdot(Mp, C)
        f2 = jnp.where(j >= 1, jnp.maximum(EPS * f2_0, f2), f2)
        dtm = -f1 / f2
        return jnp.where((j == n_brk) & (n_brk > 0) & bnded, 0.0, dtm)

    # carry: segment j, its start b, p_j, C_j, |d_j|^2, last fixed breakpoint (t, index),
    # found, dtm of the segment found.
    def cond(carry):
        j, *_, found, _ = carry
        return ~found & (j < max_steps)

    def body(carry):
        j, b, p, C, dd, t_last, i_last, _, _ = carry
        ahead = path.has_brk & ((t > t_last) | ((t == t_last) & (index > i_last)))
        t_ahead = jnp.where(ahead, t, jnp.inf)
        i = jnp.argmin(t_ahead)  # the first of equal breakpoints: index order
        i = jnp.where(ahead[i], i, jnp.argmax(ahead))  # (when the ones left are at t = inf)
        end = t_ahead[i]
        dtm = segment(j, b, p, C, dd)
        inside = (j >= n_brk) | (dtm < end - b)
        # Otherwise fix variable i; past the last breakpoint of a bounded path the
        # direction is exactly 0.
        w_i, d_i = row(i), d[i]
        last = (j + 1 == n_brk) & bnded
        p_next = jnp.where(last, 0.0, p - d_i * w_i)
        dd_next = jnp.where(last, 0.0, dd - d_i * d_i)
        C_next = C + path.to_bound[i] * w_i
        passed = (j + 1, end, p_next, C_next, dd_next, end, i, jnp.array(False), dtm)
        stay = (j, b, p, C, dd, t_last, i_last, jnp.array(True), dtm)
        return select(inside, stay, passed)

    init = (jnp.array(0, n_brk.dtype), zero, p0, jnp.zeros_like(p0), dd0,
            jnp.array(-jnp.inf, x.dtype), jnp.array(-1, index.dtype), jnp.array(False), zero)  # fmt: skip
    _, b, p, C, _, t_last, i_last, found, dtm = lax.while_loop(cond, body, init)

    any_d = jnp.any(d != 0)
    tsum = jnp.where(any_d, b + jnp.maximum(dtm, 0.0), 0.0)
    fixed = path.has_brk & ((t < t_last) | ((t == t_last) & (index <= i_last)))
    xcp = jnp.where(fixed, jnp.where(d > 0, upper, lower), x + tsum * d)
    c = jnp.where(any_d, tsum * p + C, 0.0)
    return CauchyPoint(xcp, c, path.free_at_x & ~fixed), found


def generalized_cauchy_point(x: Array, g: Array, lower: Array, upper: Array, mem: Memory, sums: Sums) -> CauchyPoint:
    """The GCP by the formulation that suits the trace: one problem at a time, the walk
    over the breakpoints it reaches (the sort of all n only if it reaches more than
    :data:`WALK_STEPS`); in lockstep, :func:`cauchy_point`."""

    def full(_=None):
        W = compact_W(*pairs_oldest_first(mem), mem.theta)
        return cauchy_point(x, g, lower, upper, W, mem.M, mem.theta, sums)

    if not one_at_a_time(sums):
        return full()
    cp, found = cauchy_walk(x, g, lower, upper, mem, sums)
    return lax.cond(found, lambda _: cp, full, None)
