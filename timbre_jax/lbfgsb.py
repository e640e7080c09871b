"""L-BFGS-B in pure JAX: bound-constrained limited-memory BFGS, vmappable and jittable.

A port of the algorithm of Byrd, Lu, Nocedal & Zhu (1995), "A limited memory algorithm
for bound constrained optimization", SIAM J. Sci. Comput. 16(5), in the form of
L-BFGS-B 3.0 (Morales & Nocedal 2011), which is what ``scipy.optimize.minimize(method=
"L-BFGS-B")`` runs.  Every iteration follows the reference code step by step:

1. :func:`cauchy_point` -- the generalized Cauchy point (GCP) along the projected
   steepest-descent path, on the compact L-BFGS model ``B = theta I - W M W^T``,
   ``W = [Y^T, theta S^T]`` (n, 2m).
2. :func:`subspace_minimization` -- the direct primal method on the variables free at
   the GCP, then the 3.0 projection / backtracking safeguard.
3. :func:`line_search` -- More-Thuente (``dcsrch`` / ``dcstep``) with ftol=1e-3,
   gtol=0.9, xtol=0.1 and the maximum step allowed by the bounds.
4. :func:`update_memory` -- the correction pair (s, y), skipped unless the curvature
   ``s^T y`` exceeds ``eps * (-g^T s)``, and the middle matrix ``M`` of the model.

Where the reference code loops over variables or breakpoints, this one uses masks and
array kernels, in one of two formulations chosen when JAX traces, by the sums the options
ask for.  With fixed-tree sums (``invariant_sums=True``: problems in lockstep under
``vmap``, the GPU), where every branch runs for every problem: the GCP evaluates the
slope and curvature of the piecewise quadratic on every segment of the path at once,
after one sort of the breakpoints (the per-breakpoint rank-one updates of ``p = W^T d``
and ``c = W^T (x_cp - x)`` become cumulative sums over (n, 2m) arrays), and the subspace
step's sums over the free variables are (m, n) x (n, m) products.  With plain sums (one
problem at a time: learn's sequence mode on the CPU), where ``lax.cond`` and
``while_loop`` skip what they do not need: the GCP walks the breakpoints in order and
stops at the first segment holding the minimizer (:func:`_cauchy_walk`; on the paper's
problems before the first or second of them), and the free sums are the memory's totals
less the sums over the few active variables (:func:`_free_active_grams`).  Both give the
same iterates up to rounding.  The index sets of free variables are boolean masks; the
history is a fixed (m, n) ring (see :class:`Memory`) with its unused rows zero.

Everything is float64 (enabled by importing :mod:`timbre_jax`), runs under ``jax.jit``
and ``jax.vmap``: with a batch of problems each one stops on its own, and a finished
problem is left exactly as it was (``lax.while_loop`` selects its old state).  The
options are one frozen (hashable) :class:`LBFGSBOptions`, a static argument wherever the
solver is jitted; the stopping reasons are :class:`Status`, an ``IntEnum`` whose members
carry scipy's messages (inside jitted code the status is an int32 array compared with
them).  Every reduction comes from the :class:`~timbre_jax.reductions.Sums` the options
choose: plain by default, fixed trees (``invariant_sums=True``) where a problem must
round the same alone or in a vmapped batch.

Deviations from the reference at the level of rounding or of cases it mishandles: the
GCP's prefix sums (trees) and closed-form segment values (both) associate sums
differently from the sequential updates; ``M`` is formed explicitly (2m x 2m) from the
same factorization ``bmv`` uses; the matrix of the subspace problem is rebuilt each
iteration rather than updated for the variables entering or leaving (``formk``); the first
line-search step is clipped to ``stpmax`` (where rounding would make the reference's
``dcsrch`` report an input error); ties between breakpoints are taken in index order
(the reference's heap takes them in an arbitrary order).  On well-conditioned problems
the iterates equal scipy's to ~1e-15.

One deviation in behaviour, on by default (``restart_on_stagnation``): a line search
that ends without any decrease of f while the memory holds pairs is treated like a
failed line search (memory emptied, retry from the same x by steepest descent) instead
of stopping with "REL_REDUCTION_OF_F" at once.  The run stops only when even steepest
descent makes no progress.  Until that event the iterates are the reference's; after
it, f can only be lower.  On ill-conditioned problems run to stagnation (ftol = 0) the
reference often stops at such a point although a fresh start of the memory still
progresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.scipy.linalg import solve_triangular

from . import reductions
from .reductions import Sums, divide
from .status import StatusCode

EPS = float(jnp.finfo(jnp.float64).eps)


class Status(StatusCode):
    """Why the solver stopped (RUNNING while it has not), with scipy's message.

    ``Status(code).message`` is the text; :meth:`converged` says which ends count as
    convergence.
    """

    RUNNING = 0, "RUNNING"
    CONVERGED_PGTOL = 1, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"
    CONVERGED_FTOL = 2, "CONVERGENCE: REL_REDUCTION_OF_F <= FACTR*EPSMCH"
    MAX_ITERATIONS = 3, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"
    ABNORMAL_LINE_SEARCH = 4, "ABNORMAL_TERMINATION_IN_LNSRCH"

    @staticmethod
    def converged(status, iterations):
        """Whether a run with this final ``status`` and iteration count converged: a
        tolerance was met, or the line search failed after at least one accepted step
        (with tolerances of 1e-36, stagnation: the usual end).  Not converged: the
        iteration limit, a line search that failed before any step (the result is the
        start), or still running.  Arrays (NumPy or JAX) or scalars, elementwise."""
        tolerance = (status == Status.CONVERGED_PGTOL) | (status == Status.CONVERGED_FTOL)
        return tolerance | ((status == Status.ABNORMAL_LINE_SEARCH) & (iterations > 0))


@dataclass(frozen=True)
class LBFGSBOptions:
    """Options of :class:`LBFGSB`; frozen and hashable, so a static argument of ``jit``.

    scipy's names in brackets.  ``maxiter``: iteration limit; ``maxls``: evaluations per
    line search; ``history``: stored correction pairs [maxcor]; ``ftol``: stop when
    (f_prev - f) <= ftol max(|f_prev|, |f|, 1) [ftol = factr eps]; ``gtol``: stop when
    the projected gradient's inf-norm <= gtol [pgtol].  The defaults (1e-36) run to
    stagnation, as the paper does.  ``restart_on_stagnation``: see the module docstring;
    False reproduces scipy's stop.  ``invariant_sums``: the reductions
    (:mod:`timbre_jax.reductions`): True for fixed trees (the same rounding alone or in a
    vmapped batch, slower), False for plain ones; None, the default, means plain for a
    direct :class:`LBFGSB` and, in :func:`timbre_jax.learn.solve_grouped`, trees exactly
    when the problems run in lockstep.
    """

    maxiter: int = 10_000
    maxls: int = 50
    history: int = 10
    ftol: float = 1e-36
    gtol: float = 1e-36
    restart_on_stagnation: bool = True
    invariant_sums: bool | None = None

    def __post_init__(self):
        if self.maxls <= 0 or self.history <= 0 or self.maxiter <= 0:
            raise ValueError("maxiter, maxls and history must be positive")

    @property
    def sums(self) -> Sums:
        """The reductions these options ask for (None: plain)."""
        return reductions.sums(bool(self.invariant_sums))

# More-Thuente constants of lnsrlb.
LS_FTOL, LS_GTOL, LS_XTOL = 1e-3, 0.9, 0.1
STPMAX_UNCONSTRAINED = 1e10

# Line-search task codes.
_FG, _CONVERGED, _WARNING, _ERROR = 0, 1, 2, 3


class Memory(NamedTuple):
    """The limited memory: the model B = theta I - W M W^T, W = [Y^T, theta S^T].

    S, Y: (m, n) correction pairs s = x_{k+1} - x_k, y = g_{k+1} - g_k in a ring: the
        k-th oldest in row (head + k) % m, so appending a pair writes one row and moves
        none (:func:`pairs_oldest_first` gives them oldest first); rows of no pair are 0.
    SY, SS, YY: (m, m) S Y^T, S S^T and Y Y^T of the pairs oldest first (entry (i, j) =
        s_i . y_j, s_i . s_j, y_i . y_j); YY serves the subspace step.
    count: () int32, number of stored pairs (``col``).
    theta: () scaling of the initial matrix B_0 = theta I.
    M: (2m, 2m) middle matrix of the compact representation, oldest first; zero in the
        rows/columns of unused slots.
    head: () int32, the row of S and Y that holds the oldest pair.
    """

    S: Array
    Y: Array
    SY: Array
    SS: Array
    count: Array
    theta: Array
    M: Array
    YY: Array
    head: Array


DEFAULT_OPTIONS = LBFGSBOptions()
"""Every option at its default: the paper's settings, plain sums."""


class LBFGSBState(NamedTuple):
    """Solver state; add a leading batch axis to every field under ``vmap``.

    x, g: (n,) current iterate and gradient; f: () objective.
    iteration: () int32, completed iterations (scipy's ``nit``).
    n_fev: () int32, objective evaluations (scipy's ``nfev``).
    status: () int32, a :class:`Status` (RUNNING while running).
    proj_grad_norm: () inf-norm of the projected gradient at x.
    memory: the :class:`Memory` of correction pairs.
    """

    x: Array
    f: Array
    g: Array
    iteration: Array
    n_fev: Array
    status: Array
    proj_grad_norm: Array
    memory: Memory


# ----------------------------------------------------------------------------- helpers


def projected_gradient_norm(x: Array, g: Array, lower: Array, upper: Array) -> Array:
    """Inf-norm of the projected gradient (``projgr``): (n,) x4 -> scalar.

    A component pushing against an active bound counts only as far as the bound.
    """
    pg = jnp.where(g < 0, jnp.maximum(x - upper, g), jnp.minimum(x - lower, g))
    norm = jnp.max(jnp.abs(pg))
    # NaN in g must not look like convergence (projgr propagates it).
    return jnp.where(jnp.any(jnp.isnan(g)), jnp.nan, norm)


def _history_mask(count: Array, m: int) -> Array:
    """(m,) True for the stored slots."""
    return jnp.arange(m) < count


def middle_matrix(SY: Array, SS: Array, theta: Array, valid: Array, sums: Sums) -> tuple[Array, Array]:
    """M = [[-D, L^T], [L, theta S^T S]]^-1 (2m, 2m) and whether it is finite.

    Built as ``bmv`` applies it: with D = diag(S^T Y), L its strict lower triangle and
    J J^T = T = theta S^T S + L D^-1 L^T (``formt``),
        M [v1; v2] = [-D^-1 v1 + D^-1 L^T p2; p2],  p2 = T^-1 (v2 + L D^-1 v1).
    Unused slots get D = 1, T = I and are zeroed in the result, so they drop out.
    """
    m = SY.shape[0]
    both = valid[:, None] & valid[None, :]
    dg = jnp.where(valid, jnp.diag(SY), 1.0)
    L = jnp.where(both, jnp.tril(SY, -1), 0.0)
    T = jnp.where(both, theta * SS + sums.gram(divide(L, dg), L), 0.0) + jnp.diag(~valid)
    J = jnp.linalg.cholesky(T)
    # Apply to the identity: columns of the first half, then of the second half.
    eye = jnp.eye(m, dtype=SY.dtype)
    V1 = jnp.concatenate([eye, jnp.zeros_like(eye)], axis=1)  # v1 parts (m, 2m)
    V2 = jnp.concatenate([jnp.zeros_like(eye), eye], axis=1)  # v2 parts (m, 2m)
    rhs = V2 + sums.mm(divide(L, dg), V1)
    P2 = solve_triangular(J.T, solve_triangular(J, rhs, lower=True), lower=False)
    P1 = divide(-V1, dg[:, None]) + divide(sums.mm(L.T, P2), dg[:, None])
    M = jnp.concatenate([P1, P2], axis=0)
    keep = jnp.concatenate([valid, valid])
    M = jnp.where(keep[:, None] & keep[None, :], M, 0.0)
    return M, jnp.all(jnp.isfinite(M))


def _compact_W(S: Array, Y: Array, theta: Array) -> Array:
    """W = [Y^T, theta S^T]: (m, n) x2 -> (n, 2m)."""
    return jnp.concatenate([Y.T, theta * S.T], axis=1)


def _one_at_a_time(sums: Sums) -> bool:
    """Whether to trace the formulation for one problem at a time (plain sums: learn's
    sequence mode on the CPU), where ``lax.cond`` and a ``while_loop`` that stops early
    skip work, rather than the one for problems in lockstep under ``vmap`` (fixed-tree
    sums), where every branch runs for every problem.  Both are correct either way."""
    return sums is reductions.PLAIN


def _ages(head, m: int) -> tuple[Array, Array]:
    """The ring's order (see :class:`Memory`): ``rows`` (m,), the row of the k-th oldest
    pair, and ``age`` (m,), the age rank of each row."""
    k = jnp.arange(m)
    return (head + k) % m, (k - head) % m


def _oldest_first(A: Array, head) -> Array:
    """The rows (or entries) of A in age order: (m, ...) -> (m, ...)."""
    return A[_ages(head, A.shape[0])[0]]


def pairs_oldest_first(mem: Memory) -> tuple[Array, Array]:
    """S, Y (m, n) of a memory with the oldest pair first, the order of its SY, SS, YY and
    M: the rows of W = [Y^T, theta S^T]."""
    return _oldest_first(mem.S, mem.head), _oldest_first(mem.Y, mem.head)


def _combine_rows(A: Array, u: Array, head: Array, sums: Sums) -> Array:
    """sum_k u_k (row of the k-th oldest pair of A) = A^T u in age order: (m, n), (m,) ->
    (n,).  With trees the sum runs over the pairs oldest first (the rows are gathered
    into the fused product); one problem at a time, u goes to the rows instead."""
    if not _one_at_a_time(sums):
        return sums.tmv(_oldest_first(A, head), u)
    return sums.tmv(A, u[_ages(head, A.shape[0])[1]])


def _W_times(mem: Memory, v: Array, sums: Sums) -> Array:
    """W v = Y^T v_1 + theta S^T v_2: (2m,) -> (n,).  One problem at a time without
    forming W (n, 2m), which costs as much as the product; with trees as the product."""
    m = mem.S.shape[0]
    if not _one_at_a_time(sums):
        return sums.mv(_compact_W(*pairs_oldest_first(mem), mem.theta), v)
    return _combine_rows(mem.Y, v[:m], mem.head, sums) + _combine_rows(mem.S, mem.theta * v[m:], mem.head, sums)


def _reverse_cumsum(a: Array, cumsum: Callable) -> Array:
    """out[j] = sum_{i >= j} a[i] along axis 0."""
    return jnp.flip(cumsum(jnp.flip(a, 0)), 0)


def _select(pred: Array, a, b):
    """Pytree ``a`` where ``pred`` else ``b`` (pred is a scalar)."""
    return jax.tree.map(lambda u, v: jnp.where(pred, u, v), a, b)


# ------------------------------------------------------------------ generalized Cauchy


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
    time, :func:`_cauchy_walk` visits only the breakpoints it reaches.

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
_WALK_STEPS = 16


def _cauchy_walk(
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
    (default :data:`_WALK_STEPS`) breakpoints; if not, the caller falls back to
    :func:`cauchy_point`.

    Shapes: x, g, lower, upper (n,).
    """
    S, Y, M, theta, head = mem.S, mem.Y, mem.M, mem.theta, mem.head
    mv, vdot = sums.mv, sums.vdot
    n = x.shape[0]
    max_steps = _WALK_STEPS if max_steps is None else max_steps
    path = _path(x, g, lower, upper)
    d, t, n_brk, bnded = path.d, path.t, path.n_brk, path.bnded
    index = jnp.arange(n)

    def row(i):  # row i of W
        return jnp.concatenate([_oldest_first(Y[:, i], head), theta * _oldest_first(S[:, i], head)])

    dd0 = vdot(d, d)
    p0 = jnp.concatenate([_oldest_first(mv(Y, d), head), theta * _oldest_first(mv(S, d), head)])
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
        return _select(inside, stay, passed)

    init = (jnp.array(0, n_brk.dtype), zero, p0, jnp.zeros_like(p0), dd0,
            jnp.array(-jnp.inf, x.dtype), jnp.array(-1, index.dtype), jnp.array(False), zero)  # fmt: skip
    _, b, p, C, _, t_last, i_last, found, dtm = lax.while_loop(cond, body, init)

    any_d = jnp.any(d != 0)
    tsum = jnp.where(any_d, b + jnp.maximum(dtm, 0.0), 0.0)
    fixed = path.has_brk & ((t < t_last) | ((t == t_last) & (index <= i_last)))
    xcp = jnp.where(fixed, jnp.where(d > 0, upper, lower), x + tsum * d)
    c = jnp.where(any_d, tsum * p + C, 0.0)
    return CauchyPoint(xcp, c, path.free_at_x & ~fixed), found


# ------------------------------------------------------------- subspace minimization


# One problem at a time and n >= 8 _ACTIVE_CAP: the sums over the variables active at
# the GCP are taken over at most this many gathered columns, those over the free ones as
# the whole sum less them.
_ACTIVE_CAP = 128


def _free_active_grams(mem: Memory, free: Array, sums: Sums):
    """Y Z Z^T Y, S A A^T S, S A A^T Y and S Z Z^T Y (m, m) each, Z / A the free / active
    variables, all oldest first.  Shapes: free (n,) bool -> (m, m) x4.

    Directly, they are four (m, n) x (n, m) products.  On the paper's problems few
    variables are active, so one problem at a time: with none, the Z sums are the
    memory's S Y^T and Y Y^T and the A sums zero; when at most :data:`_ACTIVE_CAP` are
    (and n >= 8 of them), the A sums run over their gathered columns and the Z sums are
    the totals less those (S Z Z^T Y = S Y^T - S A A^T Y; Y Z Z^T Y = Y Y^T - Y A A^T Y),
    as the reference's ``formk`` subtracts what leaves the free set: O(m^2) instead of
    O(m^2 n).
    """
    S, Y, SY, YY, head, gram = mem.S, mem.Y, mem.SY, mem.YY, mem.head, sums.gram

    def direct(_=None):
        zf = free.astype(S.dtype)
        af = 1.0 - zf
        S_, Y_ = _oldest_first(S, head), _oldest_first(Y, head)  # fused into the products
        return gram(Y_ * zf, Y_), gram(S_ * af, S_), gram(S_ * af, Y_), gram(S_ * zf, Y_)

    n = S.shape[1]
    if not _one_at_a_time(sums):
        return direct()
    active = ~free
    n_active = jnp.sum(active)

    def none_active(_):
        zero = jnp.zeros_like(SY)
        return YY, zero, zero, SY

    def by_active(_):
        # The first _ACTIVE_CAP active indices: top_k of float32 keys (exact integers
        # below 2^24) is one pass, where jnp.nonzero's scatter is several.
        key = jnp.where(active, (n - jnp.arange(n)).astype(jnp.float32), 0.0)
        idx = lax.top_k(key, _ACTIVE_CAP)[1]
        keep = jnp.arange(_ACTIVE_CAP) < n_active
        SA = jnp.where(keep, _oldest_first(S[:, idx], head), 0.0)
        YA = jnp.where(keep, _oldest_first(Y[:, idx], head), 0.0)
        SAY = gram(SA, YA)
        return YY - gram(YA, YA), gram(SA, SA), SAY, SY - SAY

    if n < 8 * _ACTIVE_CAP or n >= 1 << 24:  # gathering would not pay
        return lax.cond(n_active == 0, none_active, direct, None)
    which = jnp.where(n_active == 0, 0, jnp.where(n_active <= _ACTIVE_CAP, 1, 2))
    return lax.switch(which, [none_active, by_active, direct], None)


def _subspace_factor(mem: Memory, free: Array, valid: Array, sums: Sums):
    """Upper triangular R with R^T E R = K, E = diag(-I, I) (``formk``).

        K = [[-D - Y^T Z Z^T Y / theta,  L_a^T - R_z^T],
             [L_a - R_z,                 theta S^T A A^T S]]
    with Z / A the free / active variables, L_a the strict lower triangle of S^T A A^T Y
    and R_z the upper triangle of S^T Z Z^T Y.  Shapes: free (n,), valid (m,) -> (2m, 2m).
    """
    SY, theta = mem.SY, mem.theta
    m = SY.shape[0]
    both = valid[:, None] & valid[None, :]
    dg = jnp.where(valid, jnp.diag(SY), 1.0)
    YZY, SAS, SAY, SZY = _free_active_grams(mem, free, sums)
    L_a = jnp.tril(SAY, -1)
    R_z = jnp.triu(SZY)
    K11 = jnp.diag(dg) + jnp.where(both, divide(YZY, theta), 0.0)
    K12 = jnp.where(both, -L_a.T + R_z.T, 0.0)
    K22 = jnp.where(both, theta * SAS, 0.0) + jnp.diag(~valid)
    U1 = jnp.linalg.cholesky(K11).T
    X12 = solve_triangular(U1, K12, trans="T", lower=False)
    U2 = jnp.linalg.cholesky(K22 + sums.mm(X12.T, X12)).T
    zeros = jnp.zeros((m, m), SY.dtype)
    return jnp.block([[U1, X12], [zeros, U2]])


def _project_or_truncate(x, g, xcp, du, free, lower, upper, sums: Sums):
    """The 3.0 safeguard of ``subsm`` on the subspace Newton step du.

    Project xcp + du onto the box; keep it if no bound was hit or if it is still a
    descent direction from x; otherwise take the longest feasible fraction of du from
    xcp, snapping the blocking variable onto its bound.
    """
    has_l, has_u = jnp.isfinite(lower), jnp.isfinite(upper)
    proj = jnp.where(free, jnp.minimum(upper, jnp.maximum(lower, xcp + du)), xcp)
    hit = free & ((has_l & (proj == lower)) | (has_u & (proj == upper)))
    descent = sums.vdot(proj - x, g) <= 0

    toward_l = free & has_l & (du < 0)
    toward_u = free & has_u & (du > 0)
    room_l, room_u = lower - xcp, upper - xcp
    safe = jnp.where(toward_l | toward_u, du, 1.0)
    ratio = jnp.where(
        toward_l,
        jnp.where(room_l >= 0, 0.0, room_l / safe),
        jnp.where(toward_u, jnp.where(room_u <= 0, 0.0, room_u / safe), jnp.inf),
    )
    ibd = jnp.argmin(ratio)
    alpha = jnp.minimum(1.0, ratio[ibd])
    blocked = (jnp.arange(x.shape[0]) == ibd) & (alpha < 1.0) & (du != 0)
    trunc = jnp.where(free, xcp + alpha * jnp.where(blocked, 0.0, du), xcp)
    trunc = jnp.where(blocked, jnp.where(du > 0, upper, lower), trunc)
    return jnp.where(jnp.any(hit) & ~descent, trunc, proj)


def subspace_minimization(
    x: Array, g: Array, cp: CauchyPoint, lower: Array, upper: Array, mem: Memory, sums: Sums
) -> tuple[Array, Array]:
    """Minimize the model over the free variables from the GCP (``cmprlb`` + ``subsm``).

    Reduced gradient r = -Z^T (g + B (xcp - x)); Newton step on the free variables
        du = r / theta + Z^T W K^-1 W^T Z r / theta^2     (direct primal method),
    then :func:`_project_or_truncate`.  Returns the new point z (n,) and whether the
    factorization was sound (False asks the caller to reset the memory, as the
    reference does).  Shapes: x, g, lower, upper (n,).
    """
    S, Y, theta, head = mem.S, mem.Y, mem.theta, mem.head
    mv = sums.mv
    m = S.shape[0]
    zf = cp.free.astype(x.dtype)
    r = (-g - theta * (cp.xcp - x) + _W_times(mem, mv(mem.M, cp.c), sums)) * zf
    R = _subspace_factor(mem, cp.free, _history_mask(mem.count, m), sums)
    wv = jnp.concatenate([_oldest_first(mv(Y, r), head), theta * _oldest_first(mv(S, r), head)])
    w = solve_triangular(R, wv, trans="T", lower=False)
    w = w * jnp.concatenate([-jnp.ones(m, x.dtype), jnp.ones(m, x.dtype)])
    v = solve_triangular(R, w, lower=False)
    YTv = _combine_rows(Y, v[:m], head, sums)
    du = divide(r + divide(YTv, theta) + _combine_rows(S, v[m:], head, sums), theta) * zf
    z = _project_or_truncate(x, g, cp.xcp, du, cp.free, lower, upper, sums)
    return z, jnp.all(jnp.isfinite(z))


# ------------------------------------------------------------------- line search


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
    return _select(task == _FG, moved, done)


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
    xt, ft, gt = _select(accepted, (xt, ft, gt), (x, f, g))
    return LineSearchResult(xt, ft, gt, ls.stp, slope, n, accepted)


# -------------------------------------------------------------------- memory update


def empty_memory(n: int, m: int, dtype) -> Memory:
    """No pairs: B = I (theta = 1, M = 0)."""
    return Memory(
        S=jnp.zeros((m, n), dtype),
        Y=jnp.zeros((m, n), dtype),
        SY=jnp.zeros((m, m), dtype),
        SS=jnp.zeros((m, m), dtype),
        count=jnp.array(0, jnp.int32),
        theta=jnp.array(1.0, dtype),
        M=jnp.zeros((2 * m, 2 * m), dtype),
        YY=jnp.zeros((m, m), dtype),
        head=jnp.array(0, jnp.int32),
    )


def update_memory(mem: Memory, s: Array, y: Array, sy: Array, ss: Array, sums: Sums) -> Memory:
    """Append the pair (s, y), dropping the oldest when full (``matupd`` + ``formt``).

    ``sy`` = s^T y and ``ss`` = s^T s are passed in as the reference computes them from
    the line search (stp (g_new - g_old)^T d and stp^2 |d|^2).  theta = y^T y / s^T y.
    If T = theta S^T S + L D^-1 L^T is not positive definite the memory is emptied.
    Shapes: (n,) x2, () x2.
    """
    return _next_memory(mem, jnp.array(True), jnp.array(False), s, y, sy, ss, sums)


def _write_row(A: Array, v: Array, row: Array, keep: Array, zero: Array, sums: Sums) -> Array:
    """A (m, n) with ``v`` (n,) written into ``row`` if ``keep``, all zero if ``zero``.

    The write is in place (a loop-carried buffer); so is the reset one problem at a
    time, where ``lax.cond`` skips it, while a select would read and write all of A.
    Writing only if not ``zero`` changes nothing but orders the write after the products
    that ``zero`` depends on (the new middle matrix): XLA copies A otherwise."""
    A = A.at[row].set(jnp.where(keep & ~zero, v, A[row]))
    if not _one_at_a_time(sums):
        return jnp.where(zero, 0.0, A)
    return lax.cond(zero, jnp.zeros_like, lambda a: a, A)


def _next_memory(
    mem: Memory, keep: Array, reset: Array, s: Array, y: Array, sy: Array, ss: Array, sums: Sums
) -> Memory:
    """The memory after an iteration: :func:`update_memory` with (s, y) if ``keep``,
    unchanged otherwise, and emptied if ``reset`` (or if the new middle matrix is not
    finite).

    S and Y are a ring: the new pair goes into the row after the newest, which holds the
    oldest when the memory is full, so no row moves (rolling them was two passes over
    S and Y per iteration); SY, SS, YY and M, (m, m) and (2m, 2m), stay oldest first."""
    mv, vdot = sums.mv, sums.vdot
    m, n = mem.S.shape
    full = mem.count == m
    idx = jnp.minimum(mem.count, m - 1)  # the new pair's age rank
    row = jnp.where(full, mem.head, mem.count)  # and its row
    count = jnp.minimum(mem.count + 1, m)
    valid = _history_mask(count, m)

    def aged(v):  # (m,) products with the rows, in the new age order
        v = _oldest_first(v, mem.head)
        return jnp.where(valid, jnp.where(full, jnp.roll(v, -1), v), 0.0)

    # Entry idx of each is overwritten: with y^T s or s^T s below.
    s_dot_Y, S_dot_y, S_dot_s = aged(mv(mem.Y, s)), aged(mv(mem.S, y)), aged(mv(mem.S, s))
    Y_dot_y, yy = aged(mv(mem.Y, y)), vdot(y, y)
    roll = lambda a: jnp.where(full, jnp.roll(a, -1, (0, 1)), a)  # noqa: E731
    SY = roll(mem.SY).at[idx, :].set(s_dot_Y).at[:, idx].set(S_dot_y).at[idx, idx].set(sy)
    SS = roll(mem.SS).at[idx, :].set(S_dot_s).at[:, idx].set(S_dot_s).at[idx, idx].set(ss)
    YY = roll(mem.YY).at[idx, :].set(Y_dot_y).at[:, idx].set(Y_dot_y).at[idx, idx].set(yy)
    theta = yy / sy
    M, ok = middle_matrix(SY, SS, theta, valid, sums)
    ok = ok & jnp.all(jnp.isfinite(Y_dot_y))  # (and every product is read before the writes)
    head = jnp.where(full, (mem.head + 1) % m, mem.head).astype(mem.head.dtype)

    zero = reset | (keep & ~ok)
    old = (mem.SY, mem.SS, mem.count, mem.theta, mem.M, mem.YY, mem.head)
    small = _select(keep, (SY, SS, count, theta, M, YY, head), old)
    empty = empty_memory(n, m, s.dtype)
    SY, SS, count, theta, M, YY, head = _select(
        zero, (empty.SY, empty.SS, empty.count, empty.theta, empty.M, empty.YY, empty.head), small
    )
    return Memory(
        S=_write_row(mem.S, s, row, keep, zero, sums),
        Y=_write_row(mem.Y, y, row, keep, zero, sums),
        SY=SY, SS=SS, count=count, theta=theta, M=M, YY=YY, head=head,
    )  # fmt: skip


# ------------------------------------------------------------------------- solver


def _generalized_cauchy_point(x: Array, g: Array, lower: Array, upper: Array, mem: Memory, sums: Sums) -> CauchyPoint:
    """The GCP by the formulation that suits the trace: one problem at a time, the walk
    over the breakpoints it reaches (the sort of all n only if it reaches more than
    :data:`_WALK_STEPS`); in lockstep, :func:`cauchy_point`."""

    def full(_=None):
        W = _compact_W(*pairs_oldest_first(mem), mem.theta)
        return cauchy_point(x, g, lower, upper, W, mem.M, mem.theta, sums)

    if not _one_at_a_time(sums):
        return full()
    cp, found = _cauchy_walk(x, g, lower, upper, mem, sums)
    return lax.cond(found, lambda _: cp, full, None)


def search_direction(x: Array, g: Array, lower: Array, upper: Array, mem: Memory, sums: Sums):
    """The point z the line search heads for: GCP, then subspace minimization.

    Without bounds and with memory the GCP is x itself with every variable free (as the
    reference skips ``cauchy``); without memory or free variables, z is the GCP.
    Returns z (n,) and whether the subspace factorization was sound.
    """
    constrained = jnp.any(jnp.isfinite(lower) | jnp.isfinite(upper))
    cp = _generalized_cauchy_point(x, g, lower, upper, mem, sums)
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
        return _select(state.status == Status.RUNNING, self._step(state, lower, upper, *args), state)

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
        ls = _select(stagnant, ls._replace(x=x, f=f, g=g), ls)
        iteration = state.iteration + jnp.where(failed, 0, 1)
        pg = projected_gradient_norm(ls.x, ls.g, lower, upper)
        status = self._stopping_status(iteration, pg, f, ls.f)
        status = jnp.where(failed, jnp.where(has_memory, Status.RUNNING, Status.ABNORMAL_LINE_SEARCH), status)

        s, y, sy, ss = correction_pair(x, g, z, ls, sums)
        curvature = sy > EPS * (-sums.vdot(g, z - x) * ls.stp)  # else skip the update
        keep_pair = ~failed & (status == Status.RUNNING) & curvature
        mem = _next_memory(mem, keep_pair, failed & has_memory, s, y, sy, ss, sums)

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
