"""timbre_jax.optim.lbfgsb against scipy's L-BFGS-B (the independent reference).

Compilation dominates the cost here (seconds per compiled configuration), so every
solve goes through :func:`compiled`, one jitted function per (objective, options,
method, batched): tests that use the same options on the same shapes share one
compilation, and problems of one kind pass their data as ``*args`` so that one compiled
``run`` serves every seed.
"""

from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize, nnls

from timbre_jax.core import pearson
from timbre_jax.core.reductions import INVARIANT, PLAIN
from timbre_jax.optim.lbfgsb import (
    LBFGSB,
    LBFGSBOptions,
    Status,
    cauchy,
    cauchy_point,
    empty_memory,
    pairs_oldest_first,
    subspace,
    update_memory,
)
from timbre_jax.optim.lbfgsb.cauchy import cauchy_walk, generalized_cauchy_point
from timbre_jax.optim.lbfgsb.memory import compact_W, next_memory

RUNNING = Status.RUNNING
DEFAULTS = LBFGSBOptions()


@cache
def compiled(fun_and_grad, options=DEFAULTS, method="run", batched=False):
    """``jax.jit`` of ``LBFGSB(fun_and_grad, options).<method>``, vmapped if ``batched``;
    one per configuration, so that equal configurations compile once."""
    f = getattr(LBFGSB(fun_and_grad, options), method)
    return jax.jit(jax.vmap(f) if batched else f)


_JITTED = {}


def scipy_lbfgsb(fun_and_grad, x0, lower, upper, *args, callback=None, **options):
    """scipy's L-BFGS-B with our default options (run to stagnation), or ``options``."""
    jitted = _JITTED.setdefault(fun_and_grad, jax.jit(fun_and_grad))

    def fg(x):
        f, g = jitted(jnp.asarray(x), *args)
        return float(f), np.asarray(g, dtype=float)

    ours = LBFGSBOptions()
    defaults = dict(maxiter=ours.maxiter, maxls=ours.maxls, maxcor=ours.history, ftol=ours.ftol, gtol=ours.gtol)
    return minimize(
        fg, np.asarray(x0, float), jac=True, method="L-BFGS-B",
        bounds=list(zip(np.asarray(lower, float), np.asarray(upper, float))),
        options=defaults | options, callback=callback,
    )


def active_set(x, lower, upper, tol=1e-9):
    x = np.asarray(x)
    at_lower = set(np.flatnonzero(np.abs(x - lower) <= tol))
    return at_lower, set(np.flatnonzero(np.abs(upper - x) <= tol))


# ------------------------------------------------------------------------ problems


def quadratic(x, A, b, offset=0.0, sign=1.0):
    """offset + 0.5 x^T A x + b^T x and its gradient, times ``sign`` (-1: a lie)."""
    Ax = A @ x
    return offset + 0.5 * x @ Ax + b @ x, sign * (Ax + b)


def random_quadratic(seed, n=20, cond=100.0):
    """SPD A with the given condition number, a b pushing some variables onto bounds."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(np.geomspace(1.0, cond, n)) @ Q.T
    b = 5.0 * rng.standard_normal(n)
    lower = np.full(n, -1.0)
    upper = np.full(n, 1.0)
    lower[:3] = -np.inf  # some one-sided and free variables
    upper[3:5] = np.inf
    x0 = rng.uniform(-0.9, 0.9, n)
    return x0, lower, upper, A, b


def rosenbrock(x):
    def f(z):
        return jnp.sum(100.0 * (z[1:] - z[:-1] ** 2) ** 2 + (1.0 - z[:-1]) ** 2)

    return f(x), jax.grad(f)(x)


def neg_pearson(w, D, s_hat, mask):
    P, dP = pearson.pearson_and_grad(D, w, s_hat, mask)
    return -P, -dP


def random_timbre(seed, l=12, n=50):
    rng = np.random.default_rng(seed)
    feats = rng.gamma(2.0, 1.0, (l, n)) * rng.uniform(0.1, 10.0, n)
    D = np.asarray(pearson.pair_differences(feats))
    s = rng.uniform(0.0, 1.0, D.shape[0])
    mask = np.ones_like(s)
    s_hat = np.asarray(pearson.standardize_ratings(jnp.asarray(s), jnp.asarray(mask)))
    w0 = 1.0 / np.sqrt(nnls(D, s)[0] + np.finfo(float).eps)
    return w0, D, s_hat, mask


QUAD_RUN = compiled(quadratic)
QUAD_INIT = compiled(quadratic, method="init")
QUAD_UPDATE = compiled(quadratic, method="update")
QUAD_BATCH = compiled(quadratic, batched=True)  # used with batches of 3 problems


# ---------------------------------------------------------------- scipy agreement


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quadratic_matches_scipy(seed):
    x0, lo, hi, A, b = random_quadratic(seed)
    st = QUAD_RUN(x0, lo, hi, A, b)
    ref = scipy_lbfgsb(quadratic, x0, lo, hi, A, b)
    # Run to stagnation, the last stop is a matter of rounding (ABNORMAL included).
    assert int(st.status) in (Status.CONVERGED_PGTOL, Status.CONVERGED_FTOL, Status.ABNORMAL_LINE_SEARCH)
    np.testing.assert_allclose(st.x, ref.x, atol=1e-6)
    assert abs(float(st.f) - ref.fun) <= 1e-10 * abs(ref.fun)
    assert active_set(st.x, lo, hi) == active_set(ref.x, lo, hi)
    assert active_set(ref.x, lo, hi) != (set(), set())  # the bounds do matter


def test_rosenbrock_with_bounds_matches_scipy():
    n = 10
    x0 = np.random.default_rng(0).uniform(-2.0, 2.0, n)
    lo, hi = np.full(n, -1.5), np.full(n, 0.8)
    lo[3], hi[5] = -np.inf, np.inf
    st = compiled(rosenbrock)(x0, lo, hi)
    ref = scipy_lbfgsb(rosenbrock, x0, lo, hi)
    np.testing.assert_allclose(st.x, ref.x, atol=1e-6)
    assert abs(float(st.f) - ref.fun) <= 1e-10 * abs(ref.fun)
    assert active_set(st.x, lo, hi) == active_set(ref.x, lo, hi)
    assert active_set(ref.x, lo, hi)[1]  # upper bounds active at the optimum


def test_first_iterates_equal_scipys():
    x0, lo, hi, A, b = random_quadratic(3)
    iterates = []
    record = lambda xk: iterates.append(xk.copy())  # noqa: E731
    scipy_lbfgsb(quadratic, x0, lo, hi, A, b, maxiter=8, callback=record)
    st = QUAD_INIT(x0, lo, hi, A, b)
    for k, ref in enumerate(iterates, start=1):
        st = QUAD_UPDATE(st, lo, hi, A, b)
        assert int(st.iteration) == k
        np.testing.assert_allclose(st.x, ref, rtol=1e-10, atol=1e-12)


def test_unbounded_matches_scipy():
    x0, _, _, A, b = random_quadratic(4)
    lo, hi = np.full(x0.shape, -np.inf), np.full(x0.shape, np.inf)
    st = QUAD_RUN(x0, lo, hi, A, b)
    np.testing.assert_allclose(st.x, np.linalg.solve(A, -b), atol=1e-6)


# ------------------------------------------------------------------ jit and vmap


def test_vmap_equals_solving_each_alone():
    problems = [random_quadratic(seed) for seed in (5, 6, 7)]
    out = QUAD_BATCH(*[np.stack(a) for a in zip(*problems)])
    for i, problem in enumerate(problems):
        # The same compiled batch with other batch-mates: nothing leaks between
        # problems, bit for bit (the same program, the same position in the batch).
        twins = QUAD_BATCH(*[np.stack(a) for a in zip(problem, problem, problem)])
        for before, after in zip(jax.tree.leaves(out), jax.tree.leaves(twins)):
            np.testing.assert_array_equal(before[i], after[i])
        # Alone, unbatched: another program, whose plain sums round differently (the
        # default; see timbre_jax.core.reductions), and rounding run to stagnation moves the
        # end point slightly.
        alone = QUAD_RUN(*problem)
        np.testing.assert_allclose(out.x[i], alone.x, atol=1e-6)
        np.testing.assert_allclose(out.f[i], alone.f, rtol=1e-12)
        # Which rounding test fires last may differ; both stop.
        assert int(out.status[i]) != RUNNING and int(alone.status) != RUNNING


def test_finished_problems_do_not_move():
    # Problem 0 starts at its minimizer (gradient exactly 0); 1 and 2 need iterations.
    x0, lo, hi, A, b = random_quadratic(8)
    zero = np.zeros_like(x0)
    solo = [(zero, lo, hi, A, zero), (x0, lo, hi, A, b), random_quadratic(9)]
    out = QUAD_BATCH(*[np.stack(a) for a in zip(*solo)])
    assert int(out.status[0]) == Status.CONVERGED_PGTOL and int(out.iteration[0]) == 0
    assert int(out.n_fev[0]) == 1
    np.testing.assert_array_equal(out.x[0], zero)
    assert int(out.iteration[1]) > 5 and int(out.iteration[2]) > 5
    # Updating a finished state changes nothing, bit for bit.
    alone = QUAD_RUN(x0, lo, hi, A, b)
    again = QUAD_UPDATE(alone, lo, hi, A, b)
    for (path, before), after in zip(jax.tree_util.tree_leaves_with_path(alone), jax.tree.leaves(again)):
        np.testing.assert_array_equal(before, after, err_msg=jax.tree_util.keystr(path))


# -------------------------------------------------------------- timbre objective


TIMBRE_SEEDS = (0, 1, 3)


@pytest.fixture(scope="module")
def timbre_batch():
    """The problems of TIMBRE_SEEDS solved in one vmapped call: (problems, states)."""
    problems = [random_timbre(seed) for seed in TIMBRE_SEEDS]
    w0, D, s_hat, mask = (np.stack(a) for a in zip(*problems))
    lo, hi = np.ones_like(w0), np.full_like(w0, 1e15)
    return problems, compiled(neg_pearson, batched=True)(w0, lo, hi, D, s_hat, mask)


@pytest.mark.parametrize("index", range(len(TIMBRE_SEEDS)))
def test_timbre_objective_reaches_scipys_explained_variance(timbre_batch, index):
    problems, states = timbre_batch
    w0, D, s_hat, mask = problems[index]
    st = jax.tree.map(lambda a: a[index], states)
    n = D.shape[1]
    lo, hi = np.ones(n), np.full(n, 1e15)
    ref = scipy_lbfgsb(neg_pearson, w0, lo, hi, D, s_hat, mask)
    ev, ev_ref = float(st.f) ** 2, ref.fun**2
    assert int(st.status) != RUNNING
    assert np.all(np.asarray(st.x) >= 1.0) and np.all(np.asarray(st.x) <= 1e15)
    assert ev >= ev_ref - 0.002, (ev, ev_ref)
    # The reported f is the objective at the reported x.
    np.testing.assert_allclose(neg_pearson(st.x, D, s_hat, mask)[0], st.f, rtol=1e-12)


# ------------------------------------------------------------------------ status


def reason(message: str) -> tuple:
    """What a stopping message says, in words scipy's versions share."""
    return "PGTOL" in message, "FACTR" in message, message.startswith("STOP"), message.startswith("ABNORMAL")


def test_status_codes():
    """One solver, four problems, each ending with a different status (one vmapped call),
    for the reason scipy gives on the same problem; and which of them count as converged."""
    x0, lo, hi, A, b = random_quadratic(10, cond=1e6)
    n = x0.shape[0]
    problems = [
        (x0, lo, hi, A, b, 0.0, 1.0),  # ill-conditioned: still going at maxiter
        (x0, lo, hi, np.eye(n), b, 0.0, 1.0),  # B = I is exact: solved in one step
        (x0, lo, hi, A, b, 1e12, 1.0),  # an offset makes every decrease relatively tiny
        (x0, lo, hi, A, b, 0.0, -1.0),  # gradient of the wrong sign: no step decreases f
    ]
    tol = dict(gtol=1e-3, ftol=1e-4)
    out = compiled(quadratic, LBFGSBOptions(maxiter=4, maxls=5, **tol), batched=True)(
        *[np.stack(a) for a in zip(*problems)])
    status = [Status(int(s)) for s in out.status]
    assert status == [Status.MAX_ITERATIONS, Status.CONVERGED_PGTOL, Status.CONVERGED_FTOL,
                      Status.ABNORMAL_LINE_SEARCH]
    assert int(out.iteration[0]) == 4
    assert float(out.proj_grad_norm[1]) <= 1e-3
    assert int(out.iteration[3]) == 0
    np.testing.assert_array_equal(out.x[3], np.clip(x0, lo, hi))  # failed steps are undone
    for s, problem in zip(status, problems):
        ref = scipy_lbfgsb(quadratic, *problem, maxiter=4, maxls=5, **tol)
        assert reason(s.message) == reason(ref.message), (s.message, ref.message)
    # Converged: a tolerance met, or a failed line search after a step; the limit and a
    # failure before any step are not.
    assert Status.converged(out.status, out.iteration).tolist() == [False, True, True, False]
    assert Status.converged(np.array([Status.ABNORMAL_LINE_SEARCH]), np.array([3])).tolist() == [True]
    assert not Status.converged(Status.RUNNING, 5)


def test_sums_are_the_options_choice():
    """Plain sums unless the options ask for the fixed trees, which then replace every
    product and sum of the solver (traced only: no compilation)."""
    def f(x):  # an objective without products of its own
        return jnp.sum(x ** 4), 4.0 * x ** 3

    x0, lo, hi = np.full(6, 0.5), -np.ones(6), np.ones(6)

    def primitives(options):
        solver = LBFGSB(f, options)
        return str(jax.make_jaxpr(lambda x: solver.update(solver.init(x, lo, hi), lo, hi))(x0))

    assert LBFGSB(f).sums is PLAIN and LBFGSB(f, LBFGSBOptions(invariant_sums=False)).sums is PLAIN
    assert LBFGSB(f, LBFGSBOptions(invariant_sums=True)).sums is INVARIANT
    plain, trees = primitives(LBFGSBOptions()), primitives(LBFGSBOptions(invariant_sums=True))
    assert "dot_general" in plain and "cumsum" in plain
    assert "dot_general" not in trees and "cumsum" not in trees


def test_options_are_static_and_checked():
    assert hash(LBFGSBOptions(maxiter=5)) == hash(LBFGSBOptions(maxiter=5))
    assert LBFGSBOptions(maxiter=5) != LBFGSBOptions(maxiter=6)
    with pytest.raises(ValueError, match="positive"):
        LBFGSBOptions(history=0)


# ---------------------------------------------------------------- Cauchy point


def test_cauchy_point_is_first_local_minimizer_on_the_path():
    """Independent of scipy: sample the model along the projected-gradient path."""
    rng = np.random.default_rng(11)
    n, m = 12, 4
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = Q @ np.diag(np.geomspace(1.0, 30.0, n)) @ Q.T
    mem = empty_memory(n, m, jnp.float64)
    update = jax.jit(update_memory, static_argnames="sums")
    for _ in range(6):  # more pairs than slots: exercises the roll
        s = rng.standard_normal(n)
        y = H @ s
        mem = update(mem, jnp.asarray(s), jnp.asarray(y), s @ y, s @ s, sums=PLAIN)
    assert int(mem.count) == m
    S, Y = pairs_oldest_first(mem)
    W = jnp.concatenate([Y.T, mem.theta * S.T], axis=1)
    B = mem.theta * np.eye(n) - np.asarray(W @ mem.M @ W.T)
    assert np.all(np.linalg.eigvalsh(B) > 0)

    x = rng.uniform(-1.0, 1.0, n)
    lo, hi = np.full(n, -1.0), np.full(n, 1.0)
    lo[0] = x[0]  # one variable already at its bound
    g = 3.0 * rng.standard_normal(n)
    x_, g_, lo_, hi_ = map(jnp.asarray, (x, g, lo, hi))
    cp = jax.jit(cauchy_point, static_argnames="sums")(x_, g_, lo_, hi_, W, mem.M, mem.theta, sums=PLAIN)

    def model(z):
        dz = z - x
        return g @ dz + 0.5 * dz @ B @ dz

    ts = np.linspace(0.0, 3.0, 300_001)
    path = np.clip(x[None, :] - ts[:, None] * g[None, :], lo, hi)
    steps = path - x
    values = steps @ g + 0.5 * np.sum((steps @ B) * steps, axis=1)
    first_rise = np.argmax(np.diff(values) > 0)
    np.testing.assert_allclose(cp.xcp, path[first_rise], atol=1e-4)
    assert model(np.asarray(cp.xcp)) <= values[first_rise] + 1e-9
    np.testing.assert_allclose(cp.c, np.asarray(W.T @ (cp.xcp - x)), atol=1e-10)
    # Free at the GCP: exactly the variables strictly inside their bounds there.
    inside = (np.asarray(cp.xcp) > lo) & (np.asarray(cp.xcp) < hi)
    np.testing.assert_array_equal(np.asarray(cp.free), inside)


# ------------------------------------------------- one problem at a time (plain sums)
#
# With plain sums (learn's sequence mode) the GCP walks the breakpoints it reaches,
# falling back to the sort of all of them, and the subspace step's sums over the free
# variables come from the few active ones; with fixed trees (lockstep) both are done for
# every variable.  Both must give the reference's iterates.

UPDATE_MEMORY = jax.jit(update_memory, static_argnames="sums")


def random_memory(rng, n, m, pairs, sums=PLAIN):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = Q @ np.diag(np.geomspace(1.0, 10 ** rng.uniform(0, 4), n)) @ Q.T
    mem = empty_memory(n, m, jnp.float64)
    for _ in range(pairs):
        s = rng.standard_normal(n)
        y = H @ s
        mem = UPDATE_MEMORY(mem, jnp.asarray(s), jnp.asarray(y), s @ y, s @ s, sums=sums)
    return mem


def random_path(rng, n, ties):
    """x, g, lower, upper with some variables at or without bounds, some g = 0."""
    lo = np.where(rng.random(n) < 0.8, -1.0, -np.inf)
    hi = np.where(rng.random(n) < 0.8, 1.0, np.inf)
    x = rng.uniform(-1, 1, n)
    x = np.where((rng.random(n) < 0.2) & np.isfinite(lo), lo, x)
    g = rng.standard_normal(n) * 10 ** rng.uniform(-1, 2)
    g[rng.random(n) < 0.1] = 0.0
    if ties:  # equal breakpoints: taken in index order by both
        x, g = np.round(x, 1), np.round(g)
    return [jnp.asarray(a) for a in (x, g, lo, hi)]


def test_cauchy_walk_equals_the_sort_of_all_breakpoints():
    n, m = 24, 4
    full = jax.jit(cauchy_point, static_argnames="sums")
    walk_all = jax.jit(lambda *a: cauchy_walk(*a, PLAIN, max_steps=n + 1))
    walk_2 = jax.jit(lambda *a: cauchy_walk(*a, PLAIN, max_steps=2))
    gcp = jax.jit(lambda *a: generalized_cauchy_point(*a, PLAIN))
    rng = np.random.default_rng(0)
    found_2 = []
    for trial in range(40):
        # Up to 2m pairs: the ring wraps.
        mem = random_memory(rng, n, m, int(rng.integers(0, 2 * m + 1)))
        args = random_path(rng, n, ties=trial % 4 == 0)
        W = compact_W(*pairs_oldest_first(mem), mem.theta)
        ref = full(*args, W, mem.M, mem.theta, sums=PLAIN)
        walks = [walk_all(*args, mem), walk_2(*args, mem), (gcp(*args, mem), True)]
        assert bool(walks[0][1])  # every breakpoint allowed: always found
        found_2.append(bool(walks[1][1]))
        for cp, found in walks:
            if bool(found):
                np.testing.assert_array_equal(cp.free, ref.free)
                np.testing.assert_allclose(cp.xcp, ref.xcp, rtol=1e-12, atol=1e-12)
                scale = max(1.0, float(jnp.max(jnp.abs(ref.c))))
                np.testing.assert_allclose(cp.c, ref.c, rtol=0, atol=1e-11 * scale)
    # Both branches of the fallback were taken (GCP before and after 2 breakpoints).
    assert any(found_2) and not all(found_2)


def test_free_active_sums_by_gathering_equal_the_products():
    m, cap = 5, subspace.ACTIVE_CAP
    rng = np.random.default_rng(1)
    grams = jax.jit(lambda mem, free: subspace.free_active_grams(mem, free, PLAIN))
    for n, n_actives in ((8 * cap, (0, 3, cap, cap + 1, 8 * cap)), (64, (0, 3, 64))):  # gathered or not
        mem = random_memory(rng, n, m, m + 2)  # a wrapped ring
        S, Y = (np.asarray(a) for a in pairs_oldest_first(mem))
        for n_active in n_actives:
            free = np.ones(n, bool)
            free[rng.choice(n, n_active, replace=False)] = False
            Z, A = np.diag(free * 1.0), np.diag(~free * 1.0)
            want = (Y @ Z @ Y.T, S @ A @ S.T, S @ A @ Y.T, S @ Z @ Y.T)
            for a, b in zip(grams(mem, free), want):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


@pytest.mark.parametrize(
    "invariant, walk_steps, active_cap", [(True, 16, 128), (False, 16, 128), (False, 1, 2)]
)
def test_both_formulations_iterate_as_scipy(monkeypatch, invariant, walk_steps, active_cap):
    """Fixed trees (every segment, every variable) and plain sums (the walk, the active
    sums), the latter also with limits so small that every fallback is taken: the first
    iterates are scipy's, and with every fallback taken so are the optima (the default
    plain run's are test_quadratic_matches_scipy's)."""
    monkeypatch.setattr(cauchy, "WALK_STEPS", walk_steps)  # read when JAX traces
    monkeypatch.setattr(subspace, "ACTIVE_CAP", active_cap)  # n = 20 >= 8 * 2: gathered
    solver = LBFGSB(quadratic, LBFGSBOptions(invariant_sums=invariant))
    update = jax.jit(lambda *a: solver.update(*a))  # new functions: traced with the patch
    run = jax.jit(lambda *a: solver.run(*a))
    x0, lo, hi, A, b = random_quadratic(3)
    iterates = []
    scipy_lbfgsb(quadratic, x0, lo, hi, A, b, maxiter=8, callback=lambda xk: iterates.append(xk.copy()))
    st = solver.init(x0, lo, hi, A, b)
    for k, ref in enumerate(iterates, start=1):
        st = update(st, lo, hi, A, b)
        assert int(st.iteration) == k
        np.testing.assert_allclose(st.x, ref, rtol=1e-10, atol=1e-12)
    for seed in (0, 1, 2) if walk_steps == 1 else ():
        x0, lo, hi, A, b = random_quadratic(seed)
        st = run(x0, lo, hi, A, b)
        ref = scipy_lbfgsb(quadratic, x0, lo, hi, A, b)
        np.testing.assert_allclose(st.x, ref.x, atol=1e-6)
        assert abs(float(st.f) - ref.fun) <= 1e-10 * abs(ref.fun)
        assert active_set(st.x, lo, hi) == active_set(ref.x, lo, hi)


@pytest.mark.parametrize("sums", [PLAIN, INVARIANT], ids=["plain", "trees"])
def test_memory_keeps_the_products_of_its_pairs(sums):
    """S Y^T, S S^T and Y Y^T stay those of the pairs, oldest first, once the ring has
    wrapped (6 pairs in 4 rows), and a skipped pair or a reset does what it says."""
    rng = np.random.default_rng(2)
    n, m = 30, 4
    pairs = []
    mem = empty_memory(n, m, jnp.float64)
    for _ in range(6):
        s, y = rng.standard_normal(n), rng.standard_normal(n)
        y += 3.0 * s  # positive curvature
        mem = UPDATE_MEMORY(mem, jnp.asarray(s), jnp.asarray(y), s @ y, s @ s, sums=sums)
        pairs.append((s, y))
    S, Y = (np.asarray(a) for a in pairs_oldest_first(mem))
    np.testing.assert_array_equal(S, np.stack([p[0] for p in pairs[-m:]]))
    np.testing.assert_array_equal(Y, np.stack([p[1] for p in pairs[-m:]]))
    assert int(mem.count) == m and int(mem.head) == 2
    np.testing.assert_allclose(mem.SY, S @ Y.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mem.SS, S @ S.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mem.YY, Y @ Y.T, rtol=1e-12, atol=1e-12)
    s = rng.standard_normal(n)
    y = 3.0 * s + 0.1 * rng.standard_normal(n)  # positive curvature: the pair is kept
    nxt = jax.jit(next_memory, static_argnames="sums")
    skipped = nxt(mem, False, False, s, y, s @ y, s @ s, sums=sums)
    for field, before, after in zip(mem._fields, mem, skipped):
        np.testing.assert_array_equal(before, after, err_msg=field)
    reset = nxt(mem, False, True, s, y, s @ y, s @ s, sums=sums)
    assert int(reset.count) == 0 and not np.any(reset.S) and not np.any(reset.YY)
    kept = nxt(mem, True, False, s, y, s @ y, s @ s, sums=sums)
    Y_kept = np.asarray(pairs_oldest_first(kept)[1])
    np.testing.assert_array_equal(Y_kept, np.concatenate([Y[1:], y[None]]))
    np.testing.assert_allclose(kept.YY, Y_kept @ Y_kept.T, rtol=1e-12, atol=1e-12)
