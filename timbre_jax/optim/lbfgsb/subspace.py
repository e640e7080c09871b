"""Subspace minimization (``cmprlb`` + ``subsm``): the direct primal method on the
variables free at the generalized Cauchy point, with the factorization of its middle
matrix (``formk``), the sums over the free and active variables it needs, and the 3.0
projection / backtracking safeguard."""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array, lax
from jax.scipy.linalg import solve_triangular

from timbre_jax.core.reductions import Sums, divide
from timbre_jax.optim.lbfgsb.cauchy import CauchyPoint
from timbre_jax.optim.lbfgsb.memory import Memory, W_times, combine_rows, history_mask, oldest_first
from timbre_jax.optim.lbfgsb.tracing import one_at_a_time

# One problem at a time and n >= 8 ACTIVE_CAP: the sums over the variables active at
# the GCP are taken over at most this many gathered columns, those over the free ones as
# the whole sum less them.
ACTIVE_CAP = 128


def free_active_grams(mem: Memory, free: Array, sums: Sums):
    """Y Z Z^T Y, S A A^T S, S A A^T Y and S Z Z^T Y (m, m) each, Z / A the free / active
    variables, all oldest first.  Shapes: free (n,) bool -> (m, m) x4.

    Directly, they are four (m, n) x (n, m) products.  On the paper's problems few
    variables are active, so one problem at a time: with none, the Z sums are the
    memory's S Y^T and Y Y^T and the A sums zero; when at most :data:`ACTIVE_CAP` are
    (and n >= 8 of them), the A sums run over their gathered columns and the Z sums are
    the totals less those (S Z Z^T Y = S Y^T - S A A^T Y; Y Z Z^T Y = Y Y^T - Y A A^T Y),
    as the reference's ``formk`` subtracts what leaves the free set: O(m^2) instead of
    O(m^2 n).
    """
    S, Y, SY, YY, head, gram = mem.S, mem.Y, mem.SY, mem.YY, mem.head, sums.gram

    def direct(_=None):
        zf = free.astype(S.dtype)
        af = 1.0 - zf
        S_, Y_ = oldest_first(S, head), oldest_first(Y, head)  # fused into the products
        return gram(Y_ * zf, Y_), gram(S_ * af, S_), gram(S_ * af, Y_), gram(S_ * zf, Y_)

    n = S.shape[1]
    if not one_at_a_time(sums):
        return direct()
    active = ~free
    n_active = jnp.sum(active)

    def none_active(_):
        zero = jnp.zeros_like(SY)
        return YY, zero, zero, SY

    def by_active(_):
        # The first ACTIVE_CAP active indices: top_k of float32 keys (exact integers
        # below 2^24) is one pass, where jnp.nonzero's scatter is several.
        key = jnp.where(active, (n - jnp.arange(n)).astype(jnp.float32), 0.0)
        idx = lax.top_k(key, ACTIVE_CAP)[1]
        keep = jnp.arange(ACTIVE_CAP) < n_active
        SA = jnp.where(keep, oldest_first(S[:, idx], head), 0.0)
        YA = jnp.where(keep, oldest_first(Y[:, idx], head), 0.0)
        SAY = gram(SA, YA)
        return YY - gram(YA, YA), gram(SA, SA), SAY, SY - SAY

    if n < 8 * ACTIVE_CAP or n >= 1 << 24:  # gathering would not pay
        return lax.cond(n_active == 0, none_active, direct, None)
    which = jnp.where(n_active == 0, 0, jnp.where(n_active <= ACTIVE_CAP, 1, 2))
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
    YZY, SAS, SAY, SZY = free_active_grams(mem, free, sums)
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
    r = (-g - theta * (cp.xcp - x) + W_times(mem, mv(mem.M, cp.c), sums)) * zf
    R = _subspace_factor(mem, cp.free, history_mask(mem.count, m), sums)
    wv = jnp.concatenate([oldest_first(mv(Y, r), head), theta * oldest_first(mv(S, r), head)])
    w = solve_triangular(R, wv, trans="T", lower=False)
    w = w * jnp.concatenate([-jnp.ones(m, x.dtype), jnp.ones(m, x.dtype)])
    v = solve_triangular(R, w, lower=False)
    YTv = combine_rows(Y, v[:m], head, sums)
    du = divide(r + divide(YTv, theta) + combine_rows(S, v[m:], head, sums), theta) * zf
    z = _project_or_truncate(x, g, cp.xcp, du, cp.free, lower, upper, sums)
    return z, jnp.all(jnp.isfinite(z))
