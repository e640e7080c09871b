"""Sums whose rounding does not depend on the batch a problem is solved in.

XLA picks how to vectorize a reduction from the whole array's shape, so the same row
summed alone or inside a vmapped batch can round differently in the last bit, and an
optimizer run for 10^4 iterations amplifies that into visibly different optima.  A
pairwise tree with a fixed shape (pad to a power of two with zeros, then add halves
level by level) has one order of additions whatever surrounds it; adding exact zeros
changes nothing, so padded pairs or features do not change the result either.

The trees cost: on the CPU they made an L-BFGS-B iteration three times slower than
BLAS products (mertcat, n = 9984: 19.6 vs 6.9 ms).  They are needed only where problems
run in lockstep (vmap); a solve that runs problems one after the other, each in its own
shape, traces its body inside ``batch_invariant(False)`` and gets plain ``dot``/``sum``.
The switch is read when JAX traces, so it must wrap the tracing of a jitted function
whose cache key carries the choice (as ``solve_grouped``'s static ``lockstep`` does).
"""

from __future__ import annotations

from contextlib import contextmanager

import jax
import jax.numpy as jnp
from jax import Array


_INVARIANT = [True]


@contextmanager
def batch_invariant(on: bool):
    """Trace the enclosed code with fixed-tree sums (``True``, the default) or plain ones."""
    _INVARIANT.append(bool(on))
    try:
        yield
    finally:
        _INVARIANT.pop()


def tree_sum(x: Array, axis: int = -1) -> Array:
    """Sum over ``axis`` by a fixed pairwise tree: (..., k, ...) -> (...)."""
    if not _INVARIANT[-1]:
        return jnp.sum(x, axis=axis)
    x = jnp.moveaxis(x, axis, -1)
    k = x.shape[-1]
    size = 1 << max(k - 1, 0).bit_length()
    if size != k:
        x = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (size - k,), x.dtype)], axis=-1)
    while x.shape[-1] > 1:
        x = x[..., 0::2] + x[..., 1::2]
    return x[..., 0]


def cumsum(x: Array) -> Array:
    """Prefix sums along axis 0 by an explicit scan tree (the same adds batched or not)."""
    if not _INVARIANT[-1]:
        return jnp.cumsum(x, axis=0)
    return jax.lax.associative_scan(jnp.add, x, axis=0)


def vdot(a: Array, b: Array) -> Array:
    """(k,), (k,) -> ()."""
    if not _INVARIANT[-1]:
        return jnp.dot(a, b)
    return tree_sum(a * b)


def mv(A: Array, v: Array) -> Array:
    """A @ v: (r, k), (k,) -> (r,)."""
    if not _INVARIANT[-1]:
        return A @ v
    return tree_sum(A * v, axis=-1)


def tmv(A: Array, v: Array) -> Array:
    """A.T @ v: (k, c), (k,) -> (c,)."""
    if not _INVARIANT[-1]:
        return v @ A
    return tree_sum(A * v[:, None], axis=0)


def mm(A: Array, B: Array) -> Array:
    """A @ B: (a, k), (k, c) -> (a, c)."""
    if not _INVARIANT[-1]:
        return A @ B
    return tree_sum(A[:, :, None] * B[None, :, :], axis=1)


def gram(A: Array, B: Array) -> Array:
    """A @ B.T: (a, k), (b, k) -> (a, b)."""
    if not _INVARIANT[-1]:
        return A @ B.T
    return tree_sum(A[:, None, :] * B[None, :, :], axis=-1)


def divide(x: Array, y: Array) -> Array:
    """x / y for a divisor broadcast over x, written x * (1 / y): x (...), y broadcastable.

    XLA's algebraic simplifier rewrites x / broadcast(y) into x * broadcast(1 / y) (two
    roundings instead of one), but not in every program: in a program split over devices,
    the SPMD partitioner's clean-up had merged two broadcasts of the same divisor first,
    and the simplifier then left one of the two divisions alone.  That alone made the same
    problem end at EV 0.5546749 on one CPU device and 0.5546269 on four (Patil2012_A3,
    encodec: ``mm(L.T, P2) / dg`` in :func:`timbre_jax.lbfgsb.middle_matrix`, one last
    bit at iteration 4).  Written as a product with the reciprocal, there is nothing left
    to rewrite, and every program rounds the same way."""
    return x * (1.0 / y)

