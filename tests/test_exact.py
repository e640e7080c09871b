"""The exact solver: the global optimum of P, checked against scipy.optimize.nnls with an
intercept (an independent Lawson-Hanson code), the KKT conditions and the laws the
optimum obeys (invariances, monotonicity in the features, nothing beats it)."""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st

import timbre_jax
from conftest import needs_mirror
from timbre_jax import cli, solvers
from timbre_jax.core.pearson import pair_differences
from timbre_jax.data import datasets, registry
from timbre_jax.errors import FitError, UsageError
from timbre_jax.fit.learn import learn_metric, learn_metrics
from timbre_jax.optim import exact_lockstep
from timbre_jax.solvers import Exact, Lbfgsb

jsolve = jax.jit(exact_lockstep.solve)
L, N = 8, 12  # fixed shapes for the property tests: one compilation
P_PAIRS = L * (L - 1) // 2


def reference_ev(D, s):
    """R^2 of the NNLS of the centred ratings on the centred columns (scipy), rated pairs only."""
    rated = np.isfinite(s)
    A, b = D[rated] - D[rated].mean(0), s[rated] - s[rated].mean()
    norm = np.linalg.norm(A, axis=0)
    norm[norm == 0] = 1
    _, res = so.nnls(A / norm, b, maxiter=50 * A.shape[1])
    return 1 - res ** 2 / (b @ b)


def pearson_np(D, s, u):
    rated = np.isfinite(s)
    return float(np.corrcoef(D[rated] @ u, s[rated])[0, 1])


def solve_np(D, s):
    rated = np.isfinite(s)
    sol = jsolve(D, np.where(rated, s, 0.0), rated.astype(float))
    return sol, np.asarray(sol.u)


def problem(seed, nan_fraction=0.0, n=N):
    rng = np.random.default_rng(seed)
    F = rng.random((L, n)) ** 2 * 10 ** rng.uniform(-3, 1, n)  # columns over four decades
    D = np.asarray(pair_differences(F))
    s = rng.random(P_PAIRS)
    s[rng.random(P_PAIRS) < nan_fraction] = np.nan
    return F, D, s


seeds = st.integers(0, 2 ** 31 - 1)


@settings(max_examples=20, deadline=None)
@given(seeds, st.sampled_from([0.0, 0.3]))
def test_random_problems_match_scipy_and_the_weights_give_the_reported_ev(seed, nan_fraction):
    _, D, s = problem(seed, nan_fraction)
    sol, u = solve_np(D, s)
    ev = float(sol.pearson) ** 2
    assert int(sol.status) == exact_lockstep.Status.OPTIMAL
    assert ev == pytest.approx(reference_ev(D, s), abs=1e-9)
    # recomputed with numpy from the weights the user gets
    w = np.asarray(exact_lockstep.weights(sol.u))
    assert np.all(w >= 1) and np.all(w <= 1e15)
    assert pearson_np(D, s, w ** -2.0) ** 2 == pytest.approx(ev, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(seeds)
def test_kkt_conditions_hold_at_the_returned_weights(seed):
    _, D, s = problem(seed, 0.2)
    _, u = solve_np(D, s)
    rated = np.isfinite(s)
    A, b = D[rated] - D[rated].mean(0), s[rated] - s[rated].mean()
    norm = np.linalg.norm(A, axis=0)
    A, b = A / norm, b / np.linalg.norm(b)
    x = u * norm
    x *= (A @ x) @ b / ((A @ x) @ (A @ x))  # the best scale of the direction u (P ignores it)
    g = A.T @ (b - A @ x)
    used = u > 1e-20
    assert np.all(np.abs(g[used]) <= 1e-9), g[used]  # stationary in the used features
    assert np.all(g[~used] <= 1e-9), g[~used]         # no unused feature would help


@settings(max_examples=15, deadline=None)
@given(seeds, st.integers(0, 2 ** 31 - 1))
def test_no_weights_beat_the_optimum(seed, wseed):
    _, D, s = problem(seed)
    sol, _ = solve_np(D, s)
    w = 10 ** np.random.default_rng(wseed).uniform(0, 3, N)
    P = pearson_np(D, s, w ** -2.0)
    assert max(P, 0) ** 2 <= float(sol.pearson) ** 2 + 1e-12
    gap = timbre_jax.optimality_gap(*_features_ratings(seed), w)
    # the optimum by scipy's NNLS with an intercept, independently of the solver
    assert gap == pytest.approx(reference_ev(D, s) - max(P, 0) ** 2, abs=1e-9)
    assert gap == pytest.approx(float(sol.pearson) ** 2 - max(P, 0) ** 2, abs=1e-9)


def _features_ratings(seed):
    F, _, s = problem(seed)
    return F, s


@settings(max_examples=12, deadline=None)
@given(seeds, st.floats(0.01, 100), st.floats(-10, 10))
def test_invariant_to_the_scale_and_shift_of_the_ratings(seed, scale, shift):
    _, D, s = problem(seed)
    base, _ = solve_np(D, s)
    moved, _ = solve_np(D, scale * s + shift)
    assert float(moved.pearson) == pytest.approx(float(base.pearson), abs=1e-9)


@settings(max_examples=12, deadline=None)
@given(seeds)
def test_invariant_to_permuting_and_rescaling_feature_columns(seed):
    F, D, s = problem(seed)
    rng = np.random.default_rng(seed + 1)
    perm = rng.permutation(N)
    c = 10 ** rng.uniform(-2, 2, N)
    base, u = solve_np(D, s)
    other, u2 = solve_np(np.asarray(pair_differences(F[:, perm] * c[perm])), s)
    assert float(other.pearson) == pytest.approx(float(base.pearson), abs=1e-9)
    # the same distances up to scale: new column k is c[perm[k]]^2 times old column perm[k]
    back = np.zeros(N)
    back[perm] = c[perm] ** 2 * u2
    d1, d2 = D @ u, D @ back
    np.testing.assert_allclose(d2 / np.linalg.norm(d2), d1 / np.linalg.norm(d1), atol=1e-7)


@settings(max_examples=12, deadline=None)
@given(seeds)
def test_adding_a_feature_never_lowers_the_optimum(seed):
    F, D, s = problem(seed, n=N + 1)
    fewer, _ = solve_np(D[:, :N], s)
    more, _ = solve_np(D, s)
    assert float(more.pearson) >= float(fewer.pearson) - 1e-12


def test_no_positive_correlation_is_reported_with_the_best_single_feature():
    rng = np.random.default_rng(3)
    F = rng.random((L, 2))
    D = np.asarray(pair_differences(F))
    s = -(D[:, 0] + 2 * D[:, 1]) + 0.01 * rng.standard_normal(P_PAIRS)  # both features anti-correlate
    res = learn_metric(F, s, solver=Exact())
    singles = [np.corrcoef(D[:, j], s)[0, 1] for j in range(2)]
    assert max(singles) < 0
    assert res.status == exact_lockstep.Status.NO_POSITIVE_CORRELATION and res.certified
    assert "NO NON-NEGATIVE WEIGHTING CORRELATES POSITIVELY" in res.message
    assert res.pearson == pytest.approx(max(singles), abs=1e-9)  # an honest negative number
    assert res.explained_variance == 0.0
    assert pearson_np(D, s, res.weights ** -2.0) == pytest.approx(res.pearson, abs=1e-9)


def test_a_constant_feature_is_never_the_best_single_feature():
    # Feature 0 differs by the same amount on every pair (zero centred norm: its P is
    # undefined); feature 1 anti-correlates with the ratings.  The answer is feature 1.
    rng = np.random.default_rng(5)
    F = np.column_stack([np.zeros(L), rng.random(L)])
    D = np.asarray(pair_differences(F))
    s = -D[:, 1] + 0.01 * rng.standard_normal(P_PAIRS)
    res = learn_metric(F, s, solver=Exact())
    assert res.status == exact_lockstep.Status.NO_POSITIVE_CORRELATION
    assert res.pearson == pytest.approx(np.corrcoef(D[:, 1], s)[0, 1], abs=1e-9)
    assert res.weights[1] == 1.0 and res.weights[0] == 1e15


def test_starts_belong_to_lbfgsb_and_unknown_solvers_are_refused():
    F, _, s = problem(0)
    with pytest.raises(TypeError, match="starts"):
        Exact(starts=3)  # not an option of the exact solver
    for option in ("starts", "maxiter"):
        with pytest.raises(UsageError, match=f"the exact solver has no option {option} \\(an option of lbfgsb\\)"):
            solvers.named("exact", **{option: 3})
    assert solvers.named("lbfgsb", starts=3) == Lbfgsb(starts=3)
    with pytest.raises(UsageError, match="unknown solver 'newton'; choose from .*exact"):
        solvers.named("newton")
    for name in ("exact", "newton"):
        with pytest.raises(TypeError, match="solver must be a timbre_jax.solvers object"):
            learn_metric(F, s, solver=name)  # strings name solvers only at the command line
    with pytest.raises(FitError, match="positive finite"):
        timbre_jax.optimality_gap(F, s, -np.ones(N))


def test_batch_of_unequal_problems_equals_one_by_one():
    probs = [problem(k, 0.2)[0::2] for k in range(3)]
    probs.append((np.random.default_rng(9).random((5, N)), np.random.default_rng(9).random(10)))  # 5 sounds
    batch = learn_metrics(probs, solver=Exact())
    for (F, s), b in zip(probs, batch):
        alone = learn_metric(F, s, solver=Exact())
        assert b.explained_variance == pytest.approx(reference_ev(np.asarray(pair_differences(F)), s), abs=1e-9)
        assert b.pearson == pytest.approx(alone.pearson, abs=1e-12)
        np.testing.assert_allclose(b.weights, alone.weights, rtol=1e-9)
        assert b.certified


# ----------------------------------------------------------------------------- real data

def certify_every_fit(rep):
    sets = [datasets.load(d, rep) for d in registry.PAPER
            if rep != "stmf" or d.startswith(("Barthet", "Patil", "Sieden"))]
    results = learn_metrics([(fs.features, fs.ratings) for fs in sets], solver=Exact())
    for fs, res in zip(sets, results):
        D = np.asarray(pair_differences(fs.features))
        assert res.certified, (rep, fs.dataset, res.message)
        assert np.all(res.weights >= 1) and np.all(res.weights <= 1e15)
        assert res.explained_variance == pytest.approx(reference_ev(D, fs.pairs), abs=1e-6), (rep, fs.dataset)
        assert pearson_np(D, fs.pairs, res.weights ** -2.0) ** 2 == pytest.approx(res.explained_variance, abs=1e-9)
    return sets, results


def lbfgsb_table():
    """The paper solver's Table I on this CPU (docs/results/fits_upstream.csv, 6 decimals)."""
    path = Path(__file__).resolve().parents[1] / "docs" / "results" / "fits_upstream.csv"
    return {(r["representation"], r["dataset"]): float(r["explained_variance"]) for r in csv.DictReader(open(path))}


@needs_mirror
@pytest.mark.parametrize("rep", ["encodec", "cochlea", "mertav", "stft"])
def test_every_upstream_problem_is_scipys_optimum_and_at_least_lbfgsb(rep):
    sets, results = certify_every_fit(rep)
    table = lbfgsb_table()
    for fs, res in zip(sets, results):
        assert res.explained_variance >= table[(rep, fs.dataset)] - 1e-6


@needs_mirror
@pytest.mark.slow
@pytest.mark.parametrize("rep", ["scattering", "clap", "mertcat", "stmf"])
def test_every_upstream_problem_is_scipys_optimum_and_at_least_lbfgsb_large(rep):
    test_every_upstream_problem_is_scipys_optimum_and_at_least_lbfgsb(rep)


@needs_mirror
def test_a_live_lbfgsb_fit_is_below_the_optimum_and_the_gap_says_by_how_much():
    fs = datasets.load("Grey1977", "encodec")
    paper = learn_metric(fs.features, fs.ratings, solver=Lbfgsb(maxiter=500))
    best = learn_metric(fs.features, fs.ratings, solver=Exact())
    gap = timbre_jax.optimality_gap(fs.features, fs.ratings, paper.weights)
    assert paper.explained_variance <= best.explained_variance + 1e-12
    assert gap == pytest.approx(best.explained_variance - paper.explained_variance, abs=1e-9)
    assert timbre_jax.optimality_gap(fs.features, fs.ratings, best.weights) <= 1e-12


@needs_mirror
def test_joint_metric_leaves_out_the_unrated_cross_pairs():
    a, b = datasets.load("Patil2012_A3", "encodec"), datasets.load("Patil2012_DX4", "encodec")
    F, R = datasets.joint_problem([a, b])
    joint = learn_metric(F, R, solver=Exact())
    D = np.vstack([np.asarray(pair_differences(a.features)), np.asarray(pair_differences(b.features))])
    assert joint.explained_variance == pytest.approx(reference_ev(D, np.concatenate([a.pairs, b.pairs])), abs=1e-9)


@needs_mirror
@pytest.mark.slow  # real data, L-BFGS-B's Table I cells: ~25 s; test_convergence runs table --solver lbfgsb by default
def test_table_cli_writes_the_optimum_and_the_gap_beside_lbfgsb(tmp_path):
    out = tmp_path / "t"
    assert cli.main(["--quiet", "table", "--representations", "encodec", "--datasets", "Patil2012_A3,Grey1977",
                     "--solver", "lbfgsb", "--maxiter", "100", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "fits.csv")))
    opt = {r["dataset"]: r for r in csv.DictReader(open(out / "table1_optimum.csv"))}
    for r in rows:
        assert float(r["gap"]) >= -1e-6 and r["certified"] == "True"
        assert float(r["optimum"]) == pytest.approx(float(opt[r["dataset"]]["encodec"]), abs=1e-6)
        assert float(r["optimum"]) == pytest.approx(float(r["explained_variance"]) + float(r["gap"]), abs=2e-6)
    exact_out = tmp_path / "e"
    assert cli.main(["--quiet", "table", "--representations", "encodec", "--datasets", "Patil2012_A3,Grey1977",
                     "--solver", "exact", "--out", str(exact_out)]) == 0
    ex = {r["dataset"]: float(r["encodec"]) for r in csv.DictReader(open(exact_out / "table1.csv"))}
    for d, r in opt.items():
        if d in ("Patil2012_A3", "Grey1977"):
            assert ex[d] == pytest.approx(float(r["encodec"]), abs=1e-6)
