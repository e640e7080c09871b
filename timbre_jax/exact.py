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

- *Working sets.*  The active-set iterations run on ``working_set`` columns (those with
  positive weight and the largest positive gradients); a pass ends with the gradient of
  every column, and a violated optimality condition brings its columns into the next
  working set.  The result is certified on all columns: it stops only when the KKT
  conditions hold for the full problem.
- *An updated QR factorization* of the passive columns: a column enters by Gram-Schmidt
  orthogonalization (twice, which keeps Q orthogonal to working precision), and leaves by
  Givens rotations, O(p k) instead of a new O(p k^2) factorization per step.

The centred, unit-norm matrix is never formed: products go through ``D`` itself
(``A^T r = (D^T r - mu sum r) / scale``), so problems that share ``D`` (noisy
realizations, permutations, folds) share its products under ``vmap``.

Everything is pure JAX (``jit``, ``vmap``, ``lax.map``); float64 is required.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array, lax
from jax.scipy.linalg import solve_triangular

EPS = float(jnp.finfo(jnp.float64).eps)
U_FLOOR = 1e-30  # u = w^-2 at the upper bound w = 1e15: the weight of an unused feature

# Status codes.
OPTIMAL = 0
NO_POSITIVE_CORRELATION = 1
ITERATION_LIMIT = 2

STATUS_MESSAGES: dict[int, str] = {
    OPTIMAL: "OPTIMAL: KKT CONDITIONS HOLD (CERTIFIED GLOBAL MAXIMUM OF P)",
    NO_POSITIVE_CORRELATION: "OPTIMAL, P <= 0: NO NON-NEGATIVE WEIGHTING CORRELATES POSITIVELY WITH THE RATINGS "
                             "(the best is the single best feature)",
    ITERATION_LIMIT: "STOP: ITERATION LIMIT OF THE ACTIVE SET (NOT CERTIFIED)",
}


class ExactSolution(NamedTuple):
    """The optimum of one problem.

    u: (n,) squared inverse weights, max 1, floored at 1e-30 (so w = u^-1/2 is in
    [1, 1e15]); pearson: () P of ``D u`` with the ratings (the reported optimum, from the
    least-squares residual); kkt: () largest violation of the optimality conditions on
    the unit-norm problem (<= tolerance when certified); iterations: () active-set steps;
    passes: () full-gradient passes; status: () one of :data:`STATUS_MESSAGES`.
    """

    u: Array
    pearson: Array
    kkt: Array
    iterations: Array
    passes: Array
    status: Array


class _Operator(NamedTuple):
    """A = mask * (D - mu) / scale, applied without forming it: D (p, n), mask (p,),
    mu (n,) column means over the rated pairs, scale (n,) centred column norms (1 where 0)."""

    D: Array
    mask: Array
    mu: Array
    scale: Array

    def rmatvec(self, r: Array) -> Array:
        """A^T r: (p,) -> (n,)."""
        rm = self.mask * r
        return (rm @ self.D - self.mu * jnp.sum(rm)) / self.scale

    def matvec(self, x: Array) -> Array:
        """A x: (n,) -> (p,)."""
        xs = x / self.scale
        return self.mask * (self.D @ xs - self.mu @ xs)

    def columns(self, j: Array) -> Array:
        """A[:, j]: (k,) -> (p, k)."""
        return self.mask[:, None] * (self.D[:, j] - self.mu[j]) / self.scale[j]


def _operator(D: Array, mask: Array) -> _Operator:
    count = jnp.sum(mask)
    mu = (mask @ D) / count
    norm2 = mask @ (D - mu) ** 2
    scale = jnp.where(norm2 > 0, jnp.sqrt(norm2), 1.0)
    return _Operator(D, mask, mu, scale)


# ----------------------------------------------------------------------------- QR

class _QR(NamedTuple):
    """Thin QR of the k passive columns, in slots 0..k-1 of fixed-size arrays.

    Qt (s, p): rows 0..k-1 orthonormal, the rest zero; R (s, s): upper triangular in the
    leading k x k block, identity elsewhere (so triangular solves need no masking);
    qtb (s,): Q^T b, zero past k; cols (s,): column index of each slot; k: ().
    """

    Qt: Array
    R: Array
    qtb: Array
    cols: Array
    k: Array


def _qr_empty(s: int, p: int, dtype) -> _QR:
    return _QR(jnp.zeros((s, p), dtype), jnp.eye(s, dtype=dtype), jnp.zeros(s, dtype), jnp.zeros(s, int),
               jnp.asarray(0))


def _qr_append(qr: _QR, a: Array, b: Array, col: Array) -> tuple[_QR, Array]:
    """Add column ``a`` (p,) as slot k; returns the new factorization and the norm of the
    part of ``a`` orthogonal to the others (0 means dependent)."""
    h = qr.Qt @ a
    v = a - h @ qr.Qt
    h2 = qr.Qt @ v  # second Gram-Schmidt pass: orthogonality to working precision
    v = v - h2 @ qr.Qt
    rho = jnp.sqrt(v @ v)
    q = v / jnp.where(rho > 0, rho, 1.0)
    k = qr.k
    R = qr.R.at[:, k].set((h + h2).at[k].set(rho))
    return _QR(qr.Qt.at[k].set(q), R, qr.qtb.at[k].set(q @ b), qr.cols.at[k].set(col), k + 1), rho


def _qr_drop_last(qr: _QR) -> _QR:
    k = qr.k - 1
    s = qr.R.shape[0]
    e = jnp.arange(s) == k
    R = jnp.where(e[None, :] | e[:, None], jnp.eye(s, dtype=qr.R.dtype), qr.R)
    return _QR(qr.Qt.at[k].set(0.0), R, qr.qtb.at[k].set(0.0), qr.cols.at[k].set(0), k)


def _qr_delete(qr: _QR, i: Array, x: Array) -> tuple[_QR, Array]:
    """Remove slot ``i``: shift the later slots down one, then restore the triangle with
    Givens rotations on rows (t, t + 1), t = i..k-2.  ``x`` (s,) is shifted alike."""
    s = qr.R.shape[0]
    t = jnp.arange(s)
    src = jnp.where((t >= i) & (t < qr.k - 1), t + 1, t)
    R = qr.R[:, src]

    def rotate(t, carry):
        Qt, R, qtb = carry
        a, c = R[t, t], R[t + 1, t]
        r = jnp.hypot(a, c)
        cs = jnp.where(r > 0, a / jnp.where(r > 0, r, 1.0), 1.0)
        sn = jnp.where(r > 0, c / jnp.where(r > 0, r, 1.0), 0.0)

        def rot(M):
            m0, m1 = M[t], M[t + 1]
            return M.at[t].set(cs * m0 + sn * m1).at[t + 1].set(cs * m1 - sn * m0)

        return rot(Qt), rot(R), rot(qtb)

    Qt, R, qtb = lax.fori_loop(i, qr.k - 1, rotate, (qr.Qt, R, qr.qtb))
    shifted = _QR(Qt, R, qtb, qr.cols[src], qr.k)
    return _qr_drop_last(shifted), x[src].at[qr.k - 1].set(0.0)


def _solve(qr: _QR) -> Array:
    """Least squares on the passive columns: z (s,), zero past k."""
    return solve_triangular(qr.R, qr.qtb, lower=False)


# ----------------------------------------------------------------------------- Lawson-Hanson

class _LH(NamedTuple):
    qr: _QR
    x: Array        # (s,) value of each slot
    banned: Array   # (w,) columns found dependent on the passive ones
    steps: Array
    done: Array


def _feasible(qr: _QR, x: Array, tol: float) -> tuple[_QR, Array]:
    """Lawson-Hanson's inner loop: from a feasible ``x``, move towards the passive least
    squares solution z until z > 0, dropping the slots that reach zero on the way."""
    s = x.shape[0]
    slot = jnp.arange(s)

    def infeasible(c):
        qr, x, z = c
        return jnp.any((slot < qr.k) & (z <= tol))

    def step(c):
        qr, x, z = c
        bad = (slot < qr.k) & (z <= tol)
        ratio = jnp.where(bad, x / jnp.where(bad, x - z, 1.0), jnp.inf)
        m = jnp.argmin(ratio)
        x = x + ratio[m] * (z - x)
        x = x.at[m].set(0.0)

        def drop(c):
            qr, x = c
            i = jnp.argmax((slot < qr.k) & (x <= tol))
            return _qr_delete(qr, i, x)

        qr, x = lax.while_loop(lambda c: jnp.any((slot < c[0].k) & (c[1] <= tol)), drop, (qr, x))
        return qr, x, _solve(qr)

    qr, x, z = lax.while_loop(infeasible, step, (qr, x, _solve(qr)))
    return qr, z


def _lawson_hanson(B: Array, b: Array, x0: Array, tol: float, max_steps: int) -> _LH:
    """NNLS on the columns of B (p, w), warm-started from x0 (w,) >= 0 (its positive
    entries become the first passive set).  Returns the final state; the solution is
    ``x`` in the slots ``qr.cols``."""
    p, w = B.shape
    s = min(p, w)
    # Warm start: the positive entries of x0 enter first (at most s of them).
    order = jnp.argsort(x0 <= 0, stable=True)
    k0 = jnp.minimum(jnp.sum(x0 > 0), s)

    def enter(t, c):
        qr, x = c
        col = order[t]
        qr2, rho = _qr_append(qr, B[:, col], b, col)
        keep = rho > tol
        qr = jax.tree.map(lambda new, old: jnp.where(keep, new, old), qr2, qr)
        return qr, jnp.where(keep, x.at[qr2.k - 1].set(x0[col]), x)

    qr, x = lax.fori_loop(0, k0, enter, (_qr_empty(s, p, B.dtype), jnp.zeros(s, B.dtype)))
    qr, x = _feasible(qr, x, tol)
    slot = jnp.arange(s)

    def cond(st: _LH):
        return ~st.done & (st.steps < max_steps)

    def body(st: _LH):
        qr, x = st.qr, st.x
        r = b - qr.qtb @ qr.Qt  # x is the passive least-squares solution here
        g = r @ B
        passive = jnp.zeros(w, bool).at[jnp.where(slot < qr.k, qr.cols, w)].set(True, mode="drop")
        g = jnp.where(passive | st.banned, -jnp.inf, g)
        j = jnp.argmax(g)
        full = qr.k >= s

        def add(_):
            qr2, rho = _qr_append(qr, B[:, j], b, j)
            z = _solve(qr2)
            # A column dependent on the passive ones (rho ~ 0), or whose least-squares
            # coefficient comes out non-positive through rounding, cannot enter: ban it.
            ok = (rho > tol) & (z[qr.k] > tol)

            def accept(_):
                return _feasible(qr2, x, tol)

            new_qr, new_x = lax.cond(ok, accept, lambda _: (qr, x), None)
            return new_qr, new_x, st.banned.at[j].set(~ok)

        stop = (g[j] <= tol) | full
        qr, x, banned = lax.cond(stop, lambda _: (qr, x, st.banned), add, None)
        return _LH(qr, x, banned, st.steps + 1, stop)

    return lax.while_loop(cond, body, _LH(qr, x, jnp.zeros(w, bool), jnp.asarray(0), jnp.asarray(False)))


# ----------------------------------------------------------------------------- driver

def _tolerance(p: int, n: int) -> float:
    return 10 * EPS * max(p, n)


def nnls_operator(op: _Operator, b: Array, *, working_set: int = 512, max_passes: int = 100,
                  max_steps: int | None = None):
    """argmin_{x >= 0} |A x - b| for the unit-norm-column operator ``op`` and unit ``b``.

    Returns (x (n,), kkt, iterations, passes, certified).
    """
    p, n = op.D.shape
    w = min(n, working_set)
    tol = _tolerance(p, n)
    max_steps = 3 * w if max_steps is None else max_steps

    def violation(x, g):
        return jnp.max(jnp.where(x > 0, jnp.abs(g), g))

    def cond(c):
        x, g, steps, passes, stalled = c
        return (violation(x, g) > tol) & (passes < max_passes) & ~stalled

    def body(c):
        x, g, steps, passes, _ = c
        if w == n:
            cols = jnp.arange(n)
        else:
            # The passive columns, then the largest positive gradients.
            _, cols = lax.top_k(jnp.where(x > 0, jnp.inf, g), w)
        st = _lawson_hanson(op.columns(cols), b, x[cols], tol, max_steps)
        slot = jnp.arange(st.x.shape[0])
        x = jnp.zeros(n, b.dtype).at[jnp.where(slot < st.qr.k, cols[st.qr.cols], n)].set(st.x, mode="drop")
        g = op.rmatvec(b - op.matvec(x))
        return x, g, steps + st.steps, passes + 1, ~st.done

    x0 = jnp.zeros(n, b.dtype)
    x, g, steps, passes, stalled = lax.while_loop(cond, body, (x0, op.rmatvec(b), jnp.asarray(0), jnp.asarray(0),
                                                               jnp.asarray(False)))
    kkt = violation(x, g)
    return x, kkt, steps, passes, kkt <= tol


def nnls(D: Array, s: Array, mask: Array | None = None, **options) -> Array:
    """argmin_{x >= 0} |D x - s|^2 over the pairs with ``mask`` 1 (no intercept).

    Shapes: D (p, n), s (p,), mask (p,) -> x (n,).  Columns are scaled to unit norm
    internally (the active-set tests are then scale free) and x is mapped back.
    """
    p, n = D.shape
    mask = jnp.ones(p, D.dtype) if mask is None else mask
    norm2 = mask @ D ** 2
    op = _Operator(D, mask, jnp.zeros(n, D.dtype), jnp.where(norm2 > 0, jnp.sqrt(norm2), 1.0))
    b = mask * s
    nb = jnp.sqrt(b @ b)
    x = nnls_operator(op, b / jnp.where(nb > 0, nb, 1.0), **options)[0]
    return x * nb / op.scale


def solve(D: Array, ratings: Array, mask: Array, **options) -> ExactSolution:
    """The global maximum of P(D u, ratings) over u >= 0 on the pairs with ``mask`` 1.

    Shapes: D (p, n), ratings (p,), mask (p,) -> :class:`ExactSolution`.  Needs at least
    two rated pairs with different ratings (callers check, see
    :func:`timbre_jax.learn.check_problem`).
    """
    if D.dtype != jnp.float64:
        raise TypeError("the exact solver needs float64 (import timbre_jax first, or enable jax_enable_x64)")
    op = _operator(D, mask)
    count = jnp.sum(mask)
    b = mask * (ratings - (mask @ ratings) / count)
    b = b / jnp.sqrt(b @ b)
    x, kkt, steps, passes, certified = nnls_operator(op, b, **options)
    r = b - op.matvec(x)
    positive = jnp.any(x > 0)
    # No positive correlation: every column has a non-positive cosine with b; the best
    # single one is the optimum (see the module docstring).
    g0 = op.rmatvec(b)
    best = jnp.argmax(jnp.where(op.scale > 0, g0, -jnp.inf))
    u = jnp.where(positive, x / op.scale, jnp.zeros_like(x).at[best].set(1.0))
    P = jnp.where(positive, jnp.sqrt(jnp.maximum(1.0 - r @ r, 0.0)), g0[best])
    u = jnp.maximum(u / jnp.max(u), U_FLOOR)
    status = jnp.where(~certified, ITERATION_LIMIT, jnp.where(positive, OPTIMAL, NO_POSITIVE_CORRELATION))
    return ExactSolution(u, P, kkt, steps, passes, status)


def weights(u: Array) -> Array:
    """w = u^-1/2 in [1, 1e15] from :attr:`ExactSolution.u`."""
    return jnp.clip(u ** -0.5, 1.0, 1e15)
