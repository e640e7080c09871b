"""One honest row per dataset x representation: the optimum beside chance, generalization and no learning.

An in-sample explained variance alone says little: with as many weights as rated pairs a
metric can fit any ratings, and the paper's solver stops short of the optimum.  For each
:class:`~timbre_jax.data.datasets.FeatureSet` this module puts four numbers side by side, all
at the exact optimum of the fit (:class:`~timbre_jax.solvers.Exact`):

- ``ev_exact``: the certified global maximum of the explained variance P^2 on every rated
  pair, the in-sample fit of ``learn_metric(features, ratings, solver=Exact())``;
- ``null_median``, ``null_p``: the same optimum with the sounds relabelled ``permutations``
  times (:mod:`timbre_jax.stats.relabelling`, as :mod:`timbre_jax.analyses.null`): what
  chance gives, and the permutation p-value of ``ev_exact`` against it;
- ``heldout_ev``: leave-one-sound-out cross-validation at the optimum
  (:mod:`timbre_jax.stats.heldout`, as :mod:`timbre_jax.analyses.crossval`): what
  generalizes to sounds the fit has not seen;
- ``zeroshot_*``: the correlations of the unweighted distances with the ratings
  (:mod:`timbre_jax.stats.unweighted`, as :mod:`timbre_jax.analyses.zeroshot`): what no
  learning gives.

Every fit behind a row is counted: ``uncertified`` of its null, fold and in-sample fits
were not certified (the exact solver stopped at its iteration limit), and
``null_certified``, ``heldout_certified`` flag ``null_p`` and ``heldout_ev``
(:mod:`timbre_jax.stats.convergence`; the last columns of evaluate.csv).

The null's problem 0 is the true order of the sounds, fitted exactly as
:func:`timbre_jax.learn_metric` fits it, so ``ev_exact`` and its certificate are read from
it rather than fitted a second time (the tests check it against ``learn_metric``).  With
``distances``, the weights of that fit give each study's learned distance matrix, written
beside the unweighted one and the weights themselves (:class:`StudyDistances`), so that a
reader can recompute every distance from the stored features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base, crossval
from timbre_jax.data import distance_files, store
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import UsageError
from timbre_jax.fit import sweep
from timbre_jax.fit.learn import explained_variance
from timbre_jax.plots.tables import write_csv
from timbre_jax.solvers import Exact
from timbre_jax.stats import ceiling, convergence, heldout, rank_metrics, relabelling, scores
from timbre_jax.stats.unweighted import alignment, similarity_warnings

WRITES = ("OUT/evaluate.csv (one row per dataset x representation; its columns are listed in the README), "
          "with --distances OUT/distances/<representation>/<dataset>.learned.csv (the learned metric behind "
          "ev_exact) and .unweighted.csv (every weight 1), labelled (l, l) matrices, and <dataset>.weights.npz "
          "(that metric's weights and metadata), and the saved fits under OUT/chunks/")

CHANCE = 0.05  # null_p above this: the optimum is not above chance


@dataclass(frozen=True)
class EvaluateRow:
    """One dataset in one representation; EV = explained variance of the ratings (P^2, 0 for P <= 0)."""

    representation: str
    dataset: str
    source: str                     # where the features come from (``FeatureSet.source``)
    sounds: int                     # l, the sounds of the dataset
    pairs: int                      # the rated pairs (unrated ones are left out of every fit)
    dims: int                       # n, the features: one weight each
    ev_exact: float                 # EV at the global optimum of the fit on every rated pair
    certified: bool                 # the optimality (KKT) conditions of ev_exact's fit were verified
    zeroshot_pearson: float         # Pearson of the squared Euclidean distance, all weights 1, with the ratings
    zeroshot_spearman: float        # Spearman of the same
    zeroshot_cosine_pearson: float  # Pearson of the cosine distance with the ratings
    null_median: float              # median EV of the optimum over the relabellings of the sounds
    null_p: float                   # (1 + #{null EV >= ev_exact - relabelling.TIE}) / (permutations + 1)
    permutations: int               # relabellings in the null
    heldout_ev: float               # leave-one-sound-out held-out EV at the optimum (crossval.heldout_ev)
    anchor_spearman: float          # the timbre benchmark's rank metrics of the learned metric
    anchor_kendall: float           # (in-sample optimum, distances not squared; :mod:`timbre_jax.stats.rank_metrics`)
    triplet_agreement: float
    ndcg: float
    mae: float
    warnings: str                   # "; "-joined plain-words warnings, "" when none
    uncertified: int = 0            # of the fits behind the row (null, folds, in-sample), those not certified
    null_certified: bool = True     # every fit of the null (the observed one too) certified: null_median, null_p
    heldout_certified: bool = True  # every fold certified: heldout_ev
    intervals: dict = field(default_factory=dict, compare=False)  # number -> (low, high), bootstrap over sounds
    ceiling: dict = field(default_factory=dict, compare=False)  # ceiling.COLUMNS -> value (None: no participants)


# The numbers that get a bootstrap interval, and where :func:`timbre_jax.stats.scores.numbers` keeps them.
INTERVALS = {"ev_exact": ("learned", "ev"), "heldout_ev": ("learned", "heldout_ev"),
             "zeroshot_pearson": ("euclidean", "pearson"), "zeroshot_spearman": ("euclidean", "spearman"),
             "zeroshot_cosine_pearson": ("cosine", "pearson"),
             **{m: ("learned", m) for m in ("anchor_spearman", "anchor_kendall", "triplet_agreement", "ndcg", "mae")}}
# The columns of evaluate.csv: FIELDS, INTERVAL_FIELDS, CERTIFICATION_FIELDS, then CEILING_FIELDS.
CERTIFICATION_FIELDS = ["uncertified", "null_certified", "heldout_certified"]
CEILING_FIELDS = list(ceiling.COLUMNS)
FIELDS = [f.name for f in fields(EvaluateRow) if f.name not in ("intervals", "ceiling", *CERTIFICATION_FIELDS)]
INTERVAL_FIELDS = [f"{name}_{end}" for name in INTERVALS for end in ("low", "high")]


def row_warnings(dims: int, pairs: int, certified: bool, null_p: float, zeroshot_pearson: float) -> list[str]:
    """What a reader must know before trusting the row, in plain words (a short list on purpose):
    at least as many weights as rated pairs, an optimum not certified, an optimum not
    above chance, a negative zero-shot correlation."""
    out = []
    if dims >= pairs:
        out.append(f"{dims} weights for {pairs} rated pairs: enough to fit almost any ratings (EV near 1 whatever "
                   "the sounds), so judge it by null_p and heldout_ev")
    if not certified:
        out.append("the optimum is not certified (the exact solver stopped at its iteration limit): "
                   "ev_exact may be below the true maximum")
    if null_p > CHANCE:
        out.append(f"not above chance (p = {null_p:.3g})")
    if zeroshot_pearson < 0:
        out.append(f"zero-shot correlation is negative (Pearson {zeroshot_pearson:.3f})")
    return out


def _groups(sets: list[FeatureSet]) -> dict[tuple[str, str], list[int]]:
    """Indices of ``sets`` by (representation, source), in the order first seen: each group
    is one call of the null and of the cross-validation (one representation per call, and
    one source, whose feature count may differ)."""
    out: dict[tuple[str, str], list[int]] = {}
    for k, fs in enumerate(sets):
        out.setdefault((fs.representation, fs.source), []).append(k)
    return out


def evaluate_sets(sets: list[FeatureSet], *, permutations: int = 100, seed: int = 0, samples: int = 1000,
                  margin: float = 0.1, directory: Path | None = None,
                  progress: bool = True) -> list[EvaluateRow]:
    """One :class:`EvaluateRow` per feature set, in the order of ``sets`` (:func:`evaluate_fits`, its rows)."""
    return [row for row, _ in evaluate_fits(sets, permutations=permutations, seed=seed, samples=samples,
                                            margin=margin, directory=directory, progress=progress)]


def evaluate_fits(sets: list[FeatureSet], *, permutations: int = 100, seed: int = 0, samples: int = 1000,
                  margin: float = 0.1, directory: Path | None = None,
                  progress: bool = True) -> list[tuple[EvaluateRow, np.ndarray]]:
    """(:class:`EvaluateRow`, the weights (n,) of its in-sample exact optimum, ``ev_exact``'s fit)
    per feature set, in the order of ``sets``.

    ``sets`` may hold several representations (and sources); each is evaluated in one
    batched null (``permutations`` relabellings per dataset, seeded by ``seed`` and the
    dataset name, as :func:`timbre_jax.analyses.null.run`) and one batched cross-validation
    (:func:`timbre_jax.stats.heldout.solve_folds`, scored as :func:`timbre_jax.analyses.crossval.heldout_rows`),
    both with :class:`~timbre_jax.solvers.Exact`.  With
    ``directory``, their chunks are saved under ``directory/REP/null`` and
    ``.../crossval`` (``directory/REP/SOURCE/...`` when one call holds several sources of
    REP), so an interrupted run resumes; ``None`` keeps nothing.  ``samples`` bootstrap
    samples of the sounds (seeded by ``seed`` and the dataset name, the same for every
    representation; 0: none) give a 95% interval for every number of :data:`INTERVALS`
    (:mod:`timbre_jax.stats.scores`: the fitted metric held fixed); ``margin``: the rating
    difference above which a triplet counts.

    The null is :func:`timbre_jax.analyses.null.relabelled_fits` taken apart (its groups, one solve, its
    comparison, :mod:`timbre_jax.stats.relabelling`) only to read the status of problem 0,
    the true order: that fit is ``ev_exact`` and its status says whether it is certified.
    """
    sets = list(sets)
    solver = Exact()
    ceilings = base.ceilings([fs.dataset for fs in sets], seed=seed)
    rows: list[tuple[EvaluateRow, np.ndarray] | None] = [None] * len(sets)
    groups = _groups(sets)
    for (rep, source), members in groups.items():
        group = [sets[k] for k in members]
        several = sum(r == rep for r, _ in groups) > 1
        chunks = (rep, source) if several else (rep,)
        results, _ = sweep.solve([relabelling.make_group(fs, permutations, seed) for fs in group], solver,
                                 directory=base.folder(directory, *chunks, "null"), label=f"null {rep}",
                                 progress=progress)
        fits = heldout.solve_folds(group, solver, directory=base.folder(directory, *chunks, "crossval"),
                                   progress=progress)
        for k, fs, res, fit in zip(members, group, results, fits):
            cv = crossval.score(fs, fit.distances, float(fit.pearson[0]))
            study = scores.study(fs, fit.distances)
            point = scores.numbers(study, margin=margin)
            bounds = {}
            if samples:
                drawn = scores.samples_of(fs.dataset, len(fs.sounds), samples, seed)
                found, _ = scores.intervals(study, drawn, margin=margin)
                bounds = {name: found[key] for name, key in INTERVALS.items()}
            ev = explained_variance(res.pearson)
            summ = relabelling.compare_to_null(rep, fs.dataset, ev, res.certified)
            fold_flags = heldout.convergence_of(fit.certified)
            certified = bool(res.certified[0])
            align = alignment(fs.features, fs.pairs)
            pairs = int(np.isfinite(fs.pairs).sum())
            dims = fs.dims
            zp = align["euclidean"][0]
            X, noise = ceilings.get(fs.dataset, (None, None))
            row = EvaluateRow(
                representation=rep, dataset=fs.dataset, source=source, sounds=len(fs.sounds), pairs=pairs,
                dims=dims, ev_exact=summ.observed_ev, certified=certified, zeroshot_pearson=zp,
                zeroshot_spearman=align["euclidean"][1], zeroshot_cosine_pearson=align["cosine"][0],
                null_median=summ.null_median, null_p=summ.p_value, permutations=summ.permutations,
                heldout_ev=cv.heldout_ev, **{m: point[("learned", m)] for m in rank_metrics.METRICS},
                warnings="; ".join(row_warnings(dims, pairs, certified, summ.p_value, zp)),
                uncertified=summ.unconverged + fold_flags.unconverged, null_certified=summ.converged,
                heldout_certified=fold_flags.heldout, intervals=bounds,
                ceiling=ceiling.columns(X, noise, summ.observed_ev, cv.heldout_ev, fit.distances[0]))
            rows[k] = (row, np.array(res.weights[0], dtype=np.float64))  # the null's problem 0: ev_exact's fit
    return rows  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class StudyDistances:
    """One study's distances out (``evaluate --distances``): ``weights`` (n,), the in-sample
    exact optimum behind its row's ``ev_exact``; ``matrices``: kind -> (l, l), ``learned``
    (that metric, not squared) and ``unweighted`` (Euclidean, every weight 1), rows and
    columns in the order of ``sounds``; ``metadata``: what the weights file records."""

    representation: str
    dataset: str
    sounds: tuple[str, ...]
    weights: np.ndarray
    ev_exact: float
    matrices: dict
    metadata: dict


def study_distances(fs: FeatureSet, row: EvaluateRow, weights: np.ndarray) -> StudyDistances:
    """The distances of ``fs`` under ``weights`` (its row's in-sample optimum) and unweighted
    (:mod:`timbre_jax.stats.rank_metrics`: ``learned_distance_matrix``, ``distance_matrix``)."""
    matrices = {"learned": rank_metrics.learned_distance_matrix(fs.features, weights),
                "unweighted": rank_metrics.distance_matrix(fs.features, "euclidean")}
    meta = {"representation": fs.representation, "datasets": [fs.dataset], "source": row.source, "solver": "exact",
            "certified": row.certified, "fit": "the in-sample exact optimum on every rated pair (evaluate.csv's "
            "ev_exact)", "sounds": list(fs.sounds), "dimension_names": fs.dimension_names,
            "distances": {kind: f"{fs.dataset}.{kind}.csv" for kind in distance_files.KINDS}}
    return StudyDistances(fs.representation, fs.dataset, tuple(fs.sounds), weights, row.ev_exact, matrices, meta)


@dataclass(frozen=True)
class EvaluateResult:
    """One :class:`EvaluateRow` per (representation, dataset) with data, what was skipped and,
    when asked for, each row's :class:`StudyDistances` (in the order of the rows)."""

    rows: list[EvaluateRow]
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    distances: list[StudyDistances] = field(default_factory=list, compare=False)


def run(representations, datasets, *, source: str = "auto", permutations: int = 100, seed: int = 0,
        samples: int = 1000, margin: float = 0.1, distances: bool = False,
        directory: Path | None = None, progress: bool = True) -> EvaluateResult:
    """:func:`evaluate_fits` on every (representation, dataset) that ``source`` has, with
    ``distances`` each row's :class:`StudyDistances`; an error when none has data."""
    job = base.start(representations, datasets, source)
    sets = [fs for found in job.sets.values() for fs in found]
    if not sets:
        first = f": {job.skipped[0][2]}" if job.skipped else ""
        raise UsageError(f"no {source} features for any of these datasets and representations "
                         f"({len(job.skipped)} skipped; the first{first})")
    found = evaluate_fits(sets, permutations=permutations, seed=seed, samples=samples, margin=margin,
                          directory=directory, progress=progress)
    out = [study_distances(fs, row, w) for fs, (row, w) in zip(sets, found)] if distances else []
    return EvaluateResult([row for row, _ in found], job.skipped, job.seconds(), out)


def write(result: EvaluateResult, out: Path) -> list[Path]:
    """OUT/evaluate.csv: one :class:`EvaluateRow` per line, its fields as columns in order
    (:data:`FIELDS`), then the bounds of each interval (``<number>_low``, ``<number>_high``;
    empty without a bootstrap), then :data:`CERTIFICATION_FIELDS` (floats with 6 decimals,
    NaN empty; :func:`timbre_jax.plots.tables.write_csv`); then, per :class:`StudyDistances`,
    ``OUT/distances/<representation>/<dataset>.learned.csv`` and ``.unweighted.csv``
    (:mod:`timbre_jax.data.distance_files`) and ``<dataset>.weights.npz``
    (:func:`timbre_jax.data.store.save_weights`)."""
    def bounds(r):
        return [r.intervals.get(name, (np.nan, np.nan))[end] for name in INTERVALS for end in (0, 1)]

    return [write_csv(Path(out) / "evaluate.csv", FIELDS + INTERVAL_FIELDS + CERTIFICATION_FIELDS + CEILING_FIELDS,
                      [[getattr(r, f) for f in FIELDS] + bounds(r) + [getattr(r, f) for f in CERTIFICATION_FIELDS]
                       + [r.ceiling.get(f) for f in CEILING_FIELDS] for r in result.rows]),
            *(path for sd in result.distances for path in write_distances(sd, out))]


def write_distances(sd: StudyDistances, out: Path) -> list[Path]:
    """``OUT/distances/<representation>/<dataset>.<kind>.csv`` per kind, then
    ``<dataset>.weights.npz``; the names checked (:func:`timbre_jax.data.distance_files.distance_file`)."""
    folder = Path(out) / "distances" / store.check_name(sd.representation, "representation")
    written = [distance_files.write_distances(distance_files.distance_file(folder, (sd.dataset,), kind), sd.sounds,
                                              sd.matrices[kind]) for kind in distance_files.KINDS]
    weights = folder / f"{store.check_name(sd.dataset, 'dataset')}.weights.npz"
    return [*written, store.save_weights(weights, sd.weights, sd.ev_exact, sd.metadata)]


def _num(x: float, spec: str) -> str:
    return "nan" if not np.isfinite(x) else format(x, spec)


def ceiling_lines(rows) -> list[str]:
    """One line per row whose study has per-participant ratings: its EVs beside the noise
    ceiling, and its mean r with the participants beside rsatoolbox's bounds."""
    lines = []
    for r in rows:
        c = r.ceiling
        if c.get("ceiling_ev") is None:
            continue
        lines.append(f"{r.representation}/{r.dataset}: noise ceiling EV {c['ceiling_ev']:.3f} "
                     f"[{c['ceiling_ev_low']:.3f}, {c['ceiling_ev_high']:.3f}] ({c['participants']} participants): "
                     f"in-sample EV {_num(c['ev_of_ceiling'], '.2f')} of it, held-out "
                     f"{_num(c['heldout_ev_of_ceiling'], '.2f')}; mean r with each participant "
                     f"{_num(c['participant_r'], '.3f')} (rsatoolbox bounds {c['ceiling_lower']:.3f} to "
                     f"{c['ceiling_upper']:.3f})"
                     + ("; an in-sample EV above the ceiling fits the listeners' noise, not only the sounds"
                        if c["ev_of_ceiling"] > 1 else ""))
    return lines


def summary(result: EvaluateResult) -> list[str]:
    """The lines to print: what was skipped, a table (one line per row; ``*`` after an EV,
    a p or a held-out EV from a fit that is not certified), a key to its columns, each
    row's warnings and, where some fit was not certified, their count."""
    rows = result.rows
    header = ["representation", "source", "dataset", "l", "pairs", "n", "in-sample EV", "null med", "p", "held-out EV",
              "zs P", "zs rho", "zs cos P"]
    body = [[r.representation, r.source, r.dataset, str(r.sounds), str(r.pairs), str(r.dims),
             _num(r.ev_exact, ".3f") + ("" if r.certified else "*"), _num(r.null_median, ".3f"),
             convergence.marked(_num(r.null_p, ".3f"), r.null_certified),
             convergence.marked(_num(r.heldout_ev, ".3f"), r.heldout_certified), _num(r.zeroshot_pearson, "+.3f"),
             _num(r.zeroshot_spearman, "+.3f"), _num(r.zeroshot_cosine_pearson, "+.3f")] for r in rows]
    width = [max(len(x) for x in col) for col in zip(header, *body)]
    text = 3  # the first three columns are words: left-aligned; numbers right-aligned

    def line(cells):
        return "  ".join(c.ljust(w) if i < text else c.rjust(w) for i, (c, w) in enumerate(zip(cells, width))).rstrip()

    lines = [*base.skipped_lines(result.skipped), line(header), line(["-" * w for w in width]),
             *(line(b) for b in body)]
    lines.append("in-sample EV: explained variance at the certified optimum, scored on the pairs it was fitted on "
                 "(* not certified); null med, p: the in-sample optimum with the sounds relabelled; held-out EV: "
                 "leave-one-sound-out, each sound's pairs scored by the metric learned without them; zs: zero-shot "
                 "(no fit), all weights 1 (Pearson, Spearman; cosine distance's Pearson)")
    for r in rows:
        if r.warnings:
            lines.append(f"{r.representation}/{r.dataset} ({r.source}): {r.warnings}")
    lines += ceiling_lines(rows)
    lines += similarity_warnings((r.dataset, r.representation, r.zeroshot_pearson) for r in rows)
    found = convergence.counted((r.representation, r.dataset, r.sounds + r.permutations + 2, r.uncertified)
                                for r in rows)
    lines += convergence.report("evaluate", found, "exact", "p or held-out from fits that were not certified "
                                "(evaluate.csv: uncertified, null_certified, heldout_certified)")
    lines.append(f"wall time {result.seconds:.1f} s")
    return lines
