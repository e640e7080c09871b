"""Frame-aligned representations: sounds compared frame by frame, one pair at a time.

A frame-aligned representation gives each sound a sequence Psi_i (T_i, n): T_i frames of
n dimensions.  Two sounds of different lengths are compared after the shorter one's
*audio* is padded with zeros to the longer one's length (the timbre benchmark's rule), so
the frames of sound i in pair (i, j) depend on the pair: Psi_i^(ij) (T_ij, n).  What the
fits and the zero-shot distances need of a pair q = (i, j), i < j, is

- ``squares`` (p, n): S_qk = sum_t (Psi_ikt^(ij) - Psi_jkt^(ij))^2, the pair-difference
  matrix of the learned metric with one weight per dimension shared over frames,
  d_w^2(i, j) = sum_k S_qk / w_k^2 (:func:`timbre_jax.core.pearson.squared_distances`:
  the fit is that of a vector representation with D = S);
- ``products`` (p,): sum_{k,t} Psi_ikt^(ij) Psi_jkt^(ij), and ``energies`` (p, 2): the
  squared norms of the two flattened aligned sequences, for the cosine distance
  1 - products / sqrt(energies_0 energies_1);
- ``frames`` (p,): T_ij, the number of aligned frames (for the record).

:class:`AlignedPairs` holds them in condensed order (i < j, row-major, that of
:func:`timbre_jax.core.pearson.pair_indices`).  A vector representation is the (l, n)
feature matrix; the functions here take either, so that every fit, fold, relabelling and
zero-shot distance works on both (:func:`pair_differences`, :func:`euclidean`,
:func:`cosine`, :func:`sounds_of`, :func:`dims_of`).  The euclidean distance of an
aligned pair is the Frobenius norm of the difference of the two flattened aligned
sequences, sqrt(sum_k S_qk), the benchmark's L2 on flattened pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.errors import DataError

FIELDS = ("squares", "products", "energies", "frames")


@dataclass(frozen=True, eq=False)
class AlignedPairs:
    """Per-pair data of a frame-aligned representation of l sounds (module docstring).

    Shapes: squares (p, n), products (p,), energies (p, 2), frames (p,), p = l (l - 1) / 2
    in condensed order; float64 (frames int64).  :func:`check` validates a record."""

    squares: np.ndarray
    products: np.ndarray
    energies: np.ndarray
    frames: np.ndarray

    @property
    def n_sounds(self) -> int:
        return sounds_from_pairs(len(self.squares))

    @property
    def n_dims(self) -> int:
        return int(self.squares.shape[1])


def sounds_from_pairs(p: int) -> int:
    """l such that l (l - 1) / 2 = p; DataError when p is not such a number."""
    l = int(round((1 + (1 + 8 * p) ** 0.5) / 2))
    if l * (l - 1) // 2 != p:
        raise DataError(f"{p} pairs is not l (l - 1) / 2 for any number of sounds l")
    return l


def compare(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """One aligned pair: sequences a, b (T, n) -> (squares (n,), product, energy_a, energy_b).

    squares_k = sum_t (a_tk - b_tk)^2; product = sum a * b; energies = sum a^2, sum b^2."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise DataError(f"an aligned pair needs two (frames, dims) sequences of one shape, got {a.shape} and {b.shape}")
    return ((a - b) ** 2).sum(axis=0), float(np.vdot(a, b)), float(np.vdot(a, a)), float(np.vdot(b, b))


def from_pairs(compared, l: int) -> AlignedPairs:
    """An :class:`AlignedPairs` from the :func:`compare` results of every pair (condensed
    order) and their frame counts: ``compared`` a sequence of (squares, product, energy_a,
    energy_b, frames), one per pair."""
    rows = list(compared)
    if len(rows) != l * (l - 1) // 2:
        raise DataError(f"{len(rows)} pairs for {l} sounds; expected {l * (l - 1) // 2}")
    return check(AlignedPairs(
        squares=np.array([r[0] for r in rows], dtype=np.float64).reshape(len(rows), -1),
        products=np.array([r[1] for r in rows], dtype=np.float64),
        energies=np.array([[r[2], r[3]] for r in rows], dtype=np.float64).reshape(len(rows), 2),
        frames=np.array([r[4] for r in rows], dtype=np.int64)))


def check(values: AlignedPairs, where: str = "aligned pairs", sounds=None) -> AlignedPairs:
    """``values`` with consistent shapes and finite, non-negative squares and energies;
    DataError naming ``where`` and the first bad pair (by its sounds when given) otherwise."""
    S = np.asarray(values.squares)
    p = len(S)
    if S.ndim != 2 or S.shape[1] == 0:
        raise DataError(f"{where}: squares have shape {S.shape}, expected (pairs, dims) with dims > 0")
    l = sounds_from_pairs(p)
    for name, shape in (("products", (p,)), ("energies", (p, 2)), ("frames", (p,))):
        if np.shape(getattr(values, name)) != shape:
            raise DataError(f"{where}: {name} have shape {np.shape(getattr(values, name))}, expected {shape} "
                            f"for {l} sounds")
    if sounds is not None and len(sounds) != l:
        raise DataError(f"{where}: {p} pairs are those of {l} sounds, but the study has {len(sounds)} sounds")
    bad = ~(np.isfinite(S).all(axis=1) & np.isfinite(values.products) & np.isfinite(values.energies).all(axis=1)
            & (S >= 0).all(axis=1) & (np.asarray(values.energies) >= 0).all(axis=1))
    if bad.any():
        q = int(np.flatnonzero(bad)[0])
        i, j = np.triu_indices(l, 1)
        who = f"({sounds[i[q]]}, {sounds[j[q]]})" if sounds is not None else f"({i[q]}, {j[q]})"
        raise DataError(f"{where}: non-finite or negative values for the pair {who}")
    return values


def is_aligned(values) -> bool:
    return isinstance(values, AlignedPairs)


def sounds_of(values) -> int:
    """The number of sounds l of a representation: (l, n) features or :class:`AlignedPairs`."""
    return values.n_sounds if is_aligned(values) else int(np.shape(values)[0])


def dims_of(values) -> int:
    """The number of weights n of a representation (its dimensions)."""
    return values.n_dims if is_aligned(values) else int(np.shape(values)[1])


def pair_squares(values) -> np.ndarray:
    """The pair-difference matrix D (p, n) of an :class:`AlignedPairs` (its squares)."""
    return np.asarray(values.squares, dtype=np.float64)


def euclidean(values: AlignedPairs) -> np.ndarray:
    """Squared euclidean distances of the aligned pairs: (p,), sum_k S_qk."""
    return pair_squares(values).sum(axis=1)


def cosine(values: AlignedPairs) -> np.ndarray:
    """Cosine distances of the flattened aligned pairs: (p,); NaN where a sequence is all zeros."""
    e = np.asarray(values.energies, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - np.asarray(values.products, dtype=np.float64) / np.sqrt(e[:, 0] * e[:, 1])


def joint(parts: list[AlignedPairs]) -> AlignedPairs:
    """Several studies' aligned pairs as one of sum l sounds: the pairs across studies get
    zeros (they are unrated in the joint problem, so no fit or score reads them)."""
    ls = [v.n_sounds for v in parts]
    L, n = sum(ls), parts[0].n_dims
    if any(v.n_dims != n for v in parts):
        raise DataError(f"aligned representations of different widths ({sorted({v.n_dims for v in parts})}) "
                        "cannot be joined")
    i, j = np.triu_indices(L, 1)
    index = {(a, b): q for q, (a, b) in enumerate(zip(i, j))}
    out = AlignedPairs(np.zeros((len(i), n)), np.zeros(len(i)), np.zeros((len(i), 2)), np.zeros(len(i), np.int64))
    o = 0
    for v, l in zip(parts, ls):
        a, b = np.triu_indices(l, 1)
        rows = np.array([index[(o + x, o + y)] for x, y in zip(a, b)], dtype=np.int64)
        for name in FIELDS:
            getattr(out, name)[rows] = getattr(v, name)
        o += l
    return out
