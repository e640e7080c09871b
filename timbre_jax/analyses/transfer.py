"""Transfer across studies: is a learned metric about timbre, or about one study's sounds?

For one representation (the same feature space, n features, in every study), the metric
is learned on study A, the certified optimum (:class:`~timbre_jax.solvers.Exact`), and
scored on study B, other sounds rated by other listeners:

    EV_AB = max(P(D_B u_A, s_B), 0)^2   over B's rated pairs,   u_A = w_A^-2 (n,),

with D_B (p_B, n) the squared feature differences of B's pairs (``D_q = (Psi_i - Psi_j)^2``
for pair q = (i, j)), s_B (p_B,) its ratings and P Pearson's correlation; unrated pairs
(NaN) are left out.  Over m studies this is an (m, m) matrix, rows learned on, columns
scored on.  Its diagonal is the in-sample fit of each study (what ``learn --solver exact``
reports); its median off the diagonal beside the median on it says how much of a fit
carries over to other sounds: a metric that captures timbre keeps its EV, one fitted to
one study's sounds (n weights for a few hundred pairs) loses it.  The baseline a
transferred metric should beat is each column study's zero-shot EV, every weight 1
(u = 1, no fit at all).  Each row of the CSV says whether the fit it was learned by is
certified (``certified``; :mod:`timbre_jax.stats.convergence`), and the summary marks
and counts the fits that are not.  The figure: :func:`timbre_jax.plots.transfer.plot_transfer`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.core.pearson import pair_differences, pearson_rows
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import DataError, UsageError
from timbre_jax.fit.learn import MetricResult, explained_variance, learn_metrics
from timbre_jax.plots import tables
from timbre_jax.plots.transfer import plot_transfer
from timbre_jax.solvers import Exact
from timbre_jax.stats import convergence

WRITES = ("OUT/transfer_<representation>.csv (one row per (learned on, scored on) pair of studies) and "
          "OUT/transfer_<representation>.png (the matrix)")

COLUMNS = ["learned_on", "scored_on", "ev", "zeroshot_ev_of_scored", "in_sample", "certified"]


def ev_on_study(U: np.ndarray, fs: FeatureSet) -> np.ndarray:
    """EV on the study ``fs`` of each metric u = w^-2 in the rows of ``U`` (K, n): (K,).

    Only the rated pairs count; a metric whose distances are constant over them (every
    weight it keeps on features constant in ``fs``) has no correlation: EV 0."""
    D = pair_differences(fs.features)  # (p, n)
    rated = np.isfinite(fs.pairs)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = pearson_rows(U @ D.T, np.nan_to_num(fs.pairs), rated.astype(float))
    return explained_variance(P)  # NaN (no correlation) -> 0


def learned(sets: list[FeatureSet]) -> list[MetricResult]:
    """The metric of each of m studies, the certified optimum (one batched exact solve);
    ``sets``: m feature sets, each features (l_b, n) with the same n."""
    ns = {fs.dataset: fs.dims for fs in sets}
    if len(set(ns.values())) > 1:
        raise DataError("transfer needs the same feature space in every study; numbers of features: "
                        + ", ".join(f"{d} {n}" for d, n in ns.items()))
    return learn_metrics([(fs.features, fs.ratings) for fs in sets], solver=Exact())


def matrix(sets: list[FeatureSet], fits: list[MetricResult] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The transfer matrix of m studies in one representation.

    ``sets``: m feature sets, each features (l_b, n) with the same n; ``fits``: their
    metrics (:func:`learned`, its solve when None).  Returns (names (m,), ev (m, m),
    zeroshot (m,)): ``ev[a, b]`` the EV on study b of the metric learned on study a (one
    (m, n) @ (n, p_b) product per scored study); the diagonal is each fit's own EV, to its
    last digit; ``zeroshot[b]`` the EV on b of every weight 1."""
    fits = learned(sets) if fits is None else fits
    U = np.stack([f.weights ** -2.0 for f in fits])  # (m, n): each study's learned u = w^-2
    ev = np.stack([ev_on_study(U, fs) for fs in sets], axis=1)  # column b: every metric scored on study b
    zeroshot = np.array([ev_on_study(np.ones((1, U.shape[1])), fs)[0] for fs in sets])
    ev[np.diag_indices(len(sets))] = [f.explained_variance for f in fits]
    return [fs.dataset for fs in sets], ev, zeroshot


def off_diagonal(ev: np.ndarray) -> np.ndarray:
    """The transfers of an (m, m) matrix, row by row: (m, m - 1)."""
    m = len(ev)
    return ev[~np.eye(m, dtype=bool)].reshape(m, m - 1)


@dataclass(frozen=True)
class TransferResult:
    """The transfer matrix of one representation over its studies.

    ``ev`` (m, m): ``ev[a, b]`` learned on ``datasets[a]``, scored on ``datasets[b]``;
    ``zeroshot`` (m,): the EV of every weight 1 on each study; ``in_sample_median``: the
    median of the diagonal; ``transfer_median``: the median of the m (m - 1) entries off
    it; ``row_transfer_median`` (m,): per learned-on study, the median over the others."""

    representation: str
    datasets: list[str]
    ev: np.ndarray
    zeroshot: np.ndarray
    in_sample_median: float
    transfer_median: float
    row_transfer_median: np.ndarray
    source: str = "upstream"
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    certified: np.ndarray | None = None  # (m,): the fit learned on each study is certified; None: not known


def result_of(representation: str, names: list[str], ev: np.ndarray, zeroshot: np.ndarray, *,
              source: str = "upstream", skipped=(), seconds: float = 0.0, certified=None) -> TransferResult:
    """A :class:`TransferResult` with its medians computed from ``ev`` (m, m), m >= 2;
    ``certified`` (m,): whether each study's fit is certified (None: not known)."""
    off = off_diagonal(ev)
    return TransferResult(representation, list(names), ev, zeroshot, float(np.median(np.diag(ev))),
                          float(np.median(off)), np.median(off, axis=1), source, list(skipped), seconds,
                          None if certified is None else np.asarray(certified, dtype=bool))


def run(representations, datasets, *, source: str = "auto", progress: bool = True) -> TransferResult:
    """The transfer matrix of exactly one representation over ``datasets`` (at least two
    with data in ``source``; the others are listed in ``skipped``).  ``progress`` is
    accepted for the contract: the one exact solve has no bar."""
    representations = list(representations)
    if len(representations) != 1:
        given = f"{len(representations)} ({', '.join(representations)})" if representations else "none"
        raise UsageError(f"transfer compares studies within one representation: give exactly one, got {given}")
    (rep,) = representations
    t0 = time.perf_counter()
    loaded = base.load(representations, datasets, source)
    sets = loaded.sets.get(rep, [])
    if len(sets) < 2:
        have = f" ({', '.join(fs.dataset for fs in sets)})" if sets else ""
        raise UsageError(f"transfer needs at least 2 studies with {loaded.source(source)} {rep} features; "
                         f"found {len(sets)}{have}")
    fits = learned(sets)
    names, ev, zeroshot = matrix(sets, fits)
    return result_of(rep, names, ev, zeroshot, source=loaded.source(source), skipped=loaded.skipped,
                     seconds=time.perf_counter() - t0, certified=[f.certified for f in fits])


def write(result: TransferResult, out: Path) -> list[Path]:
    """OUT/transfer_<representation>.csv, long format (:data:`COLUMNS`, one row per
    (learned on, scored on), m^2 rows; ``certified`` empty where not known) and
    OUT/transfer_<representation>.png, the matrix."""
    names, r = result.datasets, result.representation
    certified = [None] * len(names) if result.certified is None else [bool(c) for c in result.certified]
    rows = [[a, b, float(result.ev[i, j]), float(result.zeroshot[j]), i == j, certified[i]]
            for i, a in enumerate(names) for j, b in enumerate(names)]
    written = [tables.write_csv(Path(out) / f"transfer_{r}.csv", COLUMNS, rows)]
    written.append(plot_transfer(r, names, result.ev, result.zeroshot, result.in_sample_median,
                                 result.transfer_median, Path(out) / f"transfer_{r}.png", source=result.source,
                                 skipped=result.skipped))
    return written


def summary(result: TransferResult) -> list[str]:
    """What was skipped, the two medians, then per learned-on study its in-sample EV, the
    median EV of its metric on the other studies (``*`` after both where its fit is not
    certified), and the zero-shot EV on it; then, where some fit is not certified, their
    count."""
    lines = base.skipped_lines(result.skipped)
    lines.append(f"{result.representation}: median in-sample EV {result.in_sample_median:.3f}, median transferred "
                 f"EV {result.transfer_median:.3f} (held-out study: learned on one study, scored on another; "
                 f"{len(result.datasets)} studies, {result.source} features, exact solver) [{result.seconds:.1f} s]")
    certified = np.ones(len(result.datasets), bool) if result.certified is None else result.certified
    for i, name in enumerate(result.datasets):
        ev = convergence.marked(f"{result.ev[i, i]:.3f}", certified[i])
        moved = convergence.marked(f"{result.row_transfer_median[i]:.3f}", certified[i])
        lines.append(f"  learned on {name:22s} in-sample {ev}  transferred, held-out study (median) {moved}  "
                     f"zero-shot (no fit) on it {result.zeroshot[i]:.3f}")
    found = convergence.tally((result.representation, d, c) for d, c in zip(result.datasets, certified))
    return lines + convergence.report("transfer", found, "exact", "learned by a fit that was not certified "
                                      "(transfer CSV: certified)")
