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

Every number of the learned metric exists twice.  In-sample: the metric fitted on every
rated pair, scored on the same pairs: what the weights can fit, which grows with their
number.  Held-out: leave one sound out, each sound's pairs scored by the metric of the fold
learned without them (:func:`timbre_jax.stats.scores.heldout_matrix`; the EV pooled over
the folds, the anchor metrics with anchor k scored by fold k; MAE has no held-out form).
The unweighted distances have no fit: zero-shot.  The leaderboard ranks the representations
by a held-out number (:data:`RANKED_BY`), never an in-sample one, so that a representation
with more weights than ratings does not come first by fitting them (column
``heldout_rank`` of leaderboard.csv, 1 = best, on every row of the representation).
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
from timbre_jax.stats import bootstrap, ceiling, convergence, heldout, rank_metrics, scores

WRITES = ("OUT/leaderboard.csv, OUT/leaderboard_studies.csv, OUT/comparisons.csv (paired bootstrap "
          "comparisons), OUT/leaderboard.png, OUT/compare_<dataset>.png and the saved fits under OUT/chunks/")

COMPARED = ("learned", "heldout_ev")  # the number the comparison figures show
# The ranking: the held-out pooled per-anchor Spearman of the learned metric, ties (and NaN)
# decided by the median held-out EV; in-sample numbers never rank.
RANKED_BY = ("learned", "heldout_anchor_spearman")
TIE_BREAK = ("learned", "heldout_ev_median")


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


def _study_rows(r: str, st: scores.Study, point: dict, bounds: dict, noise) -> list[dict]:
    """The rows of one study, one per distance; ``noise``: (X (m, p), ceiling) of its
    participants, or (None, None) (:func:`timbre_jax.analyses.base.ceilings`)."""
    out = []
    for kind in st.kinds:
        row = dict(representation=r, distance=kind, dataset=st.fs.dataset, source=st.fs.source,
                   sounds=len(st.fs.sounds), pairs=int(np.isfinite(st.fs.pairs).sum()))
        for number in (*scores.NUMBERS, "heldout_ev", *scores.HELDOUT_RANK):
            if (kind, number) in point:
                low, high = bounds.get((kind, number), (np.nan, np.nan))
                row.update({number: point[(kind, number)], f"{number}_low": low, f"{number}_high": high})
        row.update(ceiling.columns(*noise, point[(kind, "ev")], point.get((kind, "heldout_ev"), np.nan),
                                   st.pair_distances[kind]))
        out.append(row)
    return out


def _ceiling_medians(rows: list[dict]) -> dict:
    """Over the study ``rows`` (of one representation and distance) with a noise ceiling:
    how many, and the medians of their EV and held-out EV as fractions of it (NaN: none)."""
    with_ceiling = [x for x in rows if x.get("ceiling_ev") is not None]

    def median(key):
        v = np.array([x[key] for x in with_ceiling], dtype=np.float64)
        v = v[np.isfinite(v)]
        return float(np.median(v)) if v.size else float("nan")

    return {"ceiling_studies": len(with_ceiling), "ev_of_ceiling_median": median("ev_of_ceiling"),
            "heldout_ev_of_ceiling_median": median("heldout_ev_of_ceiling")}


def _pooled_rows(r: str, studies: list[scores.Study], per_study: list[dict], margin: float,
                 study_rows: list[dict]) -> list[dict]:
    out = []
    for kind in studies[0].kinds:
        pooled = rank_metrics.pooled([(st.matrices[kind], st.fs.ratings) for st in studies], margin=margin)
        ev = [p[(kind, "ev")] for p in per_study]
        row = dict(representation=r, distance=kind, studies=len(studies),
                   sounds=sum(len(st.fs.sounds) for st in studies), **pooled,
                   ev_median=float(np.nanmedian(ev)),
                   heldout_ev_median=float(np.nanmedian([p[(kind, "heldout_ev")] for p in per_study]))
                   if kind == "learned" else float("nan"))
        held = (rank_metrics.pooled([(st.heldout, st.fs.ratings) for st in studies], margin=margin)
                if kind == "learned" else {})
        row.update({f"heldout_{m}": held.get(m, float("nan")) for m in rank_metrics.ANCHOR_METRICS})
        row.update(_ceiling_medians([x for x in study_rows if x["distance"] == kind]))
        out.append(row)
    return out


def ranking(rows: list[dict]) -> list[str]:
    """The representations of ``rows`` (leaderboard rows), best first by the held-out number
    :data:`RANKED_BY` of their learned metric, then by :data:`TIE_BREAK`; a NaN counts as
    the worst value, and equal numbers keep the order of ``rows``."""
    cell = {(x["representation"], x["distance"]): x for x in rows}

    def worst_first(r):
        values = [cell.get((r, kind), {}).get(number, np.nan) for kind, number in (RANKED_BY, TIE_BREAK)]
        return tuple(-v if np.isfinite(v) else np.inf for v in values)

    return sorted(dict.fromkeys(x["representation"] for x in rows), key=worst_first)


def with_ranks(rows: list[dict]) -> list[dict]:
    """``rows`` with ``heldout_rank`` (1 = best, :func:`ranking`) added last to each row,
    in their own order."""
    place = {r: k + 1 for k, r in enumerate(ranking(rows))}
    return [{**x, "heldout_rank": place[x["representation"]]} for x in rows]


def _comparisons(per_rep: dict[str, dict], level: float, numbers) -> list[dict]:
    """Every pair of representations on every study and number of ``numbers``,
    Holm-corrected per study and number over the pairs."""
    out = []
    datasets = sorted({d for found in per_rep.values() for d in found})
    for d in datasets:
        have = [r for r in per_rep if d in per_rep[r]]
        keys = sorted({k for r in have for k in per_rep[r][d][1] if k[1] in numbers})
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


def with_certification(rows: list[dict], uncertified: int) -> list[dict]:
    """``rows`` with ``uncertified`` added last to the learned metric's: how many of the
    fits behind its numbers (in-sample and folds) were not certified
    (:mod:`timbre_jax.stats.convergence`); the unweighted distances have no fit."""
    return [{**x, "uncertified": uncertified} if x["distance"] == "learned" else x for x in rows]


def run(representations, datasets, *, source: str = "auto", samples: int = 1000, seed: int = 0,
        level: float = 0.95, margin: float = 0.1, directory: Path | None = None,
        progress: bool = True) -> LeaderboardResult:
    """The leaderboard of ``representations`` over ``datasets`` (``source="auto"``:
    upstream features where the paper published them, extracted elsewhere); ``samples``
    bootstrap samples per study (0: no intervals, no comparisons); fits saved under
    ``directory/<representation>``."""
    t0 = time.perf_counter()
    loaded = base.load(representations, datasets, source)
    noise = base.ceilings([fs.dataset for sets in loaded.sets.values() for fs in sets], seed=seed)
    rows, study_rows, per_rep = [], [], {}
    solver = Exact()
    for r, sets in loaded.sets.items():
        fits = heldout.solve_folds(sets, solver, directory=None if directory is None else Path(directory) / r,
                                   progress=progress)
        studies = [scores.study(fs, res.distances) for fs, res in zip(sets, fits)]
        points = [scores.numbers(st, margin=margin) for st in studies]
        uncertified = {fs.dataset: convergence.count_unconverged(res.certified) for fs, res in zip(sets, fits)}
        per_rep[r] = {}
        first = len(study_rows)
        with bar(progress and samples > 0, f"bootstrap {r}", total=len(studies)) as advance:
            for st, point in zip(studies, points):
                bounds, values = {}, {}
                if samples:
                    drawn = scores.samples_of(st.fs.dataset, len(st.fs.sounds), samples, seed)
                    bounds, values = scores.intervals(st, drawn, level, margin)
                per_rep[r][st.fs.dataset] = (point, values)
                study_rows += with_certification(
                    _study_rows(r, st, point, bounds, noise.get(st.fs.dataset, (None, None))),
                    uncertified[st.fs.dataset])
                advance(1)
        rows += with_certification(_pooled_rows(r, studies, points, margin, study_rows[first:]),
                                   sum(uncertified.values()))
    # the held-out rank metrics after every other number, so that the older rows keep their place
    numbers = ({*scores.NUMBERS, "heldout_ev"}, set(scores.HELDOUT_RANK))
    comparisons = [c for kept in numbers for c in _comparisons(per_rep, level, kept)] if samples else []
    rows = with_ranks(rows)
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


def _scored_lines(rows: list[dict]) -> list[tuple[dict, str]]:
    """One representation's rows as the printed table shows them, with what scored them:
    the learned metric held out (its held-out numbers, no MAE), then in-sample, then each
    distance without a fit, zero-shot."""
    out = []
    for x in rows:
        if x["distance"] == "learned":
            held = {m: x.get(f"heldout_{m}", np.nan) for m in rank_metrics.ANCHOR_METRICS}
            out[:0] = [({**x, **held, "mae": np.nan, "ev_median": x["heldout_ev_median"]}, "held-out"),
                       (x, "in-sample")]
        else:
            out.append((x, "zero-shot (no fit)"))
    return out


def summary(result: LeaderboardResult) -> list[str]:
    """What was skipped, then the leaderboard as a table."""
    lines = base.skipped_lines(result.skipped)
    lines.append(f"{'rank':>4s} {'representation':14s} {'distance':9s} {'scored':18s} {'studies':>7s} "
                 f"{'spearman':>8s} {'kendall':>7s} {'triplet':>7s} {'ndcg':>6s} {'mae':>6s} {'EV med':>6s}")
    for place, r in enumerate(ranking(result.rows), 1):
        for x, scored in _scored_lines([x for x in result.rows if x["representation"] == r]):
            lines.append(f"{place or '':>4} {r:14s} {x['distance']:9s} {scored:18s} {x['studies']:7d} "
                         f"{x['anchor_spearman']:8.3f} {x['anchor_kendall']:7.3f} {x['triplet_agreement']:7.3f} "
                         f"{x['ndcg']:6.3f} {x['mae']:6.3f} {x['ev_median']:6.3f}")
            place = 0  # the rank on the representation's first line only
    lines.append("rank metrics pooled over studies as the timbre benchmark pools them (distances not squared, each "
                 "matrix divided by its largest value); EV med: median P^2 over studies. scored: zero-shot (no "
                 "fit) for euclidean/cosine; in-sample: the learned metric fitted on every rated pair and scored "
                 "on the same pairs; held-out: leave one sound out, each sound's pairs scored by the metric "
                 "learned without them (no held-out MAE). rank: by the held-out pooled per-anchor Spearman of "
                 "the learned metric (ties: held-out EV), never by an in-sample number")
    if result.bootstrap_samples:
        lines.append(f"per study: 95% intervals from {result.bootstrap_samples} bootstrap samples of the sounds "
                     f"in leaderboard_studies.csv; {len(result.comparisons)} paired comparisons in comparisons.csv")
    found = convergence.counted((x["representation"], x["dataset"], x["sounds"] + 1, x["uncertified"])
                                for x in result.studies if "uncertified" in x)
    lines += convergence.report("leaderboard", found, "exact")
    lines.append(f"wall time {result.seconds:.1f} s")
    return lines
