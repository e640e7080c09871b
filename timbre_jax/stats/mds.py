"""Timbre spaces: metric multidimensional scaling of dissimilarities, and what its axes mean.

A timbre space (Grey 1977; McAdams et al. 1995) places l sounds as points X (l, k) in k
dimensions so that their Euclidean distances d_ij(X) follow the dissimilarities δ_ij.
Here the scaling is metric, ratio MDS: the dissimilarities themselves are the targets
(no monotone transformation), and X minimizes the weighted raw stress

    σ(X) = Σ_{i<j} w_ij (δ_ij − d_ij(X))²,

with w_ij = 1 for a rated pair and 0 for an unrated one (NaN in the ratings).

:func:`smacof` minimizes σ by majorization (de Leeuw 1977; Borg & Groenen 2005, Modern
Multidimensional Scaling, ch. 8): each step is the Guttman transform X⁺ = V⁺ B(X) X, with
V = Σ_{i<j} w_ij (e_i − e_j)(e_i − e_j)ᵀ (its Moore–Penrose inverse V⁺: V is singular, its
null space the translations), b_ij = −w_ij δ_ij / d_ij(X) for i ≠ j (0 where d_ij = 0) and
b_ii = −Σ_{j≠i} b_ij.  σ never increases from one step to the next (:func:`majorize`
records it).  It starts from classical (Torgerson) MDS (:func:`classical`) and from
:data:`RANDOM_STARTS` seeded random configurations, and keeps the lowest stress.  The
reported stress is Kruskal's stress-1 over the rated pairs (:func:`stress1`).

A configuration is unique only up to translation, rotation and reflection:
:func:`principal_axes` puts it in one canonical position (centred, dimension 1 the largest
variance, each dimension's largest coordinate positive), so that the same data give the
same numbers.  Its axes are then read by their correlations with named descriptors
(:func:`dimension_correlations`); their signs mean nothing.

Plain NumPy: a study has at most a few dozen sounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.errors import DataError

RANDOM_STARTS = 4
"""Seeded random starts beside the classical one (:func:`smacof`)."""
SEED = 0
"""The seed of the random starts."""
TOLERANCE = 1e-12
"""Convergence: stop when one Guttman step lowers σ by less than this fraction of Σ w δ²."""
MAX_ITERATIONS = 10_000
"""The most Guttman steps per start."""
TIE = 1e-9
"""A later start replaces the best so far only when its stress-1 is lower by more than
this fraction: ties keep the earlier start (classical first), so results do not hang on
the last bits."""


@dataclass(frozen=True)
class Space:
    """A metric MDS solution: ``points`` (l, k) in principal axes (:func:`principal_axes`),
    its Kruskal ``stress`` (stress-1 over the rated pairs), the Guttman steps taken by the
    start kept (``iterations``), whether that start ``converged`` (else it stopped at
    :data:`MAX_ITERATIONS`), and which start it was (``start``: "classical" or "random 1", ...)."""

    points: np.ndarray
    stress: float
    iterations: int
    converged: bool
    start: str

    @property
    def dims(self) -> int:
        return self.points.shape[1]


def distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``points`` (..., l, k): (..., l, l)."""
    diff = points[..., :, None, :] - points[..., None, :, :]
    return np.sqrt((diff ** 2).sum(axis=-1))


def check_dissimilarities(delta) -> tuple[np.ndarray, np.ndarray]:
    """``delta`` (l, l) as float64 and the rated-pair weights (l, l): 1 where finite off the
    diagonal, else 0.  DataError unless square, symmetric where rated, non-negative, with
    every sound in a rated pair."""
    delta = np.asarray(delta, dtype=np.float64)
    if delta.ndim != 2 or delta.shape[0] != delta.shape[1] or len(delta) < 2:
        raise DataError(f"dissimilarities must be a square (l, l) matrix of 2 sounds or more, got {delta.shape}")
    weights = np.isfinite(delta).astype(np.float64)
    np.fill_diagonal(weights, 0.0)
    rated = delta[weights > 0]
    if np.any(rated < 0):
        raise DataError("dissimilarities must be non-negative")
    if not np.array_equal(weights, weights.T) or not np.allclose(np.where(weights > 0, delta, 0),
                                                                 np.where(weights > 0, delta, 0).T):
        raise DataError("dissimilarities must be symmetric")
    lonely = np.flatnonzero(weights.sum(axis=1) == 0)
    if lonely.size:
        raise DataError(f"sound {lonely[0] + 1} has no rated pair: its place in a space is undetermined")
    return delta, weights


def stress1(points: np.ndarray, delta, weights=None) -> float:
    """Kruskal's stress-1 of ``points`` (l, k) for ``delta`` (l, l) (NaN = unrated):
    sqrt(Σ w (d − δ)² / Σ w d²) over the pairs i < j with w_ij > 0 (``weights`` (l, l),
    default 1 for every rated pair), d the configuration's distances."""
    delta, rated = check_dissimilarities(delta)
    w = rated if weights is None else np.where(rated > 0, np.asarray(weights, dtype=np.float64), 0.0)
    i, j = np.triu_indices(len(delta), 1)
    d, t, w = distances(np.asarray(points, dtype=np.float64))[i, j], np.nan_to_num(delta[i, j]), w[i, j]
    return float(np.sqrt((w * (d - t) ** 2).sum() / (w * d ** 2).sum()))


def classical(delta, k: int) -> np.ndarray:
    """Classical (Torgerson) MDS: ``delta`` (l, l) -> points (l, k).

    Double centring of the squared dissimilarities, B = −½ J Δ² J (J = I − 11ᵀ/l), then
    the top k eigenvectors scaled by the square roots of their eigenvalues (negative ones
    count as 0).  Exact for Euclidean distances.  Unrated pairs (NaN) are filled with the
    mean of the rated ones: a start for :func:`smacof`, not a fit of them."""
    delta, weights = check_dissimilarities(delta)
    l = len(delta)
    full = np.where(weights > 0, delta, delta[weights > 0].mean())
    np.fill_diagonal(full, 0.0)
    J = np.eye(l) - 1.0 / l
    B = -0.5 * J @ (full ** 2) @ J
    values, vectors = np.linalg.eigh((B + B.T) / 2)
    top = np.argsort(values)[::-1][:k]
    return vectors[:, top] * np.sqrt(np.clip(values[top], 0.0, None))


def raw_stress(points: np.ndarray, delta: np.ndarray, weights: np.ndarray) -> float:
    """σ(X) = Σ_{i<j} w_ij (δ_ij − d_ij(X))² (unrated δ must carry w = 0)."""
    i, j = np.triu_indices(len(delta), 1)
    return float((weights[i, j] * (np.nan_to_num(delta[i, j]) - distances(points)[i, j]) ** 2).sum())


def majorize(delta, start: np.ndarray, *, weights=None, tolerance: float = TOLERANCE,
             max_iterations: int = MAX_ITERATIONS) -> tuple[np.ndarray, np.ndarray, np.ndarray | bool]:
    """Guttman transforms from ``start`` (l, k), or from s starts at once (s, l, k), each
    until one step lowers its σ by less than ``tolerance`` Σ w δ², or ``max_iterations``.

    Returns (points, history, converged): for one start, points (l, k), σ before each step
    and after the last (t + 1,) and a bool; for s starts, points (s, l, k), history
    (s, T + 1) (NaN after a start's last step) and (s,) bools.  ``weights`` (l, l):
    default 1 for every rated pair; unrated pairs always weigh 0."""
    delta, rated = check_dissimilarities(delta)
    W = rated if weights is None else np.where(rated > 0, np.asarray(weights, dtype=np.float64), 0.0)
    delta0 = np.nan_to_num(delta)
    target = delta0 * W  # w_ij δ_ij, 0 where unrated
    l = len(delta)
    uniform = np.all(W[~np.eye(l, dtype=bool)] == 1.0)
    V_pinv = None if uniform else np.linalg.pinv(np.diag(W.sum(axis=1)) - W)
    scale = (W * delta0 ** 2).sum() / 2  # Σ_{i<j} w δ²
    X = np.array(start, dtype=np.float64)
    single = X.ndim == 2
    X = X[None] if single else X
    X = X - X.mean(axis=1, keepdims=True)
    d = distances(X)
    sigma = (W * (delta0 - d) ** 2).sum(axis=(1, 2)) / 2
    history, active, steps = [sigma], np.ones(len(X), dtype=bool), np.zeros(len(X), dtype=int)
    diagonal = np.arange(l)
    for _ in range(max_iterations):
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            B = -np.where(d > 0, target / d, 0.0)
        B[:, diagonal, diagonal] = -B.sum(axis=2)
        moved = B @ X / l if uniform else V_pinv @ (B @ X)
        X = np.where(active[:, None, None], moved, X)
        d = distances(X)
        new = np.where(active, (W * (delta0 - d) ** 2).sum(axis=(1, 2)) / 2, sigma)
        steps += active
        history.append(np.where(active, new, np.nan))
        active &= ~(sigma - new <= tolerance * scale)
        sigma = new
    history = np.stack(history, axis=1)
    if single:
        return X[0], history[0, :steps[0] + 1], not active[0]
    return X, history, ~active


def principal_axes(points: np.ndarray) -> np.ndarray:
    """``points`` (l, k) centred and rotated to their principal axes: dimension 1 has the
    largest variance, and each dimension's coordinate of largest magnitude is positive
    (a sign convention, so that the same configuration always reads the same; a
    permutation of the sounds permutes the rows)."""
    X = np.asarray(points, dtype=np.float64)
    X = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    Y = X @ vt.T
    largest = Y[np.argmax(np.abs(Y), axis=0), np.arange(Y.shape[1])]
    return Y * np.where(largest < 0, -1.0, 1.0)


def smacof(delta, k: int, *, weights=None, starts: int = RANDOM_STARTS, seed: int = SEED,
           tolerance: float = TOLERANCE, max_iterations: int = MAX_ITERATIONS) -> Space:
    """Metric (ratio) MDS of ``delta`` (l, l) in ``k`` dimensions by SMACOF.

    Unrated pairs (NaN) weigh 0 (``weights`` (l, l) may weigh the rated ones otherwise).
    Starts: classical MDS (:func:`classical`), then ``starts`` random configurations
    (normal, seeded by ``seed``, scaled to the classical one's spread); the lowest stress-1
    is kept (:data:`TIE`), in principal axes (:func:`principal_axes`)."""
    delta, rated = check_dissimilarities(delta)
    if not 1 <= k < len(delta):
        raise DataError(f"an MDS of {len(delta)} sounds needs 1 to {len(delta) - 1} dimensions, got {k}")
    first = classical(delta, k)
    spread = max(float(np.sqrt((first ** 2).sum() / len(delta))), 1e-12)
    rng = np.random.default_rng(seed)
    candidates = [("classical", first)] + [(f"random {s + 1}", spread * rng.standard_normal((len(delta), k)))
                                           for s in range(starts)]
    points, history, converged = majorize(delta, np.stack([x for _, x in candidates]), weights=weights,
                                          tolerance=tolerance, max_iterations=max_iterations)
    best = None
    for (name, _), X, h, c in zip(candidates, points, history, converged):
        found = Space(principal_axes(X), stress1(X, delta, weights), int(np.isfinite(h).sum()) - 1, bool(c), name)
        if best is None or found.stress < best.stress * (1 - TIE):
            best = found
    return best


def dimension_correlations(points: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson's r of each dimension of ``points`` (l, k) with each column of ``values``
    (l, m), and its two-sided p (Student's t with l − 2 degrees of freedom): (k, m) each.
    A constant column has no correlation: NaN r and p."""
    X = np.asarray(points, dtype=np.float64)
    Y = np.asarray(values, dtype=np.float64)
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    nx, ny = np.sqrt((Xc ** 2).sum(axis=0)), np.sqrt((Yc ** 2).sum(axis=0))
    flat = ny <= 1e-12 * np.maximum(np.abs(Y).max(axis=0), 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip((Xc.T @ Yc) / np.outer(nx, np.where(flat, np.nan, ny)), -1.0, 1.0)
    return r, two_sided_p(r, len(X))


def two_sided_p(r: np.ndarray, l: int) -> np.ndarray:
    """The two-sided p of Pearson correlations ``r`` over ``l`` observations under the
    null of no correlation (normal data): I_{1 − r²}(ν/2, ½), ν = l − 2, the regularized
    incomplete beta function (Student's t with ν degrees of freedom); NaN where r is."""
    from scipy.special import betainc  # lazy: scipy.special loads only when a space is read

    r = np.asarray(r, dtype=np.float64)
    if l < 3:
        return np.full(r.shape, np.nan)
    return np.where(np.isfinite(r), betainc((l - 2) / 2.0, 0.5, np.clip(1.0 - r ** 2, 0.0, 1.0)), np.nan)
