"""Non-negative least squares warm start, in JAX (Lawson & Hanson 1974 active set).

The metric's warm start solves

    x = argmin_{x >= 0} || D x - s ||^2,    then    w0_k = 1 / sqrt(x_k + eps),

so that ``d_{w0}^2 = D x`` is the best non-negative linear fit of the ratings.  With
``p <= 190`` pairs the passive (positive) set never holds more than ``p`` features, so it
is kept as a fixed-size list of ``p`` column slots: each least-squares step gathers those
columns into a (p, p) matrix and solves by QR.  Everything is ``jit``/``vmap``-able;
padded pairs (mask 0) are zeroed out of the system.  ``sums`` chooses the reductions
(:mod:`timbre_jax.core.reductions`; plain by default).

It serves problems in lockstep (the GPU), inside the compiled batch.  One problem at a
time (the CPU) :func:`timbre_jax.optim.starts.host_nnls_start` solves the same NNLS with
``scipy.optimize.nnls``, which updates its factorization where this one re-factors the
passive columns at every step (about 0.1 s per problem at p = 128 on one core).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from timbre_jax.core.reductions import EPS, PLAIN, Sums, divide


class NNLSState(NamedTuple):
    x: Array        # (n,) current non-negative solution
    slots: Array    # (p,) int, feature index held by each passive slot
    active: Array   # (p,) bool, slot in use
    iteration: Array


def _solve_passive(A: Array, s: Array, slots: Array, active: Array, sums: Sums) -> Array:
    """Least squares restricted to the passive columns: returns z per slot, (p,)."""
    # Unused slots get a unit row below the system, which pins their z to 0 and keeps
    # the matrix full rank, so a QR solve (much cheaper than lstsq's SVD) applies.
    cols = jnp.concatenate([A[:, slots] * active[None, :], jnp.diag(~active).astype(A.dtype)])
    rhs = jnp.concatenate([s, jnp.zeros(slots.shape, s.dtype)])
    q, r = jnp.linalg.qr(cols)
    z = jax.scipy.linalg.solve_triangular(r, sums.tmv(q, rhs))
    return jnp.where(active, z, 0.0)


def _scatter(n: int, slots: Array, active: Array, values: Array) -> Array:
    return jnp.zeros(n, values.dtype).at[jnp.where(active, slots, n)].set(values, mode="drop")


def nnls(D: Array, s: Array, mask: Array | None = None, *, maxiter: int | None = None,
         sums: Sums = PLAIN) -> Array:
    """argmin_{x >= 0} ||D x - s||^2 over the pairs with ``mask`` 1.

    Shapes: D (p, n), s (p,), mask (p,) -> x (n,).  ``maxiter`` bounds the outer
    iterations (default ``3 n``, as scipy).
    """
    p, n = D.shape
    mask = jnp.ones(p) if mask is None else mask
    A = D * mask[:, None]
    # Unit-norm columns make the active-set tests scale free: spectral features span
    # many decades, and a column of norm 1e-6 with a gradient below tolerance can still
    # lower the residual a lot.  x is mapped back at the end.
    scale = jnp.sqrt(sums.tree_sum(A * A, axis=0))
    scale = jnp.where(scale > 0, scale, 1.0)
    A = divide(A, scale)
    b = jnp.where(mask > 0, s, 0.0)
    maxiter = 3 * n if maxiter is None else maxiter
    tol = 10 * EPS * max(p, n)

    def gradient(x):
        return sums.tmv(A, b - sums.mv(A, x))

    def inner(carry):
        # Step back towards the feasible x until the passive solution is positive.
        x, slots, active, z = carry
        xs = x[slots]
        bad = active & (z <= tol)
        alpha = jnp.min(jnp.where(bad, xs / jnp.where(bad, xs - z, 1.0), jnp.inf))
        xs = xs + alpha * (z - xs)
        active = active & ~(bad & (xs <= tol))
        xs = jnp.where(active, xs, 0.0)
        x = _scatter(n, slots, active, xs)
        return x, slots, active, _solve_passive(A, b, slots, active, sums)

    def outer_cond(state: NNLSState):
        w = gradient(state.x)
        passive = _scatter(n, state.slots, state.active, jnp.ones(p, bool))
        room = jnp.any(~state.active)
        return (state.iteration < maxiter) & room & jnp.any(~passive & (w > tol))

    def outer(state: NNLSState):
        w = gradient(state.x)
        passive = _scatter(n, state.slots, state.active, jnp.ones(p, bool))
        j = jnp.argmax(jnp.where(passive, -jnp.inf, w))
        free = jnp.argmin(state.active)  # first unused slot
        slots = state.slots.at[free].set(j)
        active = state.active.at[free].set(True)
        z = _solve_passive(A, b, slots, active, sums)
        x, slots, active, z = jax.lax.while_loop(
            lambda c: jnp.any(c[2] & (c[3] <= tol)), inner, (state.x, slots, active, z)
        )
        return NNLSState(_scatter(n, slots, active, z), slots, active, state.iteration + 1)

    init = NNLSState(jnp.zeros(n, D.dtype), jnp.zeros(p, int), jnp.zeros(p, bool), jnp.asarray(0))
    return jax.lax.while_loop(outer_cond, outer, init).x / scale


def warm_start(D: Array, s: Array, mask: Array | None = None, *, sums: Sums = PLAIN) -> Array:
    """NNLS warm start w0 = 1 / sqrt(x + eps): (n,), at most 1 / sqrt(eps); the caller
    projects it into its bounds."""
    x = nnls(D, s, mask, sums=sums)
    return 1.0 / jnp.sqrt(x + EPS)
