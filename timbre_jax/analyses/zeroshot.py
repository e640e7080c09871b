"""Zero-shot alignment: how well do unweighted feature distances follow the ratings?

No metric is learned, so nothing can overfit: with all weights 1 the distance of a pair
of sounds is fixed by the features alone.  Two distances between the feature vectors
``Psi_i`` and ``Psi_j`` (rows of the (l, n) feature matrix):

- ``euclidean``: the squared Euclidean distance ``d_ij = sum_k (Psi_ik - Psi_jk)^2``,
  the learned metric of :mod:`timbre_jax.core.pearson` with every weight 1;
- ``cosine``: ``1 - cos(Psi_i, Psi_j)``, blind to each vector's scale.

Each is compared with the ratings over the rated pairs by Pearson's and Spearman's
correlations (``scipy.stats``).  A representation whose rows are paired with the wrong
sounds scores near 0 here, whatever its in-sample explained variance.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from timbre_jax.analyses import base as analysis
from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import DataError
from timbre_jax.progress import bar
from timbre_jax.stats import rank_metrics, scores

DISTANCES = ("euclidean", "cosine")


def distances(features: np.ndarray) -> dict[str, np.ndarray]:
    """Both distances of every pair: (l, n) -> {distance: (p,)}, condensed order (i < j).

    A row of zeros has no direction: its cosine distances are NaN."""
    features = np.asarray(features, dtype=np.float64)
    i, j = pair_indices(len(features))
    norms = np.linalg.norm(features, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("pk,pk->p", features[i], features[j]) / (norms[i] * norms[j])
    return {"euclidean": pair_differences(features).sum(axis=1), "cosine": 1.0 - cos}


def alignment(features: np.ndarray, pairs: np.ndarray) -> dict[str, tuple[float, float]]:
    """(Pearson, Spearman) between each distance and the ratings over the rated pairs.

    ``features`` (l, n); ``pairs`` (p,) condensed ratings, p = l (l - 1) / 2, i < j
    row-major, NaN = unrated (excluded).  Returns ``{distance: (pearson, spearman)}``
    for ``distance`` in :data:`DISTANCES`; NaN where a correlation is undefined
    (constant distances, or a zero feature row for cosine)."""
    features, pairs = np.asarray(features, dtype=np.float64), np.asarray(pairs, dtype=np.float64)
    l = len(features)
    if pairs.shape != (l * (l - 1) // 2,):
        raise DataError(f"ratings have shape {pairs.shape}, expected ({l * (l - 1) // 2},) for {l} sounds")
    rated = np.isfinite(pairs)
    if rated.sum() < 3:
        raise DataError(f"{int(rated.sum())} rated pairs; a correlation needs at least 3")
    out = {}
    for name, d in distances(features).items():
        d, s = d[rated], pairs[rated]
        if not np.all(np.isfinite(d)) or np.ptp(d) == 0:
            out[name] = (float("nan"), float("nan"))
            continue
        with warnings.catch_warnings():  # constant ratings: scipy warns and returns NaN, kept
            warnings.simplefilter("ignore", stats.ConstantInputWarning)
            out[name] = (float(stats.pearsonr(d, s)[0]), float(stats.spearmanr(d, s)[0]))
    return out


def signed_p2(p: float) -> float:
    """sign(P) P^2: the explained variance, negative when distances anti-correlate."""
    return float(np.sign(p) * p * p)


COLUMNS = ["representation", "dataset", "distance", "pearson", "spearman", *rank_metrics.METRICS]
INTERVALS = ("pearson", "spearman", *rank_metrics.METRICS)  # the numbers with a bootstrap interval
INTERVAL_COLUMNS = [f"{name}_{end}" for name in INTERVALS for end in ("low", "high")]


def alignments(sets: list[FeatureSet], *, samples: int = 0, seed: int = 0, margin: float = 0.1) -> list[tuple]:
    """Rows of :data:`COLUMNS` then :data:`INTERVAL_COLUMNS`, one per set and distance:
    Pearson and Spearman over the pairs (:func:`alignment`), the timbre benchmark's rank
    metrics (:mod:`timbre_jax.stats.rank_metrics`, the Euclidean distance not squared), and the
    95% interval of each from ``samples`` bootstrap samples of the sounds (seeded by
    ``seed`` and the dataset name; NaN without)."""
    rows = []
    for fs in sets:
        study = scores.study(fs)
        point = scores.scores(study, margin=margin)
        bounds = {}
        if samples:
            bounds, _ = scores.intervals(study, scores.samples_of(fs.dataset, len(fs.sounds), samples, seed),
                                         margin=margin)
        for name, (p, rho) in alignment(fs.features, fs.pairs).items():
            rows.append((fs.representation, fs.dataset, name, p, rho,
                         *(point[(name, m)] for m in rank_metrics.METRICS),
                         *(bounds.get((name, n), (np.nan, np.nan))[end] for n in INTERVALS for end in (0, 1))))
    return rows


@dataclass(frozen=True)
class ZeroshotResult:
    """Rows of :func:`alignments` over every representation with data, what was skipped,
    and the time."""

    rows: list[tuple]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0


def run(representations, datasets, *, source: str = "upstream", samples: int = 1000, seed: int = 0,
        margin: float = 0.1, progress: bool = True) -> ZeroshotResult:
    """The alignment of every representation on every dataset it has (no fit), with
    ``samples`` bootstrap samples per dataset (0: no intervals)."""
    t0 = time.perf_counter()
    loaded = analysis.load(representations, datasets, source)
    rows = []
    with bar(progress and samples > 0, "zero-shot bootstrap", total=sum(map(len, loaded.sets.values()))) as advance:
        for sets in loaded.sets.values():
            for fs in sets:
                rows += alignments([fs], samples=samples, seed=seed, margin=margin)
                advance(1)
    return ZeroshotResult(rows, loaded.skipped, time.perf_counter() - t0)


def write(result: ZeroshotResult, out: Path) -> list[Path]:
    """OUT/zeroshot.csv: :data:`COLUMNS`, then :data:`INTERVAL_COLUMNS`."""
    from timbre_jax.plots.tables import write_csv

    return [write_csv(Path(out) / "zeroshot.csv", COLUMNS + INTERVAL_COLUMNS, [list(x) for x in result.rows])]


def summary(result: ZeroshotResult) -> list[str]:
    """What was skipped, then the medians over datasets per representation and distance."""
    lines = analysis.skipped_lines(result.skipped)
    lines.append("median over datasets (no fit: all weights 1; signed P^2 = sign(P) P^2):")
    for (r, d), (p, p2, rho, n) in medians(result.rows).items():
        lines.append(f"  {r:10s} {d:9s} P {p:+.3f}  signed P^2 {p2:+.3f}  Spearman {rho:+.3f}  ({n} datasets)")
    lines.append(f"[{result.seconds:.1f} s]")
    return lines


def medians(rows) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """Per (representation, distance): the medians over datasets of Pearson, signed P^2
    and Spearman, and the number of datasets (NaN correlations left out)."""
    out = {}
    for key in dict.fromkeys((x[0], x[2]) for x in rows):
        p = np.array([x[3] for x in rows if (x[0], x[2]) == key], dtype=np.float64)
        rho = np.array([x[4] for x in rows if (x[0], x[2]) == key], dtype=np.float64)
        p, rho = p[np.isfinite(p)], rho[np.isfinite(rho)]
        nan = float("nan")
        out[key] = (float(np.median(p)) if p.size else nan,
                    float(np.median(np.sign(p) * p ** 2)) if p.size else nan,
                    float(np.median(rho)) if rho.size else nan, int(p.size))
    return out
