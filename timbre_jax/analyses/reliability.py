"""Rater reliability: how much the listeners of each study agree, and the noise ceilings.

No features and no fit: only the per-participant ratings of a study
(:func:`timbre_jax.data.datasets.participants`; a study with mean ratings only is skipped,
saying why).  Per study (the statistics: :mod:`timbre_jax.stats.reliability` and
:mod:`timbre_jax.stats.ceiling`): how many participants, pairs and ratings per pair; the
split-half reliability of the mean ratings (Spearman–Brown corrected, median and 95%
interval over random halves), which is the ceiling on the EV of any model of the mean
ratings; Cronbach's α; the test–retest correlation of repeated pairs; each participant's
agreement with the others, outliers flagged (not removed), and rsatoolbox's
leave-one-participant-out bounds; the spread of each pair's ratings and the standard error
of the mean ratings, the measured rater noise in the paper's δ units, beside its guess
δ̄ = 0.1·√m.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.data import datasets as data_sets
from timbre_jax.data.participants import Participants
from timbre_jax.data.registry import DATASETS, get_dataset
from timbre_jax.errors import DataError
from timbre_jax.plots.reliability import plot_reliability
from timbre_jax.plots.tables import write_csv
from timbre_jax.progress import bar
from timbre_jax.stats import reliability as rel
from timbre_jax.stats.ceiling import finite_mean

WRITES = ("OUT/reliability.csv (one row per study), OUT/participants.csv (one row per participant: leave-one-out "
          "agreement, outlier flag) and OUT/reliability_<study>.png (one figure per study)")

COLUMNS = ["study", "participants", "pairs", "rated_pairs", "ratings_per_pair_median", "ratings_per_pair_min",
           "split_half_median", "split_half_low", "split_half_high", "alpha", "alpha_pairs", "test_retest",
           "repeats", "loo_lower", "loo_upper", "outliers", "pair_sd_median", "sem_median", "measured_delta",
           "half_delta", "paper_delta_bar", "paper_participants", "floor"]
PARTICIPANT_COLUMNS = ["study", "participant", "pairs_rated", "loo_r", "with_mean_r", "outlier", "self_rating"]


@dataclass(frozen=True)
class StudyReliability:
    """Every number of one study (:func:`study_reliability`).  Per participant (m,): ``ids``,
    ``pairs_rated``, ``loo`` (r with the mean of the others), ``with_mean`` (r with the mean
    of all), ``outliers`` (flagged), ``self_ratings``.  ``paper_delta_bar`` is δ̄ = 0.1·√m with
    ``paper_participants`` = m: the paper's count for a built-in study, the measured one
    otherwise; ``measured_delta`` is the median standard error of the mean ratings."""

    study: str
    ids: tuple[str, ...]
    pairs: int
    rated_pairs: int
    raters_median: float
    raters_min: int
    split: rel.SplitHalf
    alpha: float
    alpha_pairs: int
    retest: float
    repeats: int
    pairs_rated: np.ndarray
    loo: np.ndarray
    with_mean: np.ndarray
    outliers: np.ndarray
    spread: rel.PairSpread
    paper_delta_bar: float
    paper_participants: int
    floor: float
    self_ratings: np.ndarray

    @property
    def lower(self) -> float:
        """rsatoolbox's lower bound: the mean leave-one-out r."""
        return finite_mean(self.loo)

    @property
    def upper(self) -> float:
        """rsatoolbox's upper bound: the mean r with the mean of all."""
        return finite_mean(self.with_mean)

    @property
    def flagged(self) -> list[str]:
        """The ids of the participants flagged as outliers."""
        return [i for i, f in zip(self.ids, self.outliers) if f]


def paper_participants(study: str, measured: int) -> int:
    """The m of δ̄ = 0.1·√m: the paper's participant count for a built-in study that has one
    (registry, Table I of the paper), else ``measured``."""
    return (get_dataset(study).m_subjects or measured) if study in DATASETS else measured


def study_reliability(study: str, people: Participants, *, splits: int = rel.SPLITS,
                      seed: int = 0) -> StudyReliability:
    """Every number of :data:`COLUMNS` for ``study`` from its participants; fewer than two is
    a :class:`~timbre_jax.errors.DataError`."""
    X = rel.require_two(people.pairs, study)
    spread = rel.pair_spread(X)
    loo = rel.leave_one_out(X, study)
    complete = rel.complete_pairs(X)
    retest = np.asarray(people.retest, dtype=np.float64).reshape(-1, 2)
    m_paper = paper_participants(study, people.m)
    return StudyReliability(
        study=study, ids=tuple(people.ids), pairs=X.shape[1], rated_pairs=int((spread.raters > 0).sum()),
        raters_median=float(np.median(spread.raters)), raters_min=int(spread.raters.min()),
        split=rel.split_half(X, splits, seed, study), alpha=rel.cronbach_alpha(X, study),
        alpha_pairs=int(complete.sum()), retest=rel.retest_correlation(retest), repeats=len(retest),
        pairs_rated=np.isfinite(X).sum(axis=1), loo=loo, with_mean=rel.with_mean(X, study),
        outliers=rel.outliers(loo), spread=spread, paper_delta_bar=rel.paper_noise(m_paper),
        paper_participants=m_paper, floor=people.floor, self_ratings=np.asarray(people.self_ratings, dtype=float))


@dataclass(frozen=True)
class ReliabilityResult:
    """One :class:`StudyReliability` per study with per-participant data, the studies
    skipped ((study, reason)), the settings and the time."""

    studies: list[StudyReliability]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    splits: int = rel.SPLITS
    seed: int = 0
    seconds: float = 0.0


def run(datasets, *, splits: int = rel.SPLITS, seed: int = 0, progress: bool = True) -> ReliabilityResult:
    """The reliability of every study of ``datasets`` that has per-participant ratings; the
    others are skipped with the reason.  A study with one participant is skipped, saying
    that reliability needs two; when no study is left, that is a :class:`DataError`."""
    started = time.perf_counter()
    found, skipped = [], []
    with bar(progress, "reliability", total=len(datasets)) as advance:
        for name in datasets:
            people = data_sets.participants(name, progress=progress)
            if people is None:
                skipped.append((name, data_sets.no_participants_reason(name)))
            else:
                try:
                    found.append(study_reliability(name, people, splits=splits, seed=seed))
                except DataError as e:
                    skipped.append((name, str(e)))
            advance(1)
    if not found:
        raise DataError("no per-participant ratings to assess: " + "; ".join(why for _, why in skipped))
    return ReliabilityResult(found, skipped, splits, seed, time.perf_counter() - started)


def row(s: StudyReliability) -> list:
    """The row of :data:`COLUMNS` of one study."""
    h, sp = s.split, s.spread
    return [s.study, len(s.ids), s.pairs, s.rated_pairs, s.raters_median, s.raters_min, h.median, h.low, h.high,
            s.alpha, s.alpha_pairs, s.retest, s.repeats, s.lower, s.upper, ";".join(s.flagged), sp.sd_median,
            sp.sem_median, sp.sem_median, sp.half_sem_median, s.paper_delta_bar, s.paper_participants, s.floor]


def write(result: ReliabilityResult, out: Path) -> list[Path]:
    """OUT/reliability.csv (:data:`COLUMNS`), OUT/participants.csv (:data:`PARTICIPANT_COLUMNS`)
    and one figure per study."""
    out = Path(out)
    people = [[s.study, i, int(n), r, w, "yes" if f else "no", own]
              for s in result.studies
              for i, n, r, w, f, own in zip(s.ids, s.pairs_rated, s.loo, s.with_mean, s.outliers, s.self_ratings)]
    paths = [write_csv(out / "reliability.csv", COLUMNS, [row(s) for s in result.studies]),
             write_csv(out / "participants.csv", PARTICIPANT_COLUMNS, people)]
    for s in result.studies:
        paths.append(plot_reliability(s.study, s.ids, s.loo, s.outliers, (s.lower, s.upper), s.split, s.spread,
                                      s.paper_delta_bar, s.paper_participants, out / f"reliability_{s.study}.png"))
    return paths


def summary(result: ReliabilityResult) -> list[str]:
    """What was skipped, then one line per study."""
    lines = [f"skipped {d}: {why.removeprefix(d + ': ')}" for d, why in result.skipped]
    for s in result.studies:
        h = s.split
        flagged = ", ".join(s.flagged) or "none"
        retest = f"; test-retest {s.retest:.2f} ({s.repeats} repeats)" if np.isfinite(s.retest) else ""
        lines.append(f"{s.study}: {len(s.ids)} participants, {s.rated_pairs}/{s.pairs} pairs rated; split-half "
                     f"{h.median:.3f} [{h.low:.3f}, {h.high:.3f}] (the EV ceiling); alpha {s.alpha:.3f}{retest}; "
                     f"leave-one-out {s.lower:.3f} to {s.upper:.3f}; outliers: {flagged}; measured delta "
                     f"{s.spread.sem_median:.3f} vs the paper's 0.1*sqrt({s.paper_participants}) = "
                     f"{s.paper_delta_bar:.3f}")
    lines.append(f"[{result.seconds:.1f} s]")
    return lines
