"""Zero-shot alignment: how well do unweighted feature distances follow the ratings?

No metric is learned, so nothing can overfit: with all weights 1 the distance of a pair
of sounds is fixed by the features alone.  Two distances between the feature vectors
``Psi_i`` and ``Psi_j`` (rows of the (l, n) feature matrix):

- ``euclidean``: the squared Euclidean distance ``d_ij = sum_k (Psi_ik - Psi_jk)^2``,
  the learned metric of :mod:`timbre_jax.core.pearson` with every weight 1;
- ``cosine``: ``1 - cos(Psi_i, Psi_j)``, blind to each vector's scale.

Each is compared with the ratings over the rated pairs by Pearson's and Spearman's
correlations (the distances and correlations: :mod:`timbre_jax.stats.unweighted`).  A
representation whose rows are paired with the wrong sounds scores near 0 here, whatever
its in-sample explained variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.plots.tables import write_csv
from timbre_jax.progress import bar
from timbre_jax.stats import rank_metrics, scores
from timbre_jax.stats.unweighted import alignment, similarity_warnings

WRITES = "OUT/zeroshot.csv (one row per dataset x representation x distance, with 95% bootstrap intervals)"

COLUMNS = ["representation", "dataset", "distance", "pearson", "spearman", *rank_metrics.METRICS]
INTERVALS = ("pearson", "spearman", *rank_metrics.METRICS)  # the numbers with a bootstrap interval
INTERVAL_COLUMNS = [f"{name}_{end}" for name in INTERVALS for end in ("low", "high")]


def alignments(sets: list[FeatureSet], *, samples: int = 0, seed: int = 0, margin: float = 0.1) -> list[tuple]:
    """Rows of :data:`COLUMNS` then :data:`INTERVAL_COLUMNS`, one per set and distance:
    Pearson and Spearman over the pairs (:func:`timbre_jax.stats.unweighted.alignment`), the
    timbre benchmark's rank metrics (:mod:`timbre_jax.stats.rank_metrics`, the Euclidean
    distance not squared), and the 95% interval of each from ``samples`` bootstrap samples
    of the sounds (seeded by ``seed`` and the dataset name; NaN without)."""
    rows = []
    for fs in sets:
        study = scores.study(fs)
        point = scores.numbers(study, margin=margin)
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


def run(representations, datasets, *, source: str = "auto", samples: int = 1000, seed: int = 0,
        margin: float = 0.1, progress: bool = True) -> ZeroshotResult:
    """The alignment of every representation on every dataset it has (no fit), with
    ``samples`` bootstrap samples per dataset (0: no intervals)."""
    job = base.start(representations, datasets, source)
    rows = []
    with bar(progress and samples > 0, "zero-shot bootstrap", total=sum(map(len, job.sets.values()))) as advance:
        for sets in job.sets.values():
            for fs in sets:
                rows += alignments([fs], samples=samples, seed=seed, margin=margin)
                advance(1)
    return ZeroshotResult(rows, job.skipped, job.seconds())


def write(result: ZeroshotResult, out: Path) -> list[Path]:
    """OUT/zeroshot.csv: :data:`COLUMNS`, then :data:`INTERVAL_COLUMNS`."""
    return [write_csv(Path(out) / "zeroshot.csv", COLUMNS + INTERVAL_COLUMNS, [list(x) for x in result.rows])]


def summary(result: ZeroshotResult) -> list[str]:
    """What was skipped, then the medians over datasets per representation and distance."""
    lines = base.skipped_lines(result.skipped)
    lines.append("median over datasets (no fit: all weights 1; signed P^2 = sign(P) P^2):")
    for (r, d), (p, p2, rho, n) in medians(result.rows).items():
        lines.append(f"  {r:10s} {d:9s} P {p:+.3f}  signed P^2 {p2:+.3f}  Spearman {rho:+.3f}  ({n} datasets)")
    lines += similarity_warnings((x[1], x[0], x[3]) for x in result.rows if x[2] == "euclidean")
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
