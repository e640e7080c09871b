"""Which named dimensions matter where: the importance of each dimension, study by study
(``timbre-jax importance``).

For each representation whose store names its dimensions (descriptors, mfcc coefficients,
a user's named features: :attr:`~timbre_jax.data.datasets.FeatureSet.dimension_names`), the
metric is learned on each study separately, the exact optimum, and each dimension's
importance (1/w^2 normalized to sum 1) is given with its 95% bootstrap interval over the
study's sounds and the share of samples whose optimum uses it
(:mod:`timbre_jax.stats.importance`).  Side by side, the studies say which dimensions
matter on which sounds, and which matter on many.  Representations without names are
skipped with one line saying why.  The contract of :mod:`timbre_jax.analyses.base` (not
resumable: a study's fits take a second).  :func:`ranked_lines` is also what ``learn``
prints for a named representation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.fit.learn import learn_metric
from timbre_jax.plots import tables
from timbre_jax.plots.importance import plot_importance_map
from timbre_jax.progress import bar
from timbre_jax.solvers import Exact
from timbre_jax.stats.importance import Importance, measure

WRITES = ("OUT/importance.csv (one row per representation, study and dimension: rank, importance, its 95% "
          "bootstrap interval, share of samples using it), OUT/importance_<representation>_wide.csv (dimensions x "
          "studies, with the median) and OUT/importance_<representation>.png (the map); representations without "
          "dimension names are skipped")

COLUMNS = ["representation", "dataset", "rank", "dimension", "unit", "importance", "low", "high", "selected"]
TOP = 3  # the dimensions per study the summary names, and that "matter most often" counts


def named(sets: list[FeatureSet]) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None, str]:
    """The dimension names and units shared by every feature set of ``sets``, and '' ; or
    (None, None, why not): a set without names, or sets naming their dimensions
    differently.  Units: those of the first set where every set gives the same, else None."""
    unnamed = [fs.dataset for fs in sets if fs.dimension_names is None]
    if unnamed:
        return None, None, f"its features have no dimension names ({', '.join(unnamed)})"
    first = sets[0]
    other = [fs.dataset for fs in sets if fs.dimension_names != first.dimension_names]
    if other:
        return None, None, (f"{', '.join(other)} name {'its' if len(other) == 1 else 'their'} dimensions otherwise "
                            f"than {first.dataset}")
    same_units = all(fs.dimension_units == first.dimension_units for fs in sets)
    return first.dimension_names, first.dimension_units if same_units else None, ""


def ranked_lines(imp: Importance, top: int = 15) -> list[str]:
    """The dimensions of ``imp`` by importance, one line each: the ``top`` most important
    with importance > 0 (value, 95% interval, share of samples using it, unit), then how
    many others are above 0 and how many at 0."""
    order = imp.order()
    used = [k for k in order if imp.value[k] > 0]
    spread = (f"95% interval over {imp.samples} bootstrap samples of the sounds, exact optimum refitted on each; "
              "selected: share of those samples whose optimum uses it" if imp.samples
              else imp.note or "no bootstrap interval (--bootstrap 0)")
    lines = [f"dimensions by importance (1/w² as a share of the sum; {spread}):"]
    width = max((len(imp.label(k)) for k in used[:top]), default=0)
    for rank, k in enumerate(used[:top], 1):
        interval = (f"  [{imp.low[k]:.3f}, {imp.high[k]:.3f}]  selected in {100 * imp.selected[k]:.0f}% of samples"
                    if np.isfinite(imp.low[k]) else "")
        lines.append(f"  {rank:3d}. {imp.label(k):{width}s}  {imp.value[k]:.3f}{interval}")
    if len(used) > top:
        lines.append(f"  {len(used) - top} others above 0 (each at most {imp.value[used[top]]:.3f})")
    zero = len(order) - len(used)
    if zero:
        lines.append(f"  {zero} other{'s' if zero > 1 else ''} at 0 (not used by the metric)")
    if imp.uncertified:
        lines.append(f"  {imp.uncertified} of the {imp.samples} bootstrap refits were not certified")
    return lines


@dataclass(frozen=True)
class StudyImportance:
    """The metric learned on one study (exact optimum): its in-sample ``ev``, whether it is
    ``certified``, and the importance of each dimension (``importance``)."""

    representation: str
    dataset: str
    importance: Importance
    ev: float
    certified: bool


@dataclass(frozen=True)
class ImportanceResult:
    """Per representation with names, a :class:`StudyImportance` per study (``rows``, in the
    order asked); ``unnamed``: (representation, why it was skipped); ``skipped``: the
    (representation, dataset, reason) without data; ``samples`` and ``seed`` of the
    bootstrap."""

    rows: list[StudyImportance]
    unnamed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    source: str = "auto"
    samples: int = 0
    seed: int = 0
    seconds: float = 0.0

    def representations(self) -> list[str]:
        return list(dict.fromkeys(row.representation for row in self.rows))

    def of(self, representation: str) -> list[StudyImportance]:
        return [row for row in self.rows if row.representation == representation]


def run(representations, datasets, *, source: str = "auto", samples: int = 200, seed: int = 0,
        progress: bool = True) -> ImportanceResult:
    """The importance of each named dimension of each representation on each study of
    ``datasets``: the exact optimum per study, ``samples`` bootstrap samples of its sounds
    seeded by ``seed`` (0: no intervals)."""
    job = base.start(representations, datasets, source, Exact())
    rows, unnamed = [], []
    with bar(progress, "importance", total=sum(map(len, job.sets.values()))) as advance:
        for rep, sets, _ in job.each():
            names, units, why = named(sets)
            if names is None:
                unnamed.append((rep, why))
                advance(len(sets))
                continue
            for fs in sets:
                fit = learn_metric(fs.features, fs.ratings, solver=job.solver)
                imp = measure(fit.weights, names, units, features=fs.features, ratings=fs.ratings,
                              samples=samples, seed=seed)
                rows.append(StudyImportance(rep, fs.dataset, imp, fit.explained_variance, fit.certified))
                advance()
    return ImportanceResult(rows, unnamed, job.skipped, job.source, samples, seed, job.seconds())


def table(rows: list[StudyImportance]) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """The dimensions x studies table of one representation's ``rows``: (dimensions (m,),
    their units, studies (s,), importance (m, s)), the dimensions ordered by their median
    importance over the studies, the largest first; equal medians (the exact optimum is
    sparse: often 0) by their mean, then by name."""
    dims = list(rows[0].importance.names)
    units = list(rows[0].importance.units)
    values = np.stack([row.importance.value for row in rows], axis=1)
    order = sorted(range(len(dims)), key=lambda k: (-np.median(values[k]), -np.mean(values[k]), dims[k]))
    return [dims[k] for k in order], [units[k] for k in order], [row.dataset for row in rows], values[order]


def write(result: ImportanceResult, out: Path) -> list[Path]:
    """OUT/importance.csv (long, :data:`COLUMNS`, rank 1 = most important; interval and
    selected empty without a bootstrap), then per representation
    OUT/importance_<representation>_wide.csv and OUT/importance_<representation>.png."""
    out = Path(out)
    long = []
    for row in result.rows:
        imp = row.importance
        for rank, k in enumerate(imp.order(), 1):
            long.append([row.representation, row.dataset, rank, imp.names[k], imp.units[k], float(imp.value[k]),
                         float(imp.low[k]), float(imp.high[k]), float(imp.selected[k])])
    written = [tables.write_csv(out / "importance.csv", COLUMNS, long)]
    for rep in result.representations():
        rows = result.of(rep)
        dims, units, studies, values = table(rows)
        position = {name: k for k, name in enumerate(rows[0].importance.names)}
        lows = np.stack([row.importance.low for row in rows], axis=1)[[position[d] for d in dims]]
        wide = [[d, u, *map(float, v), float(np.median(v))] for d, u, v in zip(dims, units, values)]
        written.append(tables.write_csv(out / f"importance_{rep}_wide.csv", ["dimension", "unit", *studies, "median"],
                                        wide))
        labels = [f"{d} ({u})" if u else d for d, u in zip(dims, units)]
        written.append(plot_importance_map(rep, labels, studies, values, out / f"importance_{rep}.png",
                                           reliable=np.nan_to_num(lows) > 0, source=result.source,
                                           samples=result.samples, skipped=result.skipped))
    return written


def summary(result: ImportanceResult) -> list[str]:
    """What was skipped and why; per representation and study its EV and top 3 dimensions
    (with intervals); across studies, the dimensions in the top 3 of two studies or more,
    the most often first (ties: the larger median importance)."""
    lines = base.skipped_lines(result.skipped)
    lines += [f"skipped {rep}: {why}; importance needs named dimensions (descriptors, or features imported from a "
              "CSV with a header of names)" for rep, why in result.unnamed]
    spread = (f"[95% interval over {result.samples} bootstrap samples of the sounds]" if result.samples
              else "(no bootstrap)")
    for rep in result.representations():
        rows = result.of(rep)
        lines.append(f"{rep}: the {TOP} most important dimensions of the exact metric learned on each study "
                     f"{spread}, {result.source} features:")
        lines += [f"  {note}" for note in dict.fromkeys(row.importance.note for row in rows) if note]
        width = max(len(row.dataset) for row in rows)
        counts: dict[str, int] = {}
        for row in rows:
            imp = row.importance
            best = [k for k in imp.order()[:TOP] if imp.value[k] > 0]
            for k in best:
                counts[imp.names[k]] = counts.get(imp.names[k], 0) + 1
            named_best = ", ".join(f"{imp.names[k]} {imp.value[k]:.2f}"
                                   + (f" [{imp.low[k]:.2f}, {imp.high[k]:.2f}]" if np.isfinite(imp.low[k]) else "")
                                   for k in best)
            lines.append(f"  {row.dataset:{width}s}  EV {row.ev:.3f}{'' if row.certified else ' *'}  {named_best}")
        dims, _, _, values = table(rows)
        median = dict(zip(dims, np.median(values, axis=1)))
        often = sorted((d for d in counts if counts[d] > 1), key=lambda d: (-counts[d], -median[d], d))
        if len(rows) > 1:
            lines.append(f"  across the {len(rows)} studies, in the top {TOP} most often: "
                         + ("; ".join(f"{d} ({counts[d]} of {len(rows)} studies, median importance {median[d]:.2f})"
                                      for d in often[:8]) or f"none is in the top {TOP} of more than one study"))
        if not all(row.certified for row in rows):
            lines.append("  * the exact fit was not certified on this study (iteration limit)")
    lines.append(f"[{result.seconds:.1f} s]")
    return lines
