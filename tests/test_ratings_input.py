"""Ratings given by users: (l, l) matrices must be symmetric, only NaN means unrated (#14.5)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st

from timbre_jax.core.pearson import condensed, pair_differences
from timbre_jax.core.problems import as_pairs, check_problem
from timbre_jax.data.rating_files import read_matrix
from timbre_jax.errors import DataError, FitError
from timbre_jax.fit.learn import learn_metric
from timbre_jax.solvers import Exact

FEATURES = np.random.default_rng(0).random((5, 3))


def symmetric_ratings(l: int, seed: int, nan_fraction: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((l, l)), 1)
    upper[np.triu(rng.random((l, l)) < nan_fraction, 1)] = np.nan
    full = upper + upper.T  # NaN propagates to both sides
    np.fill_diagonal(full, rng.choice([0.0, np.nan, 7.0]))  # the diagonal is ignored
    return full


@st.composite
def matrices(draw):
    l = draw(st.integers(3, 9))
    return symmetric_ratings(l, draw(st.integers(0, 2**32 - 1)), draw(st.sampled_from([0.0, 0.2, 0.6])))


@settings(max_examples=60, deadline=None)
@given(matrices())
def test_symmetric_matrices_with_nans_are_their_upper_triangle(m):
    l = len(m)
    i, j = np.triu_indices(l, 1)
    got = as_pairs(m, l)
    np.testing.assert_array_equal(got, m[i, j])  # NaN where unrated, on both sides
    np.testing.assert_array_equal(got, condensed(m))


@settings(max_examples=80, deadline=None)
@given(matrices(), st.data())
def test_any_single_asymmetric_entry_is_refused_naming_its_pair(m, data):
    l = len(m)
    i = data.draw(st.integers(0, l - 1), label="i")
    j = data.draw(st.integers(0, l - 1).filter(lambda k: k != i), label="j")
    other = m[j, i]
    # a different number, or NaN on one side only
    candidates = [0.0, 0.5] if np.isnan(other) else [np.nan, other + 0.25, other - 1e-12]
    m = m.copy()
    m[i, j] = data.draw(st.sampled_from(candidates), label="new value")
    a, b = min(i, j), max(i, j)
    with pytest.raises(FitError, match=rf"not symmetric: \({a}, {b}\) is {re.escape(str(m[a, b]))} "
                                       rf"but \({b}, {a}\) is {re.escape(str(m[b, a]))}"):
        as_pairs(m, l)


def test_a_lower_triangular_matrix_is_refused_not_read_as_constant():
    upper = np.triu(symmetric_ratings(5, 1, 0.0), 1)
    with pytest.raises(FitError, match=r"problem 0: ratings matrix is not symmetric: \(0, 1\) is 0.0 but \(1, 0\)"):
        learn_metric(FEATURES, upper.T)
    full = upper + upper.T  # the same data, given whole, is fitted: its optimum is scipy's
    fit = learn_metric(FEATURES, full, solver=Exact())
    D, s = np.asarray(pair_differences(FEATURES)), condensed(full)
    intercept = np.ones((len(s), 1))
    _, residual = so.nnls(np.hstack([D, intercept, -intercept]), s)  # NNLS with a free intercept
    assert fit.certified
    assert fit.explained_variance == pytest.approx(1 - residual ** 2 / np.sum((s - s.mean()) ** 2), abs=1e-9)
    assert fit.explained_variance == pytest.approx(np.corrcoef(D @ fit.weights ** -2.0, s)[0, 1] ** 2, abs=1e-9)
    assert fit.explained_variance == pytest.approx(0.0667548, abs=1e-7)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_ratings_are_an_error_naming_the_pair(value):
    m = symmetric_ratings(5, 2, 0.0)
    m[1, 3] = m[3, 1] = value
    with pytest.raises(FitError, match=rf"rating of pair \(1, 3\) is {value}; use NaN"):
        check_problem(FEATURES, m)
    pairs = np.array(condensed(symmetric_ratings(5, 2, 0.0)))
    pairs[5] = value  # (0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3): index 5
    with pytest.raises(FitError, match=rf"rating of pair \(1, 3\) is {value}; use NaN"):
        check_problem(FEATURES, pairs)


def test_the_diagonal_is_ignored_even_when_infinite():
    m = symmetric_ratings(5, 3, 0.0)
    np.fill_diagonal(m, np.inf)
    np.testing.assert_array_equal(check_problem(FEATURES, m)[1], condensed(m))


# ----------------------------------------------------------------------------- --ratings files (#14.2)

def test_ratings_files_full_symmetric_or_upper_triangular_with_zeros_below(tmp_path):
    m = symmetric_ratings(6, 4)
    full, upper = tmp_path / "full.txt", tmp_path / "upper.txt"
    np.savetxt(full, m)
    np.savetxt(upper, np.triu(m, 1))  # NaN kept above, zeros on and below the diagonal
    expected = m.copy()
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_array_equal(read_matrix(full, 6), expected)
    np.testing.assert_array_equal(read_matrix(upper), expected)


@pytest.mark.parametrize("mutate, message", [
    (lambda m: np.tril(m, -1),
     r"neither symmetric nor upper-triangular with zeros below: row 1, column 2 is 0.0 but row 2, column 1"),
    (lambda m: np.where(np.eye(6, k=2, dtype=bool), np.inf, m), r"row 1, column 3: inf is infinite"),
    (lambda m: m[:5], r"shape \(5, 6\); it must be square"),
])
def test_bad_ratings_files_are_refused_naming_the_file(tmp_path, mutate, message):
    path = tmp_path / "mine.txt"
    np.savetxt(path, mutate(np.nan_to_num(symmetric_ratings(6, 5), nan=0.5)))
    with pytest.raises(DataError, match=message) as e:
        read_matrix(path, 6)
    assert str(path) in str(e.value)
