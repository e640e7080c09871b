"""Dissimilarity matrices: the checks on those given by users (symmetry, finiteness) and
the one rule that turns an upper triangle into the full matrix.

Only NaN means "unrated".  An (l, l) matrix must be symmetric off the diagonal (NaN on
both sides counts as equal; the diagonal is ignored), because a fit reads one triangle
only and a matrix filled on the other side would silently lose its ratings.
"""

from __future__ import annotations

import numpy as np


def _offdiagonal(shape) -> np.ndarray:
    return ~np.eye(shape[0], dtype=bool)


def first_asymmetric_pair(matrix: np.ndarray) -> tuple[int, int] | None:
    """The first pair (i, j), i < j in row-major order, where ``matrix[i, j]`` and
    ``matrix[j, i]`` differ, or None for a symmetric matrix.

    NaN on both sides counts as equal, NaN on one side only as a difference; the
    diagonal is ignored.  The comparison is exact (``==``): a ratings matrix is data,
    not the result of arithmetic that could round differently on both sides.
    """
    m = np.asarray(matrix, dtype=np.float64)
    t = m.T
    same = (m == t) | (np.isnan(m) & np.isnan(t))
    bad = np.argwhere(np.triu(~same, 1))
    return None if bad.size == 0 else (int(bad[0][0]), int(bad[0][1]))


def first_infinite_pair(matrix: np.ndarray) -> tuple[int, int] | None:
    """The first off-diagonal (i, j), row-major, holding +inf or -inf, or None."""
    m = np.asarray(matrix, dtype=np.float64)
    bad = np.argwhere(np.isinf(m) & _offdiagonal(m.shape))
    return None if bad.size == 0 else (int(bad[0][0]), int(bad[0][1]))


def pair_of_index(k: int, l: int) -> tuple[int, int]:
    """The pair (i, j), i < j, at position ``k`` of a condensed vector over ``l`` sounds
    (row-major: (0, 1), (0, 2), ..., (1, 2), ...)."""
    i, j = np.triu_indices(l, 1)
    return int(i[k]), int(j[k])


def asymmetry(matrix: np.ndarray, names=None) -> str | None:
    """Why ``matrix`` is not symmetric, naming its first differing pair (by ``names``, or
    by index), or None when it is (see :func:`first_asymmetric_pair`)."""
    bad = first_asymmetric_pair(matrix)
    if bad is None:
        return None
    i, j = bad
    a, b = (names[i], names[j]) if names is not None else (i, j)
    return f"ratings matrix is not symmetric: ({a}, {b}) is {matrix[i, j]} but ({b}, {a}) is {matrix[j, i]}"


def ratings_from_upper(upper: np.ndarray) -> np.ndarray:
    """Symmetric (l, l) ratings from an upper-triangular matrix; NaN on the diagonal.

    The upper triangle holds the ratings (NaN = unrated, mirrored as NaN); whatever lies
    on or below the diagonal is ignored.  This is the on-disk rule of the upstream files
    and of a study's manifest; a user's file is checked first (:mod:`timbre_jax.data.rating_files`:
    only zeros may lie below the diagonal, else the matrix must be symmetric).
    """
    upper = np.asarray(upper, dtype=np.float64)
    full = np.triu(upper, 1) + np.triu(upper, 1).T
    np.fill_diagonal(full, np.nan)
    return full
