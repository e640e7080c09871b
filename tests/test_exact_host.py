"""The exact solver's host path (NumPy, timbre_jax.optim.exact_host) against the JAX path that
runs on accelerators (timbre_jax.optim.exact_lockstep, in lockstep), scipy's NNLS and the optimality
conditions: the same optimum on every fit, to 1e-9 in EV."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so

from conftest import needs_mirror
from timbre_jax.core.pearson import pair_differences
from timbre_jax.data import datasets
from timbre_jax.optim import exact_host, exact_lockstep
from timbre_jax.solvers import Exact
from timbre_jax.stats import degradation, heldout, relabelling

HOST, LOCKSTEP = Exact(lockstep=False), Exact(lockstep=True)


def scipy_ev(D, s, mask):
    rated = mask > 0
    A, b = D[rated] - D[rated].mean(0), s[rated] - s[rated].mean()
    norm = np.linalg.norm(A, axis=0)
    norm[norm == 0] = 1
    _, res = so.nnls(A / norm, b, maxiter=50 * A.shape[1])
    return 1 - res ** 2 / (b @ b)


def random_group(seed, l=12, n=40, K=6, duplicates=True):
    """K problems on one D: noisy ratings, a few unrated pairs, duplicated and constant
    feature columns (dependent columns the active set must ban)."""
    rng = np.random.default_rng(seed)
    X = rng.random((l, n))
    if duplicates:
        X[:, 1], X[:, 2], X[:, 3] = X[:, 0], 2 * X[:, 0], 0.5
    D = np.asarray(pair_differences(X))
    p = D.shape[0]
    truth = D @ rng.random(n) ** 4
    ratings = np.clip(truth / truth.max() + 0.2 * rng.standard_normal((K, p)), 0, 1)
    mask = np.ones((K, p))
    mask[K // 2:, rng.choice(p, 5, replace=False)] = 0.0  # the second half: one more mask
    return D, ratings, mask


@pytest.mark.parametrize("seed", range(6))
def test_random_groups_reach_scipys_optimum_and_are_certified(seed):
    D, ratings, mask = random_group(seed, n=[40, 300, 7][seed % 3])
    sol = exact_host.solve_group(D, ratings, mask, working_set=32)  # small: the passes must add columns
    tol = exact_host.tolerance(*D.shape)
    assert np.all(sol.status == exact_lockstep.Status.OPTIMAL) and np.all(sol.kkt <= tol)
    for k in range(len(ratings)):
        assert sol.pearson[k] ** 2 == pytest.approx(scipy_ev(D, ratings[k], mask[k]), abs=1e-10)
        # the weights give the reported P on the rated pairs
        rated = mask[k] > 0
        P = np.corrcoef(D[rated] @ sol.u[k], ratings[k, rated])[0, 1]
        assert P == pytest.approx(sol.pearson[k], abs=1e-10)


def test_the_kkt_conditions_hold_at_the_returned_weights():
    D, ratings, mask = random_group(7, n=60, K=1, duplicates=False)
    sol = exact_host.solve_group(D, ratings, mask)
    cols = exact_host.Columns(D, mask[0])
    b = cols.unit(ratings)[0]
    x = np.where(sol.u[0] > exact_lockstep.U_FLOOR, sol.u[0] * cols.scale, 0.0)
    x *= (b @ (cols.A @ x)) / np.sum((cols.A @ x) ** 2)  # the scale that minimizes |A x - b|
    g = (b - cols.A @ x) @ cols.A
    assert g.max() < 1e-9 and np.abs(g[x > 0]).max() < 1e-9 and (x > 0).sum() >= 2


def test_no_positive_correlation_gives_the_best_single_feature():
    rng = np.random.default_rng(3)
    X = rng.random((8, 5))
    D = np.asarray(pair_differences(X))
    s = 1.0 - D.sum(1) / D.sum(1).max()  # anti-correlated with every distance
    sol = exact_host.solve_group(D, s[None], np.ones((1, len(s))))
    assert sol.status[0] == exact_lockstep.Status.NO_POSITIVE_CORRELATION
    P = [np.corrcoef(D[:, j], s)[0, 1] for j in range(5)]
    assert sol.pearson[0] == pytest.approx(max(P), abs=1e-12) and np.argmax(sol.u[0]) == np.argmax(P)


@needs_mirror
@pytest.mark.parametrize("rep, name, kind", [("cochlea", "Iverson1993_Onset", "robustness"),
                                             pytest.param("scattering", "Patil2012_A3", "null",
                                                          marks=pytest.mark.slow),  # 11 s; two kinds stay
                                             ("clap", "Grey1977", "crossval")])
def test_the_host_path_equals_the_accelerator_path_on_real_sweeps(rep, name, kind):
    """EV of every fit to 1e-9 (scattering's null includes a relabelling on which an
    earlier host path stopped uncertified)."""
    fs = datasets.load(name, rep)
    group = {"robustness": lambda: degradation.make_group(fs, degradation.levels(3), 2, 0),
             "null": lambda: relabelling.make_group(fs, 16, 0),
             "crossval": lambda: heldout.make_group(fs)}[kind]()
    (host,), (jaxed,) = HOST.solve([group]), LOCKSTEP.solve([group])
    assert host.certified.all() and jaxed.certified.all()
    np.testing.assert_allclose(host.pearson ** 2, jaxed.pearson ** 2, rtol=0, atol=1e-9)
