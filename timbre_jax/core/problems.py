"""One problem of the fit, checked: features (l, n) and ratings of their pairs.

The one input validator of the fits: every public entry point passes its problems
through :func:`check_problem`, which says what is wrong and with which sound or pair.
"""

from __future__ import annotations

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.core.pearson import condensed, pair_differences
from timbre_jax.core.ratings import asymmetry, first_infinite_pair, pair_of_index
from timbre_jax.errors import DataError, FitError


def as_pairs(ratings, l: int, name: str | None = None) -> np.ndarray:
    """Condensed pair ratings (p,) from an (l, l) matrix or a (p,) vector; NaN = unrated.

    An (l, l) matrix must be symmetric off the diagonal (NaN on both sides counts as
    equal, NaN on one side only does not; the diagonal is ignored): only its upper
    triangle is read, so a lower-triangular matrix would otherwise lose every rating.
    Only NaN means unrated: +inf or -inf is an error.  Errors name the first offending
    pair (i, j) and are prefixed with ``name`` when given.
    """
    where = f"{name}: " if name else ""
    r = np.asarray(ratings, dtype=np.float64)
    p = l * (l - 1) // 2
    if r.shape == (l, l):
        bad = first_infinite_pair(r)
        if bad is not None:
            i, j = bad
            raise FitError(f"{where}rating of pair ({i}, {j}) is {r[i, j]}; use NaN for an unrated pair")
        why = asymmetry(r)
        if why:
            raise FitError(f"{where}{why}; give the full symmetric matrix (NaN = unrated)")
        return condensed(r)
    if r.shape == (p,):
        inf = np.flatnonzero(np.isinf(r))
        if inf.size:
            i, j = pair_of_index(int(inf[0]), l)
            raise FitError(f"{where}rating of pair ({i}, {j}) is {r[inf[0]]}; use NaN for an unrated pair")
        return r
    raise FitError(f"{where}ratings have shape {r.shape}; expected ({l}, {l}) or ({p},) for {l} sounds")


def check_problem(features, ratings, name: str = "problem") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one problem; returns features (l, n) (or the
    :class:`~timbre_jax.core.aligned.AlignedPairs` given), pair ratings (p,) and mask (p,)."""
    return checked_problem(features, ratings, name)[:3]


def checked_problem(features, ratings, name: str = "problem"):
    """:func:`check_problem`, and the pair differences D (p, n) it computed to check them."""
    if aligned.is_aligned(features):
        F = features
        try:
            aligned.check(F, name)
        except DataError as e:
            raise FitError(str(e)) from None
        l = F.n_sounds
        if l < 3:
            raise FitError(f"{name}: {l} sounds; at least 3 are needed")
    else:
        F = np.asarray(features, dtype=np.float64)
        if F.ndim != 2:
            raise FitError(f"{name}: features must be (sounds, features), got shape {F.shape}")
        l, n = F.shape
        if l < 3:
            raise FitError(f"{name}: {l} sounds; at least 3 are needed")
        if n == 0:
            raise FitError(f"{name}: no features (n = 0)")
        bad = np.flatnonzero(~np.isfinite(F).all(axis=1))
        if bad.size:
            raise FitError(f"{name}: non-finite features for sound(s) {', '.join(map(str, bad))}")
    s = as_pairs(ratings, l, name)
    mask = np.isfinite(s)  # NaN only: as_pairs refuses inf
    if mask.sum() < 3:
        raise FitError(f"{name}: {int(mask.sum())} rated pairs; at least 3 are needed")
    if np.ptp(s[mask]) == 0:
        raise FitError(f"{name}: ratings are constant over the rated pairs (zero variance)")
    D = np.asarray(pair_differences(F))
    if np.all(np.ptp(D[mask], axis=0) == 0):
        raise FitError(f"{name}: distances are constant over the rated pairs for every weight (zero variance)")
    return F, np.where(mask, s, 0.0), mask.astype(np.float64), D
