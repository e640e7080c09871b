"""The NNLS warm start against scipy.optimize.nnls (an independent Lawson-Hanson code)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.optimize as so

import timbre_jax  # noqa: F401
from conftest import needs_mirror
from timbre_jax.core.pearson import pair_differences
from timbre_jax.core.reductions import EPS
from timbre_jax.data import datasets, registry
from timbre_jax.data.download import MissingUpstreamFile
from timbre_jax.optim.nnls import nnls, warm_start
from timbre_jax.optim.starts import host_nnls_start
from timbre_jax.solvers import Lbfgsb

jnnls = jax.jit(nnls)


def objective(D, s, x):
    return float(np.sum((D @ x - s) ** 2))


def assert_same_objective(D, s, x):
    ref, _ = so.nnls(D, s, maxiter=10 * D.shape[1])
    got, want = objective(D, s, x), objective(D, s, ref)
    # relative to the optimum, floored so that an exact fit (residual 0) compares absolutely
    assert abs(got - want) <= 1e-8 * max(want, 1e-12 * float(s @ s)), (got, want)
    assert np.all(x >= 0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", [(10, 3), (45, 45), (30, 200), (190, 128)])
def test_random_problems_match_scipy(shape, seed):
    rng = np.random.default_rng(seed)
    D = rng.random(shape) ** 3 * 10 ** rng.uniform(-4, 1, shape[1])  # columns over five decades
    s = rng.random(shape[0])
    assert_same_objective(D, s, np.asarray(jnnls(D, s)))


def test_mask_equals_dropping_rows():
    rng = np.random.default_rng(0)
    D, s = rng.random((40, 25)), rng.random(40)
    mask = (rng.random(40) > 0.3).astype(float)
    x_masked = np.asarray(jnnls(D, s, mask))
    x_dropped = np.asarray(jnnls(D[mask > 0], s[mask > 0]))
    np.testing.assert_allclose(x_masked, x_dropped, rtol=1e-9, atol=1e-12)


def test_vmap_equals_one_by_one():
    rng = np.random.default_rng(1)
    D, s = rng.random((4, 30, 20)), rng.random((4, 30))
    batch = np.asarray(jax.jit(jax.vmap(nnls))(D, s))
    for k in range(4):
        np.testing.assert_allclose(batch[k], np.asarray(jnnls(D[k], s[k])), rtol=1e-12, atol=1e-14)


def test_warm_start_formula():
    D = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = np.array([0.25, 0.0, 0.25])  # x = (0.25, 0) exactly
    w0 = np.asarray(warm_start(D, s))
    np.testing.assert_allclose(w0, [1 / np.sqrt(0.25 + EPS), 1 / np.sqrt(EPS)])


def check_all_datasets(rep):
    """Every dataset of one representation against scipy."""
    for d in registry.PAPER:
        try:
            fs = datasets.load(d, rep)
        except MissingUpstreamFile:
            assert rep == "stmf", (rep, d)  # 9 strf pickles are absent from the mirror
            continue
        D = np.asarray(pair_differences(fs.features))
        assert_same_objective(D, fs.pairs, np.asarray(jnnls(D, fs.pairs)))


@needs_mirror
@pytest.mark.parametrize("rep", ["encodec", "cochlea"])
def test_all_datasets_match_scipy(rep):
    check_all_datasets(rep)


@needs_mirror
@pytest.mark.slow
@pytest.mark.parametrize("rep", ["stft", "mertav", "scattering", "clap", "mertcat", "stmf"])
def test_all_datasets_match_scipy_large(rep):
    check_all_datasets(rep)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(45, 45), (190, 128)])
def test_host_start_is_the_jax_start(shape, seed):
    """Sequence mode starts from scipy's NNLS on the host: where the NNLS has one solution
    (full column rank) that start is the JAX active set's, in the weights' bounds."""
    lower, upper = Lbfgsb().bounds
    rng = np.random.default_rng(seed)
    D = rng.random(shape) ** 3 * 10 ** rng.uniform(-4, 1, shape[1])  # columns over five decades
    s = rng.random(shape[0])
    host = host_nnls_start(D, s, lower, upper)
    jax_start = np.clip(np.asarray(warm_start(D, s)), lower, upper)
    assert np.sum(host < 1 / np.sqrt(EPS) / 2) >= 3  # some features in the passive set
    np.testing.assert_allclose(host, jax_start, rtol=1e-6)
