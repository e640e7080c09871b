"""Per-participant ratings of a listening test: each listener's matrix, kept beside the mean.

A listening test gives one judgement per (participant, pair), often on a 1–9 scale, with
repeated pairs, self-comparisons and pairs a participant never saw.  :class:`Participants`
holds what they say once the scale is mapped to [0, 1] (dissimilarities):

- ``ratings`` (m, l, l): each participant's mean over their repeats of a pair; NaN for a
  pair they did not rate and on the diagonal;
- ``counts`` (m, l, l): how many judgements each participant gave each pair (the diagonal
  counts self-comparisons);
- ``retest`` (r, 2): the first and second judgement of every pair a participant rated
  twice or more (test–retest);
- ``self_ratings`` (m,): each participant's mean self-comparison rating (NaN: none), whose
  mean is the study's floor.

The study's mean ratings (:meth:`Participants.mean`) average, per pair, the participants
who rated it; a pair nobody rated is unrated (NaN).  That mean is what every fit reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbre_jax.core.pearson import pair_indices
from timbre_jax.errors import DataError


@dataclass(frozen=True)
class Participants:
    """Per-participant ratings of one study (see the module docstring for each field)."""

    ids: tuple[str, ...]
    ratings: np.ndarray
    counts: np.ndarray
    retest: np.ndarray
    self_ratings: np.ndarray

    def __post_init__(self):
        m = len(self.ids)
        if self.ratings.ndim != 3 or self.ratings.shape[0] != m or self.ratings.shape[1] != self.ratings.shape[2]:
            raise ValueError(f"ratings have shape {self.ratings.shape}; expected ({m}, l, l)")
        if self.counts.shape != self.ratings.shape:
            raise ValueError(f"counts have shape {self.counts.shape}; expected {self.ratings.shape}")

    @property
    def m(self) -> int:
        """The number of participants."""
        return len(self.ids)

    @property
    def sounds(self) -> int:
        """The number of sounds l."""
        return int(self.ratings.shape[1])

    @property
    def pairs(self) -> np.ndarray:
        """Condensed per-participant ratings (m, p), i < j row-major; NaN = unrated."""
        i, j = pair_indices(self.sounds)
        return self.ratings[:, i, j]

    def mean(self) -> np.ndarray:
        """The study's mean ratings (l, l): per pair, the mean over the participants who
        rated it (each participant's repeats averaged first); NaN where nobody did and on
        the diagonal."""
        return mean_of(self.ratings)

    @property
    def floor(self) -> float:
        """The mean self-comparison rating over the participants who gave any (NaN: none)."""
        given = self.self_ratings[np.isfinite(self.self_ratings)]
        return float(given.mean()) if given.size else float("nan")


def mean_of(ratings: np.ndarray) -> np.ndarray:
    """Per pair, the mean over the participants who rated it: (m, l, l) -> (l, l), or
    (m, p) -> (p,); NaN where nobody rated."""
    ratings = np.asarray(ratings, dtype=np.float64)
    rated = np.isfinite(ratings)
    n = rated.sum(axis=0)
    total = np.where(rated, ratings, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)



def from_lower_blocks(values: np.ndarray, l: int, where: str) -> Participants:
    """Participants of the Lakatos (2000) raw files: every participant's lower triangle row
    by row ((1, 0), (2, 0), (2, 1), ...), the values of all participants one after the
    other, each participant's block zero-padded to a multiple of 8 (8 values a line).

    ``values`` (any shape; flattened), ``l`` sounds; ids ``P01``, ``P02``, ...  Raises
    DataError (naming ``where``) when the count is not a whole number of blocks or a
    rating lies outside [0, 1]."""
    values = np.asarray(values, dtype=np.float64).ravel()
    p = l * (l - 1) // 2
    block = -(-p // 8) * 8
    if values.size == 0 or values.size % block:
        raise DataError(f"{where}: {values.size} values are not whole participants' blocks of {block} "
                        f"({p} pairs of {l} sounds, padded to a multiple of 8)")
    lower = values.reshape(-1, block)[:, :p]
    if not np.all((lower >= 0) & (lower <= 1)):
        raise DataError(f"{where}: a rating outside [0, 1] (range {lower.min()}..{lower.max()})")
    m = len(lower)
    rows, cols = np.tril_indices(l, -1)  # row-major over the lower triangle: (1,0), (2,0), (2,1), ...
    ratings = np.full((m, l, l), np.nan)
    ratings[:, rows, cols] = lower
    ratings[:, cols, rows] = lower
    counts = np.isfinite(ratings).astype(np.int64)
    return Participants(tuple(f"P{k + 1:02d}" for k in range(m)), ratings, counts, np.zeros((0, 2)),
                        np.full(m, np.nan))
