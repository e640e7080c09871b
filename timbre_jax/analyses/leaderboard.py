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
bootstrap samples (difference, interval, Holm-corrected p-value).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base as analysis
from timbre_jax.analyses import crossval
from timbre_jax.plots.figures import (
    EV_AXIS,
    TICK_SIZE,
    TITLE_SIZE,
    _pyplot,
    _say_empty,
    _value_labels,
    caption,
    provenance,
    save_figure,
    style_axes,
)
from timbre_jax.progress import bar
from timbre_jax.solvers import Exact
from timbre_jax.stats import bootstrap, rank_metrics, scores

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
    loaded = analysis.load(representations, datasets, source)
    rows, study_rows, per_rep = [], [], {}
    solver = Exact()
    for r, sets in loaded.sets.items():
        fits = crossval.solve_folds(sets, solver, directory=None if directory is None else Path(directory) / r,
                                    progress=progress)
        studies = [scores.study(fs, res.distances) for fs, res in zip(sets, fits)]
        points = [scores.scores(st, margin=margin) for st in studies]
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
    from timbre_jax.plots import tables as report

    out = Path(out)
    written = []
    for name, rows in (("leaderboard.csv", result.rows), ("leaderboard_studies.csv", result.studies),
                       ("comparisons.csv", result.comparisons)):
        if rows:
            header = list(dict.fromkeys(k for row in rows for k in row))
            written.append(report.write_csv(out / name, header, [[row.get(k, "") for k in header] for row in rows]))
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
    lines = analysis.skipped_lines(result.skipped)
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


def plot_leaderboard(rows: list[dict], path: Path, *, source: str = "") -> Path:
    """The leaderboard in two panels: the pooled per-anchor Spearman of each representation
    for the three distances (euclidean, cosine, learned), and the median EV over studies
    (zero-shot euclidean, in-sample and held-out of the learned metric); each bar's value
    printed over it, 'n/a' where it has none.  The title names the representations, the
    number of studies, ``source`` and the solver (exact)."""
    plt = _pyplot()
    reps = list(dict.fromkeys(x["representation"] for x in rows))
    cell = {(x["representation"], x["distance"]): x for x in rows}
    kinds = [k for k in ("euclidean", "cosine", "learned") if any((r, k) in cell for r in reps)]
    x = np.arange(len(reps))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.3 * len(reps) + 4), 4.4))
    width = 0.8 / max(len(kinds), 1)
    for i, kind in enumerate(kinds):
        values = [cell[(r, kind)]["anchor_spearman"] if (r, kind) in cell else np.nan for r in reps]
        xs = x + (i - (len(kinds) - 1) / 2) * width
        axes[0].bar(xs, values, width, label=kind)
        _value_labels(axes[0], xs, values, width)
    style_axes(axes[0], "pooled per-anchor Spearman (timbre benchmark)", "representation",
               "mean over anchors of Spearman's ρ (unitless)")
    bars = [("zero-shot (euclidean)", lambda r: cell.get((r, "euclidean"), {}).get("ev_median", np.nan)),
            ("in-sample optimum", lambda r: cell.get((r, "learned"), {}).get("ev_median", np.nan)),
            ("held-out", lambda r: cell.get((r, "learned"), {}).get("heldout_ev_median", np.nan))]
    width = 0.8 / len(bars)
    for i, (label, get) in enumerate(bars):
        xs, values = x + (i - (len(bars) - 1) / 2) * width, [get(r) for r in reps]
        axes[1].bar(xs, values, width, label=label)
        _value_labels(axes[1], xs, values, width)
    style_axes(axes[1], "median explained variance over studies", "representation", EV_AXIS)
    for ax in axes:
        ax.set_xticks(x, reps, rotation=30, ha="right")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.margins(y=0.15)
        ax.legend(fontsize=TICK_SIZE, frameon=False)
    if not rows:
        for ax in axes:
            _say_empty(ax, "no rows: no representation had features")
    studies = max((x_["studies"] for x_ in rows), default=0)
    fig.suptitle(f"Leaderboard of {', '.join(reps) or 'no representation'} over {studies} studies\n"
                 f"({provenance(source, 'exact')} for the learned metric)", fontsize=TITLE_SIZE)
    fig.tight_layout()
    caption(fig, "Left: rank metric of the field's benchmark, distances not squared, pooled over every anchor "
            "sound of every study. Right: medians over studies; held-out is leave-one-sound-out cross-validation. "
            "n/a: no data for that representation and distance.")
    return save_figure(fig, path)


def plot_comparison(names, points, lows, highs, significant_pairs, path: Path, title: str, ylabel: str, *,
                    absent=()) -> Path:
    """Representations side by side, in the style of representational similarity
    analysis: a bar per representation (its point estimate, printed) with whiskers from
    ``lows`` to ``highs`` (its bootstrap interval; none where NaN), and above the bars a
    line for each pair (i, j) of ``significant_pairs`` whose difference is significant.
    A representation whose point is NaN gets 'no data' in words instead of a bar ('no R
    features' for a name R of ``absent``)."""
    plt = _pyplot()
    points = np.asarray(points, dtype=np.float64)
    lows, highs = np.asarray(lows, dtype=np.float64), np.asarray(highs, dtype=np.float64)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 2), 4.0))
    ax.bar(x, np.nan_to_num(points), color="0.6")
    has = np.isfinite(lows) & np.isfinite(highs) & np.isfinite(points)
    ax.errorbar(x[has], points[has], yerr=[points[has] - lows[has], highs[has] - points[has]], fmt="none",
                ecolor="k", capsize=3, lw=1)
    tops = np.where(has, highs, np.nan_to_num(points))
    top = float(np.nanmax(np.r_[tops, 0.0])) if len(points) else 1.0
    step = 0.06 * max(top, 0.1)
    for i, p in enumerate(points):
        if np.isfinite(p):
            ax.text(i, max(tops[i], 0.0) + step / 3, f"{p:.2f}", ha="center", va="bottom", fontsize=7)
        else:
            ax.text(i, step / 3, f"no {names[i]} features" if names[i] in absent else "no data", ha="center",
                    va="bottom", fontsize=7, color="0.4", rotation=90)
    for level, (i, j) in enumerate(sorted(significant_pairs, key=lambda p: abs(p[1] - p[0]))):
        y = top + step * (level + 2)
        ax.plot([i, i, j, j], [y - step / 4, y, y, y - step / 4], color="k", lw=0.8)
    style_axes(ax, title, "representation", ylabel)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.margins(y=0.12)
    if not len(names):
        _say_empty(ax, "no representation to compare")
    fig.tight_layout()
    caption(fig, "Bars: point estimate (printed); whiskers: 95% bootstrap interval over sounds (the metric held "
            "fixed); lines: pairs whose difference is significant (paired bootstrap, Holm-corrected p < 0.05).")
    return save_figure(fig, path)
