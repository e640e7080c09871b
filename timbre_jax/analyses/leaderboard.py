"""A leaderboard over every study: the field's rank metrics pooled as its benchmark pools
them, beside this package's explained variances, with bootstrap intervals per study and
paired comparisons of the representations.

For each representation and distance (``euclidean`` and ``cosine``, no fit; ``learned``,
the certified optimum on each study) the rank metrics of :mod:`timbre_jax.stats.rank_metrics`
pooled over studies (anchor metrics: the sum over every anchor of every study divided by
the number of anchors; MAE: over every pair), and the medians over studies of the EV
(zero-shot for the unweighted distances; in-sample and leave-one-sound-out for the learned
one).  Per study, every number has a 95% bootstrap interval over sounds
(:mod:`timbre_jax.stats.scores`), and every pair of representations is compared on the same
bootstrap samples (difference, interval, Holm-corrected p-value).  The figures:
:mod:`timbre_jax.plots.leaderboard`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.plots import tables
from timbre_jax.plots.leaderboard import plot_comparison, plot_leaderboard
from timbre_jax.progress import bar
from timbre_jax.solvers import Exact
from timbre_jax.stats import bootstrap, heldout, rank_metrics, scores

WRITES = ("OUT/leaderboard.csv, OUT/leaderboard_studies.csv, OUT/comparisons.csv (paired bootstrap "
          "comparisons), OUT/leaderboard.png, OUT/compare_<dataset>.png and the saved fits under OUT/chunks/")

COMPARED = ("learned", "heldout_ev")  # the number the comparison figures show


@dataclass(frozen=True)
class LeaderboardResult:
    """``rows``: one dict per representation x distance (pooled metrics, EV medians);
    ``studies``: one dict per representation x distance x study (every number, its
    interval); ``comparisons``: one dict per study x number x pair of representations."""

    rows: list[dict]
    studies: list[dict]
    comparisons: list[dict]
    bootstrap_samples: int
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0


def _study_rows(r: str, st: scores.Study, point: dict, bounds: dict) -> list[dict]:
    out = []
    for kind in st.kinds:
        row = dict(representation=r, distance=kind, dataset=st.fs.dataset, source=st.fs.source,
                   sounds=len(st.fs.sounds), pairs=int(np.isfinite(st.fs.pairs).sum()))
        for number in (*scores.NUMBERS, "heldout_ev"):
            if (kind, number) in point:
                low, high = bounds.get((kind, number), (np.nan, np.nan))
                row.update({number: point[(kind, number)], f"{number}_low": low, f"{number}_high": high})
        out.append(row)
    return out


def _pooled_rows(r: str, studies: list[scores.Study], per_study: list[dict], margin: float) -> list[dict]:
    out = []
    for kind in studies[0].kinds:
        pooled = rank_metrics.pooled([(st.matrices[kind], st.fs.ratings) for st in studies], margin=margin)
        ev = [p[(kind, "ev")] for p in per_study]
        row = dict(representation=r, distance=kind, studies=len(studies),
                   sounds=sum(len(st.fs.sounds) for st in studies), **pooled,
                   ev_median=float(np.nanmedian(ev)),
                   heldout_ev_median=float(np.nanmedian([p[(kind, "heldout_ev")] for p in per_study]))
                   if kind == "learned" else float("nan"))
        out.append(row)
    return out


def _comparisons(per_rep: dict[str, dict], level: float) -> list[dict]:
    """Every pair of representations on every study and number, Holm-corrected per study
    and number over the pairs."""
    out = []
    datasets = sorted({d for found in per_rep.values() for d in found})
    for d in datasets:
        have = [r for r in per_rep if d in per_rep[r]]
        keys = sorted({k for r in have for k in per_rep[r][d][1]})
        for key in keys:
            rows = []
            for a, b in itertools.combinations(have, 2):
                (pa, va), (pb, vb) = per_rep[a][d], per_rep[b][d]
                if key not in va or key not in vb:
                    continue
                c = bootstrap.paired_comparison(va[key], vb[key], pa[key], pb[key], level)
                rows.append(dict(dataset=d, distance=key[0], number=key[1], representation_a=a,
                                 representation_b=b, **c))
            adjusted = bootstrap.correct([x["p"] for x in rows]) if rows else []
            for x, q in zip(rows, adjusted):
                x["p_holm"] = float(q)
            out += rows
    return out


def run(representations, datasets, *, source: str = "auto", samples: int = 1000, seed: int = 0,
        level: float = 0.95, margin: float = 0.1, directory: Path | None = None,
        progress: bool = True) -> LeaderboardResult:
    """The leaderboard of ``representations`` over ``datasets`` (``source="auto"``:
    upstream features where the paper published them, extracted elsewhere); ``samples``
    bootstrap samples per study (0: no intervals, no comparisons); fits saved under
    ``directory/<representation>``."""
    t0 = time.perf_counter()
    loaded = base.load(representations, datasets, source)
    rows, study_rows, per_rep = [], [], {}
    solver = Exact()
    for r, sets in loaded.sets.items():
        fits = heldout.solve_folds(sets, solver, directory=None if directory is None else Path(directory) / r,
                                   progress=progress)
        studies = [scores.study(fs, res.distances) for fs, res in zip(sets, fits)]
        points = [scores.numbers(st, margin=margin) for st in studies]
        per_rep[r] = {}
        with bar(progress and samples > 0, f"bootstrap {r}", total=len(studies)) as advance:
            for st, point in zip(studies, points):
                bounds, values = {}, {}
                if samples:
                    drawn = scores.samples_of(st.fs.dataset, len(st.fs.sounds), samples, seed)
                    bounds, values = scores.intervals(st, drawn, level, margin)
                per_rep[r][st.fs.dataset] = (point, values)
                study_rows += _study_rows(r, st, point, bounds)
                advance(1)
        rows += _pooled_rows(r, studies, points, margin)
    comparisons = _comparisons(per_rep, level) if samples else []
    return LeaderboardResult(rows, study_rows, comparisons, samples, loaded.skipped, time.perf_counter() - t0)


def write(result: LeaderboardResult, out: Path) -> list[Path]:
    """OUT/leaderboard.csv, OUT/leaderboard_studies.csv, OUT/comparisons.csv (with
    bootstrap samples), OUT/leaderboard.png and OUT/compare_<dataset>.png."""
    out = Path(out)
    written = []
    for name, rows in (("leaderboard.csv", result.rows), ("leaderboard_studies.csv", result.studies),
                       ("comparisons.csv", result.comparisons)):
        if rows:
            header = list(dict.fromkeys(k for row in rows for k in row))
            written.append(tables.write_csv(out / name, header, [[row.get(k, "") for k in header] for row in rows]))
    if result.rows:
        written.append(plot_leaderboard(result.rows, out / "leaderboard.png",
                                        source=" + ".join(dict.fromkeys(x["source"] for x in result.studies))))
    kind, number = COMPARED
    for d in dict.fromkeys(x["dataset"] for x in result.studies):
        cells = [x for x in result.studies if x["dataset"] == d and x["distance"] == kind and number in x]
        if len(cells) < 1 or not result.bootstrap_samples:
            continue
        names = [x["representation"] for x in cells]
        absent = [r for r, d_, *_ in result.skipped if d_ == d and r not in names]  # said in words on the figure
        significant = [(names.index(c["representation_a"]), names.index(c["representation_b"]))
                       for c in result.comparisons if c["dataset"] == d and (c["distance"], c["number"]) == COMPARED
                       and c["p_holm"] < 0.05]
        nan = [np.nan] * len(absent)
        written.append(plot_comparison(
            names + absent, [x[number] for x in cells] + nan, [x[f"{number}_low"] for x in cells] + nan,
            [x[f"{number}_high"] for x in cells] + nan, significant, out / f"compare_{d}.png",
            title=f"{d}: held-out EV of the learned metric per representation\n"
                  f"({cells[0]['source']} features, exact solver, {result.bootstrap_samples} bootstrap samples)",
            ylabel="held-out explained variance P² (unitless)\n(leave one sound out)", absent=absent))
    return written


def summary(result: LeaderboardResult) -> list[str]:
    """What was skipped, then the leaderboard as a table."""
    lines = base.skipped_lines(result.skipped)
    lines.append(f"{'representation':14s} {'distance':9s} {'studies':>7s} {'spearman':>8s} {'kendall':>7s} "
                 f"{'triplet':>7s} {'ndcg':>6s} {'mae':>6s} {'EV med':>6s} {'held-out':>8s}")
    for x in result.rows:
        lines.append(f"{x['representation']:14s} {x['distance']:9s} {x['studies']:7d} {x['anchor_spearman']:8.3f} "
                     f"{x['anchor_kendall']:7.3f} {x['triplet_agreement']:7.3f} {x['ndcg']:6.3f} {x['mae']:6.3f} "
                     f"{x['ev_median']:6.3f} {x['heldout_ev_median']:8.3f}")
    lines.append("rank metrics pooled over studies as the timbre benchmark pools them (distances not squared, each "
                 "matrix divided by its largest value); EV med: zero-shot P^2 for euclidean/cosine, in-sample "
                 "optimum for learned; held-out: leave-one-sound-out EV of the learned metric")
    if result.bootstrap_samples:
        lines.append(f"per study: 95% intervals from {result.bootstrap_samples} bootstrap samples of the sounds "
                     f"in leaderboard_studies.csv; {len(result.comparisons)} paired comparisons in comparisons.csv")
    lines.append(f"wall time {result.seconds:.1f} s")
    return lines
