"""Permutation null: what explained variance does chance give?

With thousands of weights and at most 190 rated pairs, a metric can fit ratings whose
sounds were randomly relabelled.  For each dataset we refit on ``K`` relabellings (rows
and columns of the rating matrix permuted together; identity excluded), exactly as the
true order is fitted, all in batched solves that share the dataset's ``D``.

Reported per (representation, dataset): the observed EV, the null median and 95th
percentile, the permutation p-value ``(1 + #{null >= observed - TIE}) / (K + 1)`` and
the excess of the observed EV over the null median.  ``TIE`` counts a relabelling that
reaches the observed EV up to rounding as reaching it: where every fit interpolates the
ratings (EV = 1, mertcat), the optima differ only in the last bits.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import FeatureSet
from .learn import FitOptions
from .pearson import pair_differences, pair_indices
from .sweep import Group, solve


def permutations(l: int, K: int, seed: int, dataset: str) -> np.ndarray:
    """K relabellings (K, l) of l sounds, none the identity; PCG64 seeded by
    (seed, CRC-32 of the dataset name)."""
    rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(dataset.encode())]))
    out = []
    while len(out) < K:
        perm = rng.permutation(l)
        if np.any(perm != np.arange(l)):
            out.append(perm)
    return np.array(out)


def permuted_pairs(ratings: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Condensed ratings after relabelling sound i as perm[i]: (l, l), (l,) -> (p,)."""
    i, j = pair_indices(len(perm))
    return ratings[perm[i], perm[j]]


def make_group(fs: FeatureSet, K: int, seed: int) -> Group:
    """Problem 0: the true order; problems 1..K: relabellings."""
    perms = np.vstack([np.arange(len(fs.sounds)), permutations(len(fs.sounds), K, seed, fs.dataset)])
    ratings = np.array([permuted_pairs(fs.ratings, p) for p in perms])
    mask = np.isfinite(ratings).astype(float)
    return Group(fs.dataset, np.asarray(pair_differences(fs.features)), np.nan_to_num(ratings), mask)


@dataclass(frozen=True)
class NullSummary:
    representation: str
    dataset: str
    observed_ev: float
    null_median: float
    null_p95: float
    p_value: float
    excess_over_median: float
    permutations: int


TIE = 1e-9


def summarize(representation: str, dataset: str, ev: np.ndarray) -> NullSummary:
    """ev[0] observed, ev[1:] null."""
    obs, null = float(ev[0]), np.asarray(ev[1:])
    med = float(np.median(null))
    return NullSummary(representation, dataset, obs, med, float(np.percentile(null, 95)),
                       float((1 + np.sum(null >= obs - TIE)) / (len(null) + 1)), obs - med, len(null))


def run(sets: list[FeatureSet], *, K: int = 100, seed: int = 0, maxiter: int | None = None,
        directory: Path | None = None, progress: bool = True, solver: str = "lbfgsb",
        options: FitOptions | None = None):
    """Returns (per-fit rows [(dataset, permutation index, ev)], summaries); ``solver``,
    ``maxiter``, ``options``: see :func:`timbre_jax.learn_metrics` (with ``"exact"`` the
    null is of the optimum)."""
    from .learn import explained_variance

    groups = [make_group(fs, K, seed) for fs in sets]
    rep = sets[0].representation if sets else ""
    results = solve(groups, maxiter=maxiter, directory=directory, label=f"null {rep}", progress=progress,
                    solver=solver, options=options)
    rows, summaries = [], []
    for fs, res in zip(sets, results):
        ev = explained_variance(res.pearson)
        rows += [(rep, fs.dataset, k, float(e), int(it)) for k, (e, it) in enumerate(zip(ev, res.iterations))]
        summaries.append(summarize(rep, fs.dataset, ev))
    return rows, summaries


def write_outputs(rows, summaries: list[NullSummary], out: Path) -> list[Path]:
    """OUT/null.csv (one row per fit: representation, dataset, permutation (0 = the true
    order), ev, iterations) and OUT/summary.csv (one :class:`NullSummary` per dataset)."""
    from .report import write_csv

    fields = list(NullSummary.__dataclass_fields__)
    return [write_csv(Path(out) / "null.csv", ["representation", "dataset", "permutation", "ev", "iterations"],
                      [list(x) for x in rows]),
            write_csv(Path(out) / "summary.csv", fields, [[getattr(x, f) for f in fields] for x in summaries])]
