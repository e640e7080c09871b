"""The paper's robustness question asked with the listeners' own variability.

Pascal & Lagrange (2024, Sec. V, Fig. 1) learn the metric on the mean ratings plus
synthetic Gaussian noise and score it on the mean ratings.  Where a study has each
participant's ratings (:func:`timbre_jax.data.datasets.participants`), the noise need not
be synthetic: each of ``splits`` random splits of the participants into two halves
(:mod:`timbre_jax.stats.halves`) learns the metric on the mean ratings of half A (the
pairs half A rated) and scores it, ``EV = P(d_w, y)^2`` (0 for P <= 0, the score of the
robustness sweep's ``ev_human``), on the mean of half B (the pairs half B rated), a panel
of other listeners, and on the mean of the whole panel (which half A is part of); the
in-sample EV on half A is recorded too.

Every split of a (representation, study) is one :class:`~timbre_jax.solvers.batch.Group`
(the study's pair differences shared, only the ratings and masks change), solved through
:func:`timbre_jax.fit.sweep.solve` like the robustness sweep: saved chunks, resume,
progress and the exact solver by default.  A study with one participant, or with only
averaged ratings, is skipped with the reason.

Beside the EVs, each study's noise in the paper's delta units: the median over pairs of
the standard error ``sd / sqrt(raters)`` of a half's mean and of the full mean, next to
the paper's guess ``delta_bar = 0.1 sqrt(m)`` (:func:`timbre_jax.stats.halves.noise_level`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.core.pearson import pair_differences, pearson_rows
from timbre_jax.data import datasets as stored
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.data.participants import Participants, mean_of
from timbre_jax.data.registry import DATASETS, get_dataset
from timbre_jax.errors import DataError
from timbre_jax.fit import sweep
from timbre_jax.fit.learn import explained_variance
from timbre_jax.plots.raters import plot_raters
from timbre_jax.plots.tables import write_csv
from timbre_jax.solvers import Solver
from timbre_jax.solvers.batch import Group
from timbre_jax.stats import convergence
from timbre_jax.stats.halves import noise_level, splits
from timbre_jax.stats.reliability import half_means

WRITES = ("OUT/raters.csv (one row per split: the EV on half A, in-sample, on half B and on the full mean), "
          "OUT/raters_summary.csv (per representation and study: median and 95% interval of the EVs, the noise of "
          "a half's mean and of the full mean in the paper's delta units), OUT/raters_<dataset>.png and the saved "
          "fits under OUT/chunks/<representation>/")


@dataclass(frozen=True)
class SplitRow:
    """One split of one (representation, study): the participants of half A (their ids,
    space-separated), the EV of the metric learned on half A's mean on half A (in-sample),
    on half B's mean and on the full mean, and the fit's iterations and convergence."""

    representation: str
    dataset: str
    split: int
    half_a: str
    ev_a: float
    ev_b: float
    ev_full: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class Panel:
    """One study's participants as the analysis uses them: their number, the size of each
    half, and the noise in delta units of a half's mean (``delta_half``), of the full mean
    (``delta_full``) and the paper's guess ``delta_bar = 0.1 sqrt(paper_participants)``, from
    the participant count of the paper's Table I (NaN and None for a study of your own;
    Lakatos (2000)'s 34 are its two panels, each raw file holding 17)."""

    participants: Participants
    half_a: int
    half_b: int
    delta_half: float
    delta_full: float
    delta_bar: float
    paper_participants: int | None


def panel_of(dataset: str, participants: Participants, count: int, seed: int) -> Panel:
    """The :class:`Panel` of ``dataset`` under ``count`` splits drawn with ``seed``."""
    m = participants.m
    in_a = splits(seed, dataset, m, count)
    known = get_dataset(dataset) if dataset in DATASETS else None
    return Panel(participants, m // 2, m - m // 2, noise_level(participants.pairs, in_a),
                 noise_level(participants.pairs), known.typical_noise if known else float("nan"),
                 known.m_subjects if known else None)


def why_not(dataset: str, participants: Participants | None) -> str | None:
    """Why ``dataset`` cannot be split into halves of listeners (None: it can)."""
    if participants is None:
        return stored.no_participants_reason(dataset).removeprefix(f"{dataset}: ")
    if participants.m < 2:
        return f"{participants.m} participant{'' if participants.m == 1 else 's'}: halves need at least two"
    return None


def make_group(fs: FeatureSet, participants: Participants, in_a: np.ndarray) -> Group:
    """One problem per split (``in_a`` (K, m)): the mean ratings of half A on the pairs
    half A rated, all on the pair differences of ``fs``."""
    l = participants.ratings.shape[1]
    if l != len(fs.sounds):
        raise DataError(f"{fs.dataset}: the participants' ratings have {l} sounds, the "
                        f"{fs.representation} features {len(fs.sounds)}")
    a = half_means(participants.pairs, in_a)
    rated = np.isfinite(a)
    few = np.flatnonzero(rated.sum(axis=1) < 3)
    if few.size:  # no Pearson correlation to learn from
        raise DataError(f"{fs.dataset}: half A of split {few[0]} rated {rated[few[0]].sum()} pairs; a fit needs 3 "
                        "or more (too few participants rate each pair)")
    return Group(np.asarray(pair_differences(fs.features)), np.where(rated, a, 0.0), rated.astype(np.float64),
                 fs.dataset)


def scored(distances: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """EV of each row of ``distances`` (K, p) with the same row of ``targets`` (K, p), or
    with ``targets`` (p,) for all, over the pairs the target rated (finite): (K,)."""
    targets = np.broadcast_to(targets, distances.shape)
    P = np.empty(len(distances))
    with np.errstate(invalid="ignore", divide="ignore"):  # constant distances: P is NaN, EV 0
        for k, (d, y) in enumerate(zip(distances, targets)):
            rated = np.isfinite(y)
            P[k] = pearson_rows(d[None], np.where(rated, y, 0.0), rated.astype(np.float64))[0]
    return explained_variance(P)


def rater_sweep(sets: list[FeatureSet], panels: dict[str, Participants], solver: Solver, *, count: int = 100,
                seed: int = 0, chunk_groups: int | None = None, directory: Path | None = None,
                progress: bool = True) -> tuple[list[SplitRow], int]:
    """Every (study x split) problem of one representation, batched: (rows, fits read back
    from ``directory``); ``panels``: the participants of each study of ``sets``."""
    divided = [splits(seed, fs.dataset, panels[fs.dataset].m, count) for fs in sets]
    groups = [make_group(fs, panels[fs.dataset], in_a) for fs, in_a in zip(sets, divided)]
    rep = sets[0].representation if sets else ""
    results, resumed = sweep.solve(groups, solver, chunk_groups=chunk_groups, directory=directory,
                                   label=f"raters {rep}", progress=progress)
    rows = []
    for fs, in_a, res in zip(sets, divided, results):
        people = panels[fs.dataset]
        b = half_means(people.pairs, ~in_a)
        ev_b, ev_full = scored(res.distances, b), scored(res.distances, mean_of(people.pairs))
        ev_a = explained_variance(res.pearson)
        for k in range(count):
            rows.append(SplitRow(rep, fs.dataset, k, " ".join(np.asarray(people.ids)[in_a[k]]), float(ev_a[k]),
                                 float(ev_b[k]), float(ev_full[k]), int(res.iterations[k]),
                                 bool(res.converged[k])))
    return rows, resumed


@dataclass(frozen=True)
class RatersResult:
    """The rows of the splits, each split study's :class:`Panel`, the studies that could
    not be split (dataset, reason), the (representation, dataset, reason) without
    features, per representation (fits, seconds, fits read back), and the run's settings."""

    rows: list[SplitRow]
    representations: list[str]
    datasets: list[str]
    panels: dict[str, Panel]
    unsplit: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    timings: dict[str, tuple[int, float, int]] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""
    solver: str = ""
    splits: int = 0


def run(representations, datasets, *, source: str = "auto", solver: Solver | None = None, splits: int = 100,
        seed: int = 0, chunk_groups: int | None = None, directory: Path | None = None,
        progress: bool = True) -> RatersResult:
    """``splits`` splits of the participants of each study that has them, per
    representation (``solver``: default :class:`~timbre_jax.solvers.Exact`); fits saved
    under ``directory/<representation>``."""
    started = time.perf_counter()
    people, unsplit = {}, []
    for d in datasets:
        found = stored.participants(d)
        reason = why_not(d, found)
        if reason is None:
            people[d] = found
        else:
            unsplit.append((d, reason))
    split = [d for d in datasets if d in people]
    if not split:
        said = "; ".join(f"{d}: {why}" for d, why in unsplit[:3]) + ("; ..." if len(unsplit) > 3 else "")
        raise DataError(f"no study to split into halves of listeners ({said}); built in with per-participant "
                         "ratings: Lakatos2000_Comb, Lakatos2000_Harm")
    job = base.start(representations, split, source, solver, directory)
    rows, timings = [], {}
    for r, sets, clock in job.each():
        found, resumed = rater_sweep(sets, people, job.solver, count=splits, seed=seed,
                                     directory=job.folder(r), chunk_groups=chunk_groups, progress=progress)
        rows += found
        timings[r] = (len(found), clock(), resumed)
    panels = {d: panel_of(d, people[d], splits, seed) for d in split}
    return RatersResult(rows, list(representations), split, panels, unsplit, job.skipped, timings,
                        time.perf_counter() - started, job.source, job.solver.name, splits)


def interval(values) -> tuple[float, float, float]:
    """The median and the 95% interval (2.5th and 97.5th percentiles) of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.median(v)), float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))


SUMMARY_COLUMNS = ("representation", "dataset", "participants", "half_a", "half_b", "splits",
                   "ev_b_median", "ev_b_low", "ev_b_high", "ev_full_median", "ev_full_low", "ev_full_high",
                   "ev_a_median", "delta_half", "delta_full", "delta_bar", "delta_half_over_bar",
                   "unconverged", "converged")


def summaries(result: RatersResult) -> list[dict]:
    """One dict per (representation, study) with rows, keyed by :data:`SUMMARY_COLUMNS`."""
    out = []
    for r in result.representations:
        for d in result.datasets:
            sel = [x for x in result.rows if x.representation == r and x.dataset == d]
            if not sel:
                continue
            panel = result.panels[d]
            stopped = sum(not x.converged for x in sel)
            b, full = interval([x.ev_b for x in sel]), interval([x.ev_full for x in sel])
            out.append(dict(zip(SUMMARY_COLUMNS, (
                r, d, panel.participants.m, panel.half_a, panel.half_b, len(sel), *b, *full,
                interval([x.ev_a for x in sel])[0], panel.delta_half, panel.delta_full, panel.delta_bar,
                panel.delta_half / panel.delta_bar, stopped, stopped == 0))))
    return out


def write(result: RatersResult, out: Path) -> list[Path]:
    """raters.csv, raters_summary.csv and raters_<dataset>.png under ``out``."""
    out = Path(out)
    written = [write_csv(out / "raters.csv", list(SplitRow.__dataclass_fields__),
                         [[getattr(x, f) for f in SplitRow.__dataclass_fields__] for x in result.rows])]
    table = summaries(result)
    written.append(write_csv(out / "raters_summary.csv", list(SUMMARY_COLUMNS),
                             [[row[c] for c in SUMMARY_COLUMNS] for row in table]))
    for d in result.datasets:
        panel = result.panels[d]
        written.append(plot_raters(result.rows, d, out / f"raters_{d}.png", participants=panel.participants.m,
                                   half_a=panel.half_a, delta_half=panel.delta_half, delta_bar=panel.delta_bar,
                                   paper_participants=panel.paper_participants,
                                   representations=result.representations, source=result.source,
                                   solver=result.solver, skipped=result.skipped))
    return written


def unsplit_lines(unsplit) -> list[str]:
    """The studies that could not be split: one line per reason, naming its studies."""
    by_reason: dict[str, list[str]] = {}
    for d, why in unsplit:
        by_reason.setdefault(why, []).append(d)
    return [f"skipped {', '.join(ds)}: {why}" for why, ds in by_reason.items()]


def _said(row: dict, name: str) -> str:
    """'0.612 [0.550, 0.660]': the median and 95% interval of one EV of a summary row."""
    return f"{row[name + '_median']:.3f} [{row[name + '_low']:.3f}, {row[name + '_high']:.3f}]"


def summary(result: RatersResult) -> list[str]:
    """What was skipped, one line per study (its noise beside the paper's guess), one
    line per (representation, study) (the EVs' medians and 95% intervals), fits and time
    per representation, and the fits that did not converge."""
    lines = unsplit_lines(result.unsplit) + base.skipped_lines(result.skipped)
    for d in result.datasets:
        panel = result.panels[d]
        bar = (f"δ̄ = 0.1·√{panel.paper_participants} = {panel.delta_bar:.3f}" if panel.paper_participants
               else "δ̄ unknown for a study of your own")
        lines.append(f"{d}: {panel.participants.m} participants, halves of {panel.half_a} and {panel.half_b}; "
                     f"noise of a half's mean δ = {panel.delta_half:.3f}, of the full mean {panel.delta_full:.3f} "
                     f"(median over pairs of sd/√raters), the paper's guess {bar}")
    for row in summaries(result):
        lines.append(convergence.marked(
            f"{row['representation']}/{row['dataset']}: EV on the other half {_said(row, 'ev_b')}, on the full "
            f"mean {_said(row, 'ev_full')}, in-sample on the half learned on {row['ev_a_median']:.3f} "
            f"(median [95% interval] over {row['splits']} splits)", row["converged"]))
    for r, (fits, seconds, resumed) in result.timings.items():
        if resumed:
            lines.append(f"{r}: {fits} fits, {seconds:.1f} s in this run ({resumed} resumed from saved chunks)")
        else:
            lines.append(f"{r}: {fits} fits in {seconds:.1f} s ({fits / max(seconds, 1e-9):.2f} fits/s)")
    found = convergence.tally((x.representation, x.dataset, x.converged) for x in result.rows)
    lines += convergence.report("raters", found, result.solver,
                                "an EV whose splits include fits that did not converge")
    lines.append(f"wall time {result.seconds:.1f} s")
    return lines
