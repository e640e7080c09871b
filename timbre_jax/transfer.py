"""Transfer across studies: is a learned metric about timbre, or about one study's sounds?

For one representation (the same feature space in every study), the metric is learned on
study A (the certified optimum, :class:`~timbre_jax.solvers.Exact`) and scored on study B,
other sounds rated by other listeners:

    EV_AB = max(P(D_B w_A^-2, s_B), 0)^2   over B's rated pairs,

with D_B (p_B, n) B's squared feature differences and s_B its ratings.  The studies x
studies matrix has the in-sample fits on its diagonal (``learn --solver exact``); its
median off the diagonal beside the median on it says how much of a fit carries over.
Each column's zero-shot EV (every weight 1) is the baseline a transferred metric should
beat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import analysis
from .datasets import FeatureSet
from .errors import UsageError
from .learn import explained_variance, learn_metrics
from .pearson import pair_differences, pearson_rows
from .solvers import Exact


def matrix(sets: list[FeatureSet]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, ev (m, m), zeroshot (m,)) of m studies in one representation: ev[a, b] the
    EV on study b of the metric learned on study a; zeroshot[b] the EV on b of w = 1."""
    fits = learn_metrics([(fs.features, fs.ratings) for fs in sets], solver=Exact())
    U = np.stack([f.weights ** -2.0 for f in fits])  # (m, n): the learned u = w^-2 of each study
    ev = np.zeros((len(sets), len(sets)))
    zeroshot = np.zeros(len(sets))
    for b, fs in enumerate(sets):
        D = pair_differences(fs.features)
        rated = np.isfinite(fs.pairs)
        s = np.nan_to_num(fs.pairs)
        ev[:, b] = explained_variance(pearson_rows(U @ D.T, s, rated))
        zeroshot[b] = explained_variance(pearson_rows(D.sum(axis=1)[None], s, rated))[0]
    for a, f in enumerate(fits):  # the diagonal is the fit itself, to the solver's last digit
        ev[a, a] = f.explained_variance
    return [fs.dataset for fs in sets], ev, zeroshot


@dataclass(frozen=True)
class TransferResult:
    """The matrix of one representation: ``ev[a, b]`` learned on ``datasets[a]``, scored on
    ``datasets[b]``; ``zeroshot[b]``; the medians on and off the diagonal."""

    representation: str
    source: str
    datasets: list[str]
    ev: np.ndarray
    zeroshot: np.ndarray
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def in_sample_median(self) -> float:
        return float(np.median(np.diag(self.ev)))

    @property
    def transfer_median(self) -> float:
        return float(np.median(self.ev[~np.eye(len(self.ev), dtype=bool)]))


def run(representations, datasets, *, source: str = "upstream", progress: bool = True) -> TransferResult:
    """The transfer matrix of exactly one representation over ``datasets`` (at least two
    with data)."""
    representations = list(representations)
    if len(representations) != 1:
        raise UsageError(f"transfer compares studies in one representation; give one, not {len(representations)} "
                         f"({', '.join(representations)})")
    t0 = time.perf_counter()
    loaded = analysis.load(representations, datasets, source)
    sets = loaded.sets.get(representations[0], [])
    if len(sets) < 2:
        raise UsageError(f"transfer needs at least 2 studies with {source} {representations[0]} features; "
                         f"found {len(sets)}")
    names, ev, zeroshot = matrix(sets)
    return TransferResult(representations[0], source, names, ev, zeroshot, loaded.skipped, time.perf_counter() - t0)


def write(result: TransferResult, out: Path) -> list[Path]:
    """OUT/transfer_<representation>.csv (learned_on, scored_on, ev, zeroshot_ev_of_scored,
    in_sample) and OUT/transfer_<representation>.png (the matrix as a heatmap)."""
    from .report import plot_transfer, write_csv

    r, names = result.representation, result.datasets
    rows = [[a, b, result.ev[i, j], result.zeroshot[j], i == j] for i, a in enumerate(names)
            for j, b in enumerate(names)]
    return [write_csv(Path(out) / f"transfer_{r}.csv", ["learned_on", "scored_on", "ev", "zeroshot_ev_of_scored",
                                                         "in_sample"], rows),
            plot_transfer(result, Path(out) / f"transfer_{r}.png")]


def summary(result: TransferResult) -> list[str]:
    """The two medians, then per study its in-sample EV and the median of its transfers."""
    lines = analysis.skipped_lines(result.skipped)
    lines.append(f"{result.representation}: median in-sample EV {result.in_sample_median:.3f}, median transferred EV "
                 f"{result.transfer_median:.3f} (learned on one study, scored on another; {len(result.datasets)} "
                 f"studies, exact solver)")
    off = ~np.eye(len(result.ev), dtype=bool)
    for i, name in enumerate(result.datasets):
        lines.append(f"  {name:22s} in-sample {result.ev[i, i]:.3f}  transferred (median) "
                     f"{np.median(result.ev[i][off[i]]):.3f}  zero-shot on it {result.zeroshot[i]:.3f}")
    return lines
