"""The reward and its exact gradient, checked against autodiff and invariance laws."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import timbre_jax  # noqa: F401  (float64)
from timbre_jax.core.pearson import condensed, pair_differences, pearson, pearson_and_grad, standardize_ratings


def plain_pearson(D, w, s, mask):
    """Textbook masked Pearson, written independently of timbre_jax.core.pearson."""
    d = D @ (1.0 / w ** 2)
    N = mask.sum()
    md, ms = (mask * d).sum() / N, (mask * s).sum() / N
    cov = (mask * (d - md) * (s - ms)).sum()
    return cov / jnp.sqrt((mask * (d - md) ** 2).sum() * (mask * (s - ms) ** 2).sum())


@st.composite
def problems(draw):
    # A few shapes, random values: every new shape recompiles the eager JAX ops (about
    # 3 s each on this CPU); the laws are about values, and these shapes keep the edges
    # (3 sounds, 1 feature, no padding) and the size of the real problems.
    l = draw(st.sampled_from([3, 20]))
    n = draw(st.sampled_from([1, 300]))
    pad = draw(st.sampled_from([0, 11]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((l, n)) * 10 ** rng.uniform(-3, 1, n)
    D = np.asarray(pair_differences(F))
    p = len(D)
    s = rng.uniform(0, 1, p)
    mask = (rng.uniform(size=p) > draw(st.floats(0, 0.6))).astype(float)
    mask[:3] = 1.0
    s[:3] = [0.1, 0.5, 0.9]  # ratings vary over the rated pairs
    # padding: garbage rows that the mask must hide
    D = np.vstack([D, rng.uniform(0, 5, (pad, n))])
    s = np.concatenate([s, rng.uniform(0, 1, pad)])
    mask = np.concatenate([mask, np.zeros(pad)])
    w = 10 ** rng.uniform(0, 15, n) if draw(st.booleans()) else 10 ** rng.uniform(0, 2, n)
    return D, w, s, mask


@settings(max_examples=50, deadline=None)
@given(problems())
def test_gradient_equals_autodiff(problem):
    D, w, s, mask = map(jnp.asarray, problem)
    P, g = pearson_and_grad(D, w, standardize_ratings(s, mask), mask)
    P_ref = plain_pearson(D, w, s, mask)
    g_ref = jax.grad(plain_pearson, argnums=1)(D, w, s, mask)
    assert abs(P - P_ref) <= 1e-12
    # Relative error per weight, measured against the size of the terms that the chain
    # rule sums for that weight (a component can cancel to ~0; its terms cannot).
    _, g_d = jax.value_and_grad(lambda d: _pearson_d(d, s, mask))(D @ w ** -2.0)
    scale = 2.0 * w ** -3.0 * (jnp.abs(g_d) @ D)
    err = jnp.abs(g - g_ref) / jnp.maximum(scale, 1e-300)
    assert float(jnp.max(err)) <= 1e-9


def _pearson_d(d, s, mask):
    N = mask.sum()
    md, ms = (mask * d).sum() / N, (mask * s).sum() / N
    return (mask * (d - md) * (s - ms)).sum() / jnp.sqrt(
        (mask * (d - md) ** 2).sum() * (mask * (s - ms) ** 2).sum())


@settings(max_examples=25, deadline=None)
@given(problems(), st.floats(0.01, 100), st.floats(-5, 5), st.floats(1e-3, 1e3))
def test_pearson_invariances(problem, a, b, c):
    D, w, s, mask = map(jnp.asarray, problem)
    P = pearson(D, w, s, mask)
    assert pearson(D, w, a * s + b, mask) == pytest.approx(float(P), abs=1e-10)
    assert pearson(D, c * w, s, mask) == pytest.approx(float(P), abs=1e-10)


@settings(max_examples=25, deadline=None)
@given(problems())
def test_padding_and_unrated_pairs_change_nothing(problem):
    D, w, s, mask = problem
    keep = mask > 0
    P_masked = pearson(jnp.asarray(D), w, s, mask)
    P_compact = pearson(jnp.asarray(D[keep]), w, s[keep], np.ones(keep.sum()))
    assert float(P_masked) == pytest.approx(float(P_compact), abs=1e-12)


def test_hand_computed_case():
    # three sounds on a line at 0, 1, 3: pairs (0,1), (0,2), (1,2) -> d = 1, 9, 4 with w = 1
    F = np.array([[0.0], [1.0], [3.0]])
    D = pair_differences(F)
    np.testing.assert_allclose(D[:, 0], [1, 9, 4])
    s = np.array([0.1, 0.9, 0.4])
    assert float(pearson(D, np.ones(1), s, np.ones(3))) == pytest.approx(np.corrcoef([1, 9, 4], s)[0, 1])
    R = np.array([[np.nan, 0.1, 0.9], [0.1, np.nan, 0.4], [0.9, 0.4, np.nan]])
    np.testing.assert_array_equal(condensed(R), s)


def test_matches_numpy_corrcoef_on_real_shapes():
    rng = np.random.default_rng(3)
    F = rng.random((20, 513))
    D = pair_differences(F)
    w = 10 ** rng.uniform(0, 3, 513)
    s = rng.random(190)
    d = np.asarray(D) @ w ** -2.0
    assert float(pearson(D, w, s, np.ones(190))) == pytest.approx(np.corrcoef(d, s)[0, 1], abs=1e-12)
