"""The exact global optimum of the paper's fit: a non-negative least squares in disguise.

The fit maximizes the Pearson correlation P between ``d = D u`` (``u = w^-2``, ``D`` the
(p, n) pair-difference matrix) and the ratings ``s`` over the rated pairs.  P does not
change when ``d`` is shifted or scaled, so only the centred vectors ``D_c u`` matter, and
for ``u >= 0`` they form a convex cone.  The largest cosine between ``s_c`` and a convex
cone is reached at the projection ``p`` of ``s_c`` onto it: for any ``d`` in the cone,
``<d, s_c> = <d, p> + <d, s_c - p> <= <d, p> <= |d| |p|`` (the middle step is the
projection's optimality condition).  Hence

    max_w P^2 = |p|^2 / |s_c|^2 = R^2 of  min_{u >= 0, c} || D u + c - s ||^2,

a non-negative least squares with a free intercept, and its solution ``u*`` maximizes P.
If the projection is zero (no non-negative combination correlates positively with the
ratings), max P <= 0 and it is reached by the single best feature: for ``u >= 0``,
``<D_c u, s_c> <= P_1 sum_j u_j |D_c e_j| <= P_1 |D_c u|`` with ``P_1 = max_j cos(D_c e_j,
s_c) <= 0``.

The solver is Lawson & Hanson's active set method (the algorithm of
``scipy.optimize.nnls``) with two changes that make it fast for p <= 190 pairs and up to
30,976 features:

- *Working sets.*  The active-set steps run on ``working_set`` columns: the passive ones
  and those with the largest gradients.  When none of them can enter, a pass computes the
  gradient of every column; a violated optimality condition starts a new working set,
  keeping the passive set and its factorization.  The result is certified on all
  columns: it stops only when the KKT conditions hold for the full problem.
- *An updated QR factorization* of the passive columns: a column enters by Gram-Schmidt
  orthogonalization (twice, which keeps Q orthogonal to working precision), and leaves by
  Givens rotations, O(p k) instead of a new O(p k^2) factorization per step.

The centred, unit-norm matrix is never formed: products go through ``D`` itself
(``A^T r = (D^T r - mu sum r) / scale``), so problems that share ``D`` (noisy
realizations, permutations, folds) share its products under ``vmap``.

The loop is one flat sequence of steps with few fused kernels, and the large arrays are
updated in place only (see :class:`_Active`).  The active-set state has shapes (p,
working set) only, the working set padded with zero columns when n is smaller.

:func:`solve` is pure JAX (``jit``, ``vmap``, ``lax.map``): the accelerator path, where
every problem of a batch runs in lockstep.  On the CPU the same method runs in NumPy,
without compilation (:mod:`timbre_jax.optim.exact_host`).  float64 is required.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import Array, lax
from jax.scipy.linalg import solve_triangular

from timbre_jax.core.reductions import EPS
from timbre_jax.core.status import StatusCode

U_FLOOR = 1e-30  # u = w^-2 at the upper bound w = 1e15: the weight of an unused feature

# Callers pad the pair axis to at least this many (the pairs of 23 sounds): the
# active-set loop compiles once per padded p, and smaller problems gain less from a
# smaller shape than a compilation costs (about 2 s on one core).
MIN_PAIRS = 256


class Status(StatusCode):
    """How the exact solve ended, with its message (the shape of
    :class:`timbre_jax.optim.lbfgsb.Status`: ``.message``, :meth:`converged`)."""

    OPTIMAL = 0, "OPTIMAL: KKT CONDITIONS HOLD (CERTIFIED GLOBAL MAXIMUM OF P)"
    NO_POSITIVE_CORRELATION = 1, ("OPTIMAL, P <= 0: NO NON-NEGATIVE WEIGHTING CORRELATES POSITIVELY WITH THE "
                                  "RATINGS (the best is the single best feature)")
    ITERATION_LIMIT = 2, "STOP: ITERATION LIMIT OF THE ACTIVE SET (NOT CERTIFIED)"

    @staticmethod
    def converged(status, iterations=None):
        """Whether the optimum was certified (every end but the iteration limit);
        ``iterations`` plays no part.  Arrays or scalars, elementwise."""
        return status != Status.ITERATION_LIMIT


class ExactSolution(NamedTuple):
    """The optimum of one problem.

    u: (n,) squared inverse weights, max 1, floored at 1e-30 (so w = u^-1/2 is in
    [1, 1e15]); pearson: () P of ``D u`` with the ratings (the reported optimum: the
    norm of the least-squares projection of the unit ratings); kkt: () largest violation of the optimality conditions on
    the unit-norm problem (<= tolerance when certified); iterations: () active-set steps
    (columns entered and kept); passes: () full-gradient passes; status: () a
    :class:`Status`.
    """

    u: Array
    pearson: Array
    kkt: Array
    iterations: Array
    passes: Array
    status: Array


class _Operator(NamedTuple):
    """A = mask * (D - mu) / scale, applied without forming it: D (p, n), mask (p,),
    mu (n,) column means over the rated pairs, scale (n,) centred column norms, inf where
    0: the column of A is then exactly 0 (its gradient too, so it never enters), and a
    finite scale tells the columns that have a correlation."""

    D: Array
    mask: Array
    mu: Array
    scale: Array

    def rmatvec(self, r: Array) -> Array:
        """A^T r: (p,) -> (n,)."""
        rm = self.mask * r
        return (rm @ self.D - self.mu * jnp.sum(rm)) / self.scale

    def columns(self, j: Array) -> Array:
        """A[:, j]: (k,) -> (p, k)."""
        return self.mask[:, None] * (self.D[:, j] - self.mu[j]) / self.scale[j]


def _norm2(D: Array, mask: Array, mu: Array) -> Array:
    """(n,) squared centred column norms over the rated pairs, summed row by row: on the
    CPU, XLA's reductions over the leading axis and the product ``mask @ (D - mu)**2``
    (which materializes the square) are about ten times slower."""
    return lax.fori_loop(0, D.shape[0], lambda i, a: a + mask[i] * (D[i] - mu) ** 2, jnp.zeros_like(mu))


def _operator(D: Array, mask: Array, count: Array) -> _Operator:
    """``count``: () the number of rated pairs, sum(mask)."""
    mu = (mask @ D) / count
    norm2 = _norm2(D, mask, mu)
    return _Operator(D, mask, mu, jnp.where(norm2 > 0, jnp.sqrt(norm2), jnp.inf))


# ----------------------------------------------------------------------------- active set

class _Active(NamedTuple):
    """The active-set iteration on a working set of w columns; its shapes depend on (p, w)
    only, never on n, so that its loop compiles once for every representation.

    The k passive columns sit in slots 0..k-1 of arrays with S = min(p, w) + 1 slots (a
    passive set never fills the last slot, so slot k is free at every step), with a thin
    QR factorization of them.  Vectors of length p + 1 are (p,) vectors with an extra
    coordinate, zero for columns of A and b.

    Q (S, p + 1): row i is (q_i, q_i . b): rows 0..k-1 orthonormal with Q^T b beside them,
    later rows stale with Q^T b zero; Rt (S, S): R transposed, R upper triangular with the
    factor in its leading k x k block and diagonal 1 past k (so the triangular solve needs
    no masking); x (S,): the passive values, zero past k; slot (S,): working-set position
    of each slot; k: ().  ws (w,): the working set (column indices; past n when n < w);
    Bt (w, p + 1): its columns of A, transposed (zero rows past n when n < w: their
    gradient is 0, so they never enter); banned (w,): found dependent on the passive
    columns.  r (p + 1,): b - Q Q^T b at the last step.  fresh: () the last step added a
    column (its coefficient is tested next); optimal: () no working column can enter;
    steps: () columns entered.

    The big arrays (Q, Rt, Bt) change in place, never through a branch or a select (XLA
    would copy them): a step that needs no update runs it zero times or writes slot k.
    """

    Q: Array
    Rt: Array
    x: Array
    slot: Array
    k: Array
    ws: Array
    Bt: Array
    banned: Array
    r: Array
    fresh: Array
    optimal: Array
    steps: Array


class _Outer(NamedTuple):
    """The full-gradient passes around the active set (the gradient itself, (n,), travels
    beside it): kkt: () the optimality violation of the last pass; passes: (); mark: ()
    steps at the last pass; done: () certified, stalled or out of budget."""

    kkt: Array
    passes: Array
    mark: Array
    done: Array


def _delete(Q: Array, Rt: Array, i: Array, trips: Array) -> tuple[Array, Array]:
    """Delete slot ``i`` of the QR factorization: the columns of R after i shift left one
    (an upper Hessenberg block) and Givens rotations on rows (t, t + 1), t >= i, restore
    the triangle; Q rotates alike.  Row t of R (column t of Rt) is read and written once,
    at step t (t <= i) or t - 1, two at a time, in place.  ``trips`` is k - 1, or 0 when
    nothing moves."""
    S = Rt.shape[0]
    rows = jnp.arange(S)[:, None]

    def rotate(t, c):
        Q, Rt = c
        blk = lax.dynamic_slice(Rt, (0, t), (S, 2))  # rows t, t + 1 of R
        blk = jnp.where((rows >= i) & jnp.stack([t <= i, t >= i]), jnp.concatenate([blk[1:], blk[-1:]]), blk)
        a, c_ = blk[t, 0], blk[t, 1]
        r = jnp.hypot(a, c_)
        on = (t >= i) & (r > 0)
        r = jnp.where(on, r, 1.0)
        cs, sn = jnp.where(on, a / r, 1.0), jnp.where(on, c_ / r, 0.0)
        G = jnp.stack([jnp.stack([cs, sn]), jnp.stack([-sn, cs])])
        return (lax.dynamic_update_slice(Q, G @ lax.dynamic_slice(Q, (t, 0), (2, Q.shape[1])), (t, 0)),
                lax.dynamic_update_slice(Rt, blk @ G.T, (0, t)))

    return lax.fori_loop(0, trips, rotate, (Q, Rt))


def _step(st: _Active, b: Array, tol: Array, max_steps: Array) -> _Active:
    """One event of Lawson-Hanson's method on the working set: a column leaves (the passive
    least-squares solution z is infeasible, or the column just added got z <= 0), or the
    largest gradient enters, or none can (``optimal``).  b: (p + 1,)."""
    S, p1 = st.Q.shape
    slot = jnp.arange(S)
    live = slot < st.k
    last = st.k - 1
    z = solve_triangular(st.Rt.T, st.Q[:, -1], lower=False)
    revert = st.fresh & (z[last] <= tol)
    zero = live & (st.x <= tol) & ~st.fresh  # zeros left by the previous step leave first
    bad = live & (z <= tol)
    ratio = jnp.where(bad, st.x / jnp.where(bad, st.x - z, 1.0), jnp.inf)
    m = jnp.argmin(ratio)
    stepping = ~revert & ~zero[jnp.argmax(zero)] & bad[m]
    x = jnp.where(stepping, jnp.where(slot == m, 0.0, st.x + ratio[m] * (z - st.x)), st.x)
    leaving = revert | zero[jnp.argmax(zero)] | stepping
    x = jnp.where(leaving, x, z)

    # Slot i leaves (the newest on a revert, which bans it); the slots after it move down.
    i = jnp.where(revert, last, jnp.argmax(live & (x <= tol)))
    Q, Rt = _delete(st.Q, st.Rt, i, jnp.where(leaving & (i < last), last, 0))
    k = st.k - leaving
    src = jnp.where(leaving & (slot >= i), slot + 1, slot)
    x = jnp.where(slot < k, x[jnp.minimum(src, S - 1)], 0.0)

    # Else the largest gradient enters as slot k: Gram-Schmidt, twice (orthogonal to
    # working precision).  Computed at every step (a branch costs more compile time than
    # the products save), after the rotations, which then did nothing: the order lets XLA
    # update Q in place.
    extra = jnp.arange(p1) == p1 - 1
    r = b - Q[:, -1] @ Q
    g = jnp.where(st.banned, -jnp.inf, st.Bt @ r)
    j = jnp.argmax(g)
    a = st.Bt[j]
    h = jnp.where(live, Q @ a, 0.0)
    v = jnp.where(extra, 0.0, a - h @ Q)
    h2 = jnp.where(live, Q @ v, 0.0)
    v = jnp.where(extra, 0.0, v - h2 @ Q)
    h = h + h2
    optimal = ~leaving & ((g[j] <= tol) | (st.k >= S - 1) | (st.steps >= max_steps))
    entering = ~leaving & ~optimal
    vv, vb = jnp.stack([v, b]) @ v
    ok = entering & (vv > tol * tol)  # else dependent on the passive columns: banned
    rho = jnp.sqrt(jnp.where(ok, vv, 1.0))
    # Slot k is written either way (zero Q^T b and unit diagonal when it stays free).
    Q = lax.dynamic_update_slice(Q, jnp.where(extra, jnp.where(ok, vb, 0.0), v)[None] / rho, (k, 0))
    Rt = lax.dynamic_update_slice(Rt, jnp.where(slot == k, rho, jnp.where(ok, h, 0.0))[None] / jnp.where(ok, 1.0, rho),
                                  (k, 0))
    ban = jnp.where(revert, st.slot[last], j)
    return st._replace(Q=Q, Rt=Rt, x=x, slot=jnp.where(slot == k, j, st.slot[jnp.minimum(src, S - 1)]), k=k + ok,
                       banned=st.banned.at[ban].set(st.banned[ban] | revert | (entering & ~ok)), r=r, fresh=ok,
                       optimal=optimal, steps=st.steps + ok - revert)


def _active_loop(st: _Active, b: Array, tol: Array, max_steps: Array) -> _Active:
    """Steps until no working column can enter.  b: (p + 1,)."""
    return lax.while_loop(lambda st: ~st.optimal, lambda st: _step(st, b, tol, max_steps), st)


def _start(b: Array, w: int) -> tuple[_Active, _Outer]:
    """The state at x = 0 with a working set of ``w`` columns (the first pass fills it).
    b: (p + 1,)."""
    p1 = b.shape[0]
    S = min(p1 - 1, w) + 1
    dt = b.dtype
    act = _Active(jnp.zeros((S, p1), dt), jnp.eye(S, dtype=dt), jnp.zeros(S, dt), jnp.zeros(S, int),
                  jnp.asarray(0), jnp.arange(w, dtype=jnp.int32), jnp.zeros((w, p1), dt), jnp.zeros(w, bool), b,
                  jnp.asarray(False), jnp.asarray(False), jnp.asarray(0))
    return act, _Outer(jnp.asarray(jnp.inf, dt), jnp.asarray(0), jnp.asarray(-1), jnp.asarray(False))


def _pass(st: _Active, out: _Outer, op: _Operator, tol, max_passes, max_steps) -> tuple[_Active, _Outer, Array]:
    """The full gradient g = A^T r (n,) at the working-set optimum: certify it, or start a
    new working set (the passive columns first, in slot order, then the largest
    gradients).  With n <= w the working set is all of A, padded with zero columns."""
    S = st.Q.shape[0]
    n = op.D.shape[1]
    w = st.ws.shape[0]
    slot = jnp.arange(S)
    g = op.rmatvec(st.r[:-1])
    idx = jnp.where(slot < st.k, st.ws[st.slot], n)
    kkt = jnp.max(jnp.concatenate([g, jnp.where(slot < st.k, jnp.abs(g[jnp.minimum(idx, n - 1)]), -jnp.inf)]))
    passes = out.passes + 1
    done = (kkt <= tol) | (passes >= max_passes) | (st.steps == out.mark) | (st.steps >= max_steps)
    out = _Outer(kkt, passes, st.steps, done)
    st = st._replace(optimal=done, banned=jnp.zeros_like(st.banned))
    if n <= w:  # ws stays 0..w-1 and the slots keep their columns
        return st._replace(Bt=jnp.pad(_extend(op.columns(jnp.arange(n)).T), ((0, w - n), (0, 0)))), out, g
    # float32 keys: XLA's CPU top-k has a fast library path for them (not for float64),
    # and the ranking of gradients needs no more precision.
    ws = lax.top_k(g.at[idx].set(3.0 + S - slot, mode="drop").astype(jnp.float32), w)[1]
    return st._replace(ws=ws, Bt=_extend(op.columns(ws).T), slot=slot), out, g


def _extend(a: Array) -> Array:
    """(..., p) -> (..., p + 1): the extra coordinate zero."""
    return jnp.concatenate([a, jnp.zeros(a.shape[:-1] + (1,), a.dtype)], axis=-1)


# ----------------------------------------------------------------------------- drivers

def _tolerance(p: int, n: int) -> float:
    return 10 * EPS * max(p, n)


def _budget(p: int, n: int, max_steps: int | None) -> tuple[float, int]:
    """(tolerance, max_steps): ``max_steps`` bounds the columns entered (default 3 n)."""
    return _tolerance(p, n), 3 * n if max_steps is None else max_steps


def _iterate(op: _Operator, b: Array, working_set: int, max_passes: int,
             max_steps: int | None) -> tuple[_Active, _Outer, Array]:
    """The whole method as one traced loop (``jit``/``vmap``-able).  b: (p,) unit.
    Returns the final state and gradient (n,)."""
    tol, max_steps = _budget(*op.D.shape, max_steps)
    b = _extend(b)

    def one_pass(c):
        st, out, g = _pass(*c[:2], op, tol, max_passes, max_steps)
        return _active_loop(st, b, tol, max_steps), out, g

    return lax.while_loop(lambda c: ~c[1].done, one_pass, (*_start(b, working_set), jnp.zeros_like(op.mu)))


def _solution_slots(st: _Active, n: int) -> tuple[Array, Array]:
    """The passive columns by slot (n past k) and their values: (S,), (S,)."""
    return jnp.where(jnp.arange(st.Q.shape[0]) < st.k, st.ws[st.slot], n), st.x


def _unit_ratings(ratings: Array, mask: Array) -> Array:
    """b (p,): the ratings centred over the rated pairs, unit norm, zero elsewhere."""
    b = mask * (ratings - (mask @ ratings) / jnp.sum(mask))
    return b / jnp.sqrt(b @ b)


def _rated_operator(D: Array, mask: Array) -> _Operator:
    if D.dtype != jnp.float64:
        raise TypeError("the exact solver needs float64 (import timbre_jax first, or enable jax_enable_x64)")
    return _operator(D, mask, jnp.sum(mask))


def _solution(op: _Operator, st: _Active, out: _Outer, g: Array, tol) -> ExactSolution:
    """The optimum of P from the state after the last pass and its gradient g (n,)."""
    n = op.D.shape[1]
    cols, x = _solution_slots(st, n)
    positive = st.steps > 0
    # No positive correlation: every column has a non-positive cosine with b; the best
    # single one is the optimum (see the module docstring).  Then x = 0 and g = A^T b.  A
    # column that is constant over the rated pairs has g = 0 but no P: it never counts.
    best = jnp.argmax(jnp.where(op.scale < jnp.inf, g, -jnp.inf))
    first = jnp.arange(x.shape[0]) == 0
    u = jnp.where(positive, x / op.scale[jnp.minimum(cols, n - 1)], first)
    cols = jnp.where(positive, cols, jnp.where(first, best, n))
    u = jnp.full(n, U_FLOOR, op.D.dtype).at[cols].set(jnp.maximum(u / jnp.max(u), U_FLOOR), mode="drop")
    # |A x| with |b| = 1; the extra coordinate of r = b - Q^T Q b is -|Q b|^2.
    P = jnp.where(positive, jnp.sqrt(jnp.maximum(-st.r[-1], 0.0)), g[best])
    certified = out.kkt <= tol
    status = jnp.where(~certified, Status.ITERATION_LIMIT,
                       jnp.where(positive, Status.OPTIMAL, Status.NO_POSITIVE_CORRELATION))
    return ExactSolution(u, P, out.kkt, st.steps, out.passes, status)


def solve(D: Array, ratings: Array, mask: Array, *, working_set: int = 1024, max_passes: int = 100,
          max_steps: int | None = None) -> ExactSolution:
    """The global maximum of P(D u, ratings) over u >= 0 on the pairs with ``mask`` 1.

    Shapes: D (p, n), ratings (p,), mask (p,) -> :class:`ExactSolution`.  Needs at least
    two rated pairs with different ratings (callers check, see
    :func:`timbre_jax.fit.learn.check_problem`).  Pure (``jit``, ``vmap``); on the CPU,
    :func:`timbre_jax.optim.exact_host.solve_group` gives the same optimum without compiling.
    ``working_set``: columns per active-set run (n < working_set is padded to it);
    ``max_passes``: full-gradient passes; ``max_steps``: columns entered (default 3 n).
    """
    op = _rated_operator(D, mask)
    st, out, g = _iterate(op, _unit_ratings(ratings, mask), working_set, max_passes, max_steps)
    return _solution(op, st, out, g, _tolerance(*D.shape))


def weights(u):
    """w = u^-1/2 in [1, 1e15] from :attr:`ExactSolution.u`; numpy in, numpy out (the
    host path's results need no compilation)."""
    xp = np if isinstance(u, np.ndarray) else jnp
    return xp.clip(u ** -0.5, 1.0, 1e15)
