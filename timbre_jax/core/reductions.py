"""Sums whose rounding does not depend on the batch a problem is solved in, or plain ones.

XLA picks how to vectorize a reduction from the whole array's shape, so the same row
summed alone or inside a vmapped batch can round differently in the last bit, and an
optimizer run for 10^4 iterations amplifies that into visibly different optima.  A
pairwise tree with a fixed shape (pad to a power of two with zeros, then add halves
level by level) has one order of additions whatever surrounds it; adding exact zeros
changes nothing, so padded pairs or features do not change the result either.

The trees cost: on the CPU they made an L-BFGS-B iteration three times slower than
BLAS products (mertcat, n = 9984: 19.6 vs 6.9 ms).  They are needed only where problems
run in lockstep (vmap); a solve that runs problems one after the other, each in its own
shape, can use plain ``dot``/``sum``.  The choice is explicit: code that sums takes a
:class:`Sums` (:data:`INVARIANT` or :data:`PLAIN`, or ``sums(invariant)``) and calls its
functions.  The solver's options carry it as a bool
(:class:`timbre_jax.optim.lbfgsb.LBFGSBOptions`), and :class:`timbre_jax.solvers.Lbfgsb` picks
the trees exactly when it runs problems in lockstep.

:data:`EPS`, float64's machine epsilon, and :func:`divide` are here too: the arithmetic
every solver shares.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

EPS = float(jnp.finfo(jnp.float64).eps)  # float64 machine epsilon, 2**-52


def _tree_sum(x: Array, axis: int = -1) -> Array:
    """Sum over ``axis`` by a fixed pairwise tree: (..., k, ...) -> (...)."""
    x = jnp.moveaxis(x, axis, -1)
    k = x.shape[-1]
    size = 1 << max(k - 1, 0).bit_length()
    if size != k:
        x = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (size - k,), x.dtype)], axis=-1)
    while x.shape[-1] > 1:
        x = x[..., 0::2] + x[..., 1::2]
    return x[..., 0]


class Sums(NamedTuple):
    """One family of reductions; every member has the shape contract written beside it.

    tree_sum(x, axis=-1): (..., k, ...) -> (...), sum over ``axis``.
    cumsum(x): prefix sums along axis 0.
    vdot(a, b): (k,), (k,) -> ().
    mv(A, v): A @ v, (r, k), (k,) -> (r,).
    tmv(A, v): A.T @ v, (k, c), (k,) -> (c,).
    mm(A, B): A @ B, (a, k), (k, c) -> (a, c).
    gram(A, B): A @ B.T, (a, k), (b, k) -> (a, b).
    """

    tree_sum: Callable
    cumsum: Callable
    vdot: Callable
    mv: Callable
    tmv: Callable
    mm: Callable
    gram: Callable


INVARIANT = Sums(
    tree_sum=_tree_sum,
    # An explicit scan tree: the same adds batched or not.
    cumsum=lambda x: jax.lax.associative_scan(jnp.add, x, axis=0),
    vdot=lambda a, b: _tree_sum(a * b),
    mv=lambda A, v: _tree_sum(A * v, axis=-1),
    tmv=lambda A, v: _tree_sum(A * v[:, None], axis=0),
    mm=lambda A, B: _tree_sum(A[:, :, None] * B[None, :, :], axis=1),
    gram=lambda A, B: _tree_sum(A[:, None, :] * B[None, :, :], axis=-1),
)
"""Fixed-tree sums: a problem rounds the same alone, padded, or inside a vmapped batch."""

PLAIN = Sums(
    tree_sum=lambda x, axis=-1: jnp.sum(x, axis=axis),
    cumsum=lambda x: jnp.cumsum(x, axis=0),
    vdot=jnp.dot,
    mv=lambda A, v: A @ v,
    tmv=lambda A, v: v @ A,
    mm=lambda A, B: A @ B,
    gram=lambda A, B: A @ B.T,
)
"""XLA's own reductions and BLAS products: fast, rounded as the shape around them says."""


def sums(invariant: bool) -> Sums:
    """:data:`INVARIANT` if ``invariant`` else :data:`PLAIN`."""
    return INVARIANT if invariant else PLAIN


def divide(x: Array, y: Array) -> Array:
    """x / y for a divisor broadcast over x, written x * (1 / y): x (...), y broadcastable.

    XLA's algebraic simplifier rewrites x / broadcast(y) into x * broadcast(1 / y) (two
    roundings instead of one), but not in every program: in a program split over devices,
    the SPMD partitioner's clean-up had merged two broadcasts of the same divisor first,
    and the simplifier then left one of the two divisions alone.  That alone made the same
    problem end at EV 0.5546749 on one CPU device and 0.5546269 on four (Patil2012_A3,
    encodec: ``mm(L.T, P2) / dg`` in :func:`timbre_jax.optim.lbfgsb.middle_matrix`, one last
    bit at iteration 4).  Written as a product with the reciprocal, there is nothing left
    to rewrite, and every program rounds the same way."""
    return x * (1.0 / y)
