"""Random halves of a study's listeners, and how noisy the mean ratings of a half are: the
participant splits of :mod:`timbre_jax.analyses.raters` (the paper's robustness question
asked with real rater noise).

A split puts ``m // 2`` of the ``m`` participants in half A (the metric is learned on
their mean ratings) and the other ``m - m // 2`` in half B (the metric is scored on
theirs).  The splits of a study are drawn on the host with NumPy's PCG64 generator
seeded by ``(seed, CRC-32 of the study's name)``, one permutation of the participants per
split (:func:`splits`), like the noise of :mod:`timbre_jax.stats.degradation`: they do
not depend on the machine or on the other studies of a run, and the first k of 100
splits are the k splits of a run that asks for k.

A half's mean (:func:`timbre_jax.stats.reliability.half_means`, which the split-half
reliability computes too) averages, per pair, the half's participants who rated it; a
pair none of them rated is unrated (NaN) in that half.

The noise of a mean in the paper's units (:func:`noise_level`): the paper degrades the
ratings as ``y = s + delta xi`` with ``xi`` ~ N(0, 1) per pair, so ``delta`` is the
standard deviation of the error of a rating of a pair, on the [0, 1] scale.  The error of
the mean of n independent raters has standard deviation ``sd / sqrt(n)``, with ``sd`` the
pair's standard deviation across the participants who rated it (ddof 1,
:func:`timbre_jax.stats.reliability.pair_spread`); the level reported is the median over
pairs of ``sd / sqrt(n)``, with n the raters of the pair in half A, the half learned on
(median over the splits), or in the whole panel.  (The reliability's ``half_sem`` takes
n / 2 raters, an average half: with odd m, half A has (m - 1) / 2.)
"""

from __future__ import annotations

import zlib

import numpy as np

from timbre_jax.stats.reliability import pair_spread


def splits(seed: int, dataset: str, m: int, count: int) -> np.ndarray:
    """Which participants are in half A, per split: (count, m) bool, ``m // 2`` True a row."""
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(dataset.encode())]))
    in_a = np.zeros((count, m), dtype=bool)
    for k in range(count):
        in_a[k, rng.permutation(m)[: m // 2]] = True
    return in_a


def noise_level(pairs: np.ndarray, in_a: np.ndarray | None = None) -> float:
    """The noise of a mean in the paper's delta units (module docstring): the median over
    pairs of ``sd / sqrt(n)``, n the pair's raters in half A of each split of ``in_a``
    (K, m) (then the median over the splits), or in the whole panel when ``in_a`` is None.
    NaN when no pair has two raters."""
    pairs = np.asarray(pairs, dtype=np.float64)
    spread = pair_spread(pairs)
    sd, n = spread.sd, spread.raters
    # raters of each pair: (1, p) for the panel, (K, p) in half A of each split
    counts = n[None] if in_a is None else (np.isfinite(pairs)[None] & in_a[:, :, None]).sum(axis=1)
    per_split = []
    for n_half in counts:
        with np.errstate(invalid="ignore", divide="ignore"):
            se = sd / np.sqrt(n_half)
        se = se[np.isfinite(se)]
        per_split.append(float(np.median(se)) if se.size else np.nan)
    finite = [x for x in per_split if np.isfinite(x)]
    return float(np.median(finite)) if finite else float("nan")
