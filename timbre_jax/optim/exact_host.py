"""The exact optimum on the host: Lawson & Hanson in NumPy, the products of a group shared.

The same problem and the same method as :mod:`timbre_jax.optim.exact_lockstep` (read its docstring for
why ``max_w P^2`` is the R^2 of a non-negative least squares): the unit-norm, centred
columns ``A = M (D - mu) / scale`` of the rated pairs, the unit centred ratings ``b``,
and Lawson & Hanson's active set (the largest gradient enters; a passive value that
reaches zero leaves).  What differs is where the work goes.  The K problems of a group
(noisy realizations, relabellings, folds) share ``D``, and an optimum uses few columns
(at most q - 1 for q rated pairs, often 10 to 40), so:

- *Shared products.*  Per mask (every problem of a robustness or null group has the
  same one; folds have one each) ``A`` is formed once, and the gradients of all its
  problems over all n columns are one matrix product, ``R A`` (K, n).
- *Working sets.*  A problem's steps run on its passive set and the ``working_set``
  columns of largest gradient; a step costs O(q m) for the gradient in pair space and
  O(q k + k^2) for the least squares on the k passive columns, through the Cholesky
  factor of their Gram matrix, grown by one row per column entered.
- *Certified on all columns.*  Before the steps stop, the passive values are corrected
  from the residual of the columns themselves (the Gram matrix squares the condition
  number; one correction wins the digits back), then the KKT conditions are checked on
  every column: ``max_j g_j <= tol`` and ``|g_j| <= tol`` on the passive set.  A problem
  that fails starts a new working set from its new gradient and its passive set; one
  that fails ``max_passes`` times is reported as not certified.

NumPy and BLAS only, no compilation: the CPU path of :class:`timbre_jax.solvers.Exact`.
The optimum P is unique, so it agrees with :func:`timbre_jax.optim.exact_lockstep.solve` to rounding;
the weights agree where the optimum is unique, not where several sets of columns
interpolate the ratings exactly (EV = 1; then what held-out pairs get depends on which).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dtrsv

from timbre_jax.core.reductions import EPS
from timbre_jax.optim.exact_lockstep import U_FLOOR, ExactSolution, Status


def tolerance(p: int, n: int) -> float:
    """The KKT tolerance on the unit-norm problem of p pairs and n features."""
    return 10 * EPS * max(p, n)


class Columns:
    """The unit-norm centred columns of one mask: A (q, n) over the q rated pairs, their
    column means mu and norms scale (n,; inf where a column is constant, then A's column
    is 0 and it never enters)."""

    def __init__(self, D: np.ndarray, mask: np.ndarray):
        self.rated = mask > 0
        Dm = D[self.rated]
        self.mu = Dm.mean(axis=0)
        A = Dm - self.mu
        norm = np.sqrt(np.einsum("qn,qn->n", A, A))
        self.scale = np.where(norm > 0, norm, np.inf)
        A /= self.scale
        self.A = A

    def unit(self, ratings: np.ndarray) -> np.ndarray:
        """b (K, q): the ratings (K, p) centred over the rated pairs, unit norm."""
        b = ratings[:, self.rated]
        b = b - b.mean(axis=1, keepdims=True)
        return b / np.linalg.norm(b, axis=1, keepdims=True)


class _Passive:
    """The passive set P (k,) of a working set AW (q, m): its columns A_P (q, k, in a
    Fortran buffer that grows), the Cholesky factor L (k, k) of G_PP = A_P^T A_P = L L^T,
    and its values x (k,) with their residual r = b - A_P x (q,).

    Least squares through G_PP lose the digits that its condition number (the square of
    A_P's) takes; :meth:`refine` wins them back with one correction from the residual
    computed from the columns (the corrected semi-normal equations)."""

    def __init__(self, AW: np.ndarray, b: np.ndarray, P: np.ndarray):
        self.AW, self.b = AW, b
        self.P = np.asarray(P, dtype=np.int64)
        k = len(self.P)
        self.buffer = np.empty((AW.shape[0], max(2 * k, 64)), order="F")
        self.buffer[:, :k] = AW[:, self.P]
        self._factor()
        self.x = self.solve(self.AP.T @ b)
        self.r = b - self.AP @ self.x

    @property
    def AP(self) -> np.ndarray:
        return self.buffer[:, :len(self.P)]

    def _factor(self) -> None:
        AP = self.AP
        self.L = np.asfortranarray(np.linalg.cholesky(AP.T @ AP)) if len(self.P) else np.zeros((0, 0), order="F")

    def lower(self, y: np.ndarray) -> np.ndarray:
        """L^-1 y."""
        return dtrsv(self.L, y, lower=1) if len(y) else y

    def upper(self, y: np.ndarray) -> np.ndarray:
        """L^-T y."""
        return dtrsv(self.L, y, lower=1, trans=1) if len(y) else y

    def solve(self, y: np.ndarray) -> np.ndarray:
        """G_PP^-1 y: (k,) -> (k,)."""
        return self.upper(self.lower(y))

    def refine(self) -> None:
        """Correct x once from the residual of the columns; keep it if it stays positive."""
        if len(self.P):
            x = self.x + self.solve(self.r @ self.AP)
            if np.all(x > 0):
                self.x = x
            self.r = self.b - self.AP @ self.x

    def enter(self, j: int, a: np.ndarray, l: np.ndarray, d: float) -> None:
        """Column j (a (q,)) enters: l = L^-1 A_P^T a, d = |a - A_P G_PP^-1 A_P^T a|."""
        k = len(self.P)
        if k == self.buffer.shape[1]:
            self.buffer = np.concatenate([self.buffer, np.empty_like(self.buffer)], axis=1, dtype=float)
            self.buffer = np.asfortranarray(self.buffer)
        self.buffer[:, k] = a
        L = np.zeros((k + 1, k + 1), order="F")
        L[:k, :k], L[k, :k], L[k, k] = self.L, l, d
        self.L, self.P = L, np.append(self.P, j)

    def keep(self, keep: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Only the columns ``keep`` (k,) stay; returns the least-squares solution on them."""
        k = int(keep.sum())
        self.buffer[:, :k] = self.AP[:, keep]
        self.P = self.P[keep]
        self._factor()
        return self.solve(self.AP.T @ b)


def _lawson_hanson(AW: np.ndarray, b: np.ndarray, passive: np.ndarray, tol: float,
                   max_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Lawson & Hanson's steps for min_{x >= 0} |AW x - b| on a working set AW (q, m) of
    unit (or zero) columns, b (q,), from the passive set ``passive`` (a warm start;
    indices into m).  Returns (passive set, its values, the residual, columns entered).

    The gradient is a product in pair space, g = AW^T r; the least squares on P go
    through the Cholesky factor of G_PP (:class:`_Passive`).  A column j enters with
    h = G_PP^-1 A_P^T a_j and v = a_j - A_P h, its part orthogonal to A_P (computed twice
    when cancellation leaves few digits): the new solution is z_j = g_j / |v|^2,
    z_P = x - h z_j and the residual r - z_j v.  A column with |v| <= tol is in the span
    of A_P to working precision: it is banned.  Before it stops, x is corrected
    (:meth:`_Passive.refine`) and the gradient tested again."""
    st = _feasible(AW, b, np.asarray(passive, dtype=np.int64), tol)
    out = np.zeros(AW.shape[1], dtype=bool)  # passive or banned: cannot enter
    out[st.P] = True
    steps, refined = 0, False
    while steps < max_steps:
        g = st.r @ AW
        g[out] = -np.inf
        j = int(np.argmax(g))
        if not g[j] > tol:
            if refined:
                break
            st.refine()
            refined = True
            continue
        refined = False
        a, AP = AW[:, j], st.AP
        l = st.lower(a @ AP)
        h = st.upper(l)
        v = a - AP @ h
        d2 = v @ v
        if d2 < 1e-4:  # |a| = 1: cancellation left fewer than 4 digits, orthogonalize again
            h2 = st.solve(v @ AP)
            v, h = v - AP @ h2, h + h2
            d2 = v @ v
        if not d2 > tol * tol:
            out[j] = True
            continue
        zj = g[j] / d2
        z = np.append(st.x - h * zj, zj)
        x = np.append(st.x, 0.0)
        st.enter(j, a, l, np.sqrt(d2))
        out[j] = True
        steps += 1
        if np.all(z > tol):
            st.x, st.r = z, st.r - zj * v
            continue
        while np.any(z <= tol):  # step back to the boundary; the columns that reach zero leave
            bad = z <= tol
            ratio = np.where(bad, x / np.where(bad, x - z, 1.0), np.inf)
            first = int(np.argmin(ratio))
            x = x + ratio[first] * (z - x)
            keep = x > tol
            keep[first] = False
            out[st.P[~keep]] = False
            x = x[keep]
            z = st.keep(keep, b)
        st.x, st.r = z, b - st.AP @ z
    return st.P, st.x, st.r, steps


def _feasible(AW, b, P, tol) -> _Passive:
    """A warm-start passive set P made feasible: the least-squares solution on P, the
    column with the smallest value dropped while a value is not positive."""
    while len(P):
        try:
            st = _Passive(AW, b, P)
        except np.linalg.LinAlgError:
            P = P[:-1]
            continue
        if np.all(st.x > tol):
            return st
        P = np.delete(P, int(np.argmin(st.x)))
    return _Passive(AW, b, P)


def solve_group(D: np.ndarray, ratings: np.ndarray, mask: np.ndarray, *, working_set: int = 512,
                max_passes: int = 100, max_steps: int | None = None) -> ExactSolution:
    """The optimum of each of K problems that share D.

    Shapes: D (p, n), ratings and mask (K, p) -> :class:`~timbre_jax.optim.exact_lockstep.ExactSolution`
    of numpy arrays with leading axis K.  ``working_set``: the steps of a problem run on
    its passive set and this many columns of largest gradient (all when n is smaller);
    a certification round that fails starts again from the new gradients; ``max_passes``: certification rounds;
    ``max_steps``: columns entered per problem over all rounds (default 3 n)."""
    D = np.asarray(D, dtype=np.float64)
    ratings, mask = np.asarray(ratings, np.float64), np.asarray(mask, np.float64)
    K, (p, n) = ratings.shape[0], D.shape
    tol = tolerance(p, n)
    max_steps = 3 * n if max_steps is None else int(max_steps)
    out = dict(u=np.full((K, n), U_FLOOR), pearson=np.zeros(K), kkt=np.zeros(K), iterations=np.zeros(K, np.int64),
               passes=np.zeros(K, np.int64), status=np.zeros(K, np.int64))
    by_mask: dict[bytes, list[int]] = {}
    for k, m in enumerate(mask > 0):
        by_mask.setdefault(m.tobytes(), []).append(k)
    for problems in map(np.array, by_mask.values()):
        cols = Columns(D, mask[problems[0]])
        _solve_mask(cols, ratings[problems], problems, tol, working_set, max_passes, max_steps, out)
    return ExactSolution(**out)


def _solve_mask(cols: Columns, ratings, problems, tol, working, max_passes, max_steps, out) -> None:
    """Solve the problems (indices ``problems``) that share the mask of ``cols``; write
    their rows of ``out``."""
    A = cols.A
    B = cols.unit(ratings)  # (K, q)
    grad = B @ A  # (K, n): the gradients at x = 0
    passive = [np.zeros(0, np.int64) for _ in problems]
    values = [np.zeros(0) for _ in problems]
    steps = np.zeros(len(problems), np.int64)
    todo = np.arange(len(problems))
    for round_ in range(1, max_passes + 1):
        residuals = np.empty((len(todo), B.shape[1]))
        for t, k in enumerate(todo):
            W = working_set(grad[k], passive[k], working)
            AW = A[:, W]
            P, values[k], residuals[t], entered = _lawson_hanson(AW, B[k], np.searchsorted(W, passive[k]), tol,
                                                                 max_steps - steps[k])
            passive[k] = W[P]
            steps[k] += entered
        grad[todo] = residuals @ A  # every gradient of the round in one product
        kkt = np.array([_violation(grad[k], passive[k]) for k in todo])
        out["passes"][problems[todo]] = round_
        out["kkt"][problems[todo]] = kkt
        failed = todo[(kkt > tol) & (steps[todo] < max_steps)]  # the others are out of budget
        if not len(failed):
            break
        todo = failed
    for t, k in enumerate(problems):
        _write(out, k, cols, passive[t], values[t], grad[t], B[t], steps[t], tol)


def working_set(g: np.ndarray, passive: np.ndarray, size: int) -> np.ndarray:
    """The columns a problem's steps run on: its passive set and the ``size`` largest
    gradients g (n,), sorted; every column when n <= size."""
    n = len(g)
    if n <= size:
        return np.arange(n)
    return np.union1d(np.argpartition(-g, size)[:size], passive)


def _violation(g: np.ndarray, P: list[int]) -> float:
    """The largest violation of the KKT conditions: max_j g_j, and |g_j| on the passive set."""
    return float(max(np.max(g), np.max(np.abs(g[P])) if len(P) else -np.inf))


def _write(out, k, cols: Columns, P, x, g, b, steps, tol) -> None:
    """Row k of ``out`` from the passive set P, its values x, the gradient g (n,) and b."""
    certified = out["kkt"][k] <= tol
    if len(P):
        fitted = cols.A[:, P] @ x
        out["pearson"][k] = float(b @ fitted / np.linalg.norm(fitted))
        u = x / cols.scale[P]
        out["u"][k, P] = np.maximum(u / np.max(u), U_FLOOR)
        status = Status.OPTIMAL
    else:  # no positive correlation: the best single column (g = A^T b at x = 0)
        best = int(np.argmax(np.where(cols.scale < np.inf, g, -np.inf)))
        out["pearson"][k] = float(g[best])
        out["u"][k, best] = 1.0
        status = Status.NO_POSITIVE_CORRELATION
    out["iterations"][k] = steps
    out["status"][k] = int(status if certified else Status.ITERATION_LIMIT)
