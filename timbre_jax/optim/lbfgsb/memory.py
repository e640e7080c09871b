"""The limited memory: the compact L-BFGS model ``B = theta I - W M W^T``,
``W = [Y^T, theta S^T]``, kept as a ring of correction pairs (:class:`Memory`) with the
products of its pairs and the middle matrix ``M`` oldest first; products with ``W``
without forming it; and the update after an iteration (``matupd`` + ``formt``:
:func:`update_memory`, :func:`next_memory`)."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import Array, lax
from jax.scipy.linalg import solve_triangular

from timbre_jax.core.reductions import Sums, divide
from timbre_jax.optim.lbfgsb.tracing import one_at_a_time, select


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


def history_mask(count: Array, m: int) -> Array:
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


def compact_W(S: Array, Y: Array, theta: Array) -> Array:
    """W = [Y^T, theta S^T]: (m, n) x2 -> (n, 2m)."""
    return jnp.concatenate([Y.T, theta * S.T], axis=1)


def _ages(head, m: int) -> tuple[Array, Array]:
    """The ring's order (see :class:`Memory`): ``rows`` (m,), the row of the k-th oldest
    pair, and ``age`` (m,), the age rank of each row."""
    k = jnp.arange(m)
    return (head + k) % m, (k - head) % m


def oldest_first(A: Array, head) -> Array:
    """The rows (or entries) of A in age order: (m, ...) -> (m, ...)."""
    return A[_ages(head, A.shape[0])[0]]


def pairs_oldest_first(mem: Memory) -> tuple[Array, Array]:
    """S, Y (m, n) of a memory with the oldest pair first, the order of its SY, SS, YY and
    M: the rows of W = [Y^T, theta S^T]."""
    return oldest_first(mem.S, mem.head), oldest_first(mem.Y, mem.head)


def combine_rows(A: Array, u: Array, head: Array, sums: Sums) -> Array:
    """sum_k u_k (row of the k-th oldest pair of A) = A^T u in age order: (m, n), (m,) ->
    (n,).  With trees the sum runs over the pairs oldest first (the rows are gathered
    into the fused product); one problem at a time, u goes to the rows instead."""
    if not one_at_a_time(sums):
        return sums.tmv(oldest_first(A, head), u)
    return sums.tmv(A, u[_ages(head, A.shape[0])[1]])


def W_times(mem: Memory, v: Array, sums: Sums) -> Array:
    """W v = Y^T v_1 + theta S^T v_2: (2m,) -> (n,).  One problem at a time without
    forming W (n, 2m), which costs as much as the product; with trees as the product."""
    m = mem.S.shape[0]
    if not one_at_a_time(sums):
        return sums.mv(compact_W(*pairs_oldest_first(mem), mem.theta), v)
    return combine_rows(mem.Y, v[:m], mem.head, sums) + combine_rows(mem.S, mem.theta * v[m:], mem.head, sums)


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
    return next_memory(mem, jnp.array(True), jnp.array(False), s, y, sy, ss, sums)


def _write_row(A: Array, v: Array, row: Array, keep: Array, zero: Array, sums: Sums) -> Array:
    """A (m, n) with ``v`` (n,) written into ``row`` if ``keep``, all zero if ``zero``.

    The write is in place (a loop-carried buffer); so is the reset one problem at a
    time, where ``lax.cond`` skips it, while a select would read and write all of A.
    Writing only if not ``zero`` changes nothing but orders the write after the products
    that ``zero`` depends on (the new middle matrix): XLA copies A otherwise."""
    A = A.at[row].set(jnp.where(keep & ~zero, v, A[row]))
    if not one_at_a_time(sums):
        return jnp.where(zero, 0.0, A)
    return lax.cond(zero, jnp.zeros_like, lambda a: a, A)


def next_memory(
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
    valid = history_mask(count, m)

    def aged(v):  # (m,) products with the rows, in the new age order
        v = oldest_first(v, mem.head)
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
    small = select(keep, (SY, SS, count, theta, M, YY, head), old)
    empty = empty_memory(n, m, s.dtype)
    SY, SS, count, theta, M, YY, head = select(
        zero, (empty.SY, empty.SS, empty.count, empty.theta, empty.M, empty.YY, empty.head), small
    )
    return Memory(
        S=_write_row(mem.S, s, row, keep, zero, sums),
        Y=_write_row(mem.Y, y, row, keep, zero, sums),
        SY=SY, SS=SS, count=count, theta=theta, M=M, YY=YY, head=head,
    )  # fmt: skip
