"""One metric: learned on one dataset, or one metric across several (``timbre-jax learn``).

The datasets' feature sets are joined into one problem (:func:`timbre_jax.data.datasets.joint_problem`:
the pairs across two datasets are unrated), the metric is learned with the solver given
(:func:`timbre_jax.fit.learn.learn_metric`), and, where the fit is not certified, the
gap to the global optimum (:func:`timbre_jax.fit.learn.optimality_gap`) says how far it
stopped from the best any weights can do.  The contract of :mod:`timbre_jax.analyses.base`,
for one problem: ``run`` -> :class:`SingleResult`, ``summary`` (the explained variance and
the solver's verdict in plain words), ``warning_lines`` and ``write`` (only the files named:
the weights, the weight map; ``write_distances``: the distance matrices).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.analyses.importance import named, ranked_lines
from timbre_jax.core.aligned import dims_of
from timbre_jax.core.pearson import condensed
from timbre_jax.data import datasets, distance_files, registry, store
from timbre_jax.fit import learn
from timbre_jax.fit.learn import MetricResult
from timbre_jax.plots.importance import plot_importance
from timbre_jax.plots.weights import plot_weights
from timbre_jax.solvers import Solver
from timbre_jax.solvers.messages import too_many_weights, verdict_of
from timbre_jax.stats import convergence, rank_metrics
from timbre_jax.stats.importance import Importance, measure

WRITES = ("prints the explained variance and the solver's verdict in plain words; writes only what you name: "
          "--out FILE.npz (weights, explained_variance and a JSON 'metadata': datasets, source, solver, "
          "iterations, message, ...; named dimensions: their importance), --plot FILE.png (the learned 1/w^2; "
          "named dimensions ranked) and --distances DIR (each dataset's "
          "learned and unweighted distances, DIR/<dataset>.<representation>.learned.csv and .unweighted.csv); "
          "fetches missing upstream features into the cache")


@dataclass(frozen=True)
class SingleResult:
    """One learned metric: ``fit``, of ``representation`` over ``names`` (one dataset, or
    several joined) from ``source``; the solver's name and its number of starts; ``n``
    features and ``rated`` pairs; the seconds of the fit; ``gap``: EV* - EV when the fit is
    not certified (None when it is)."""

    representation: str
    names: list[str]
    source: str
    solver: str
    starts: int
    fit: MetricResult
    n: int
    rated: int
    seconds: float
    gap: float | None
    sets: tuple[datasets.FeatureSet, ...] = field(default=(), compare=False, repr=False)  # one per dataset
    importance: Importance | None = None  # of each named dimension; None: the features have no names
    unnamed: str = ""  # why the dimensions of named features are not shown (named otherwise in some dataset)

    @property
    def label(self) -> str:
        """The datasets, joined by '+'."""
        return "+".join(self.names)


def run(representation: str, names: list[str], *, source: str = "auto", solver: Solver | None = None,
        progress: bool = True, bootstrap: int = 200, bootstrap_seed: int = 0) -> SingleResult:
    """Learn one metric of ``representation`` over the datasets ``names`` (one problem;
    ``source``: default ``"auto"``, chosen per dataset and recorded as chosen; ``solver``:
    default :class:`~timbre_jax.solvers.Exact`, see :func:`~timbre_jax.analyses.base.default_solver`).
    Named dimensions get their importance (:func:`timbre_jax.stats.importance.measure`) with
    ``bootstrap`` samples of the sounds, within each dataset, seeded by ``bootstrap_seed``."""
    solver = base.default_solver(solver)
    sets = [datasets.load(d, representation, source, progress=progress) for d in names]
    if source == "auto":
        source = "+".join(dict.fromkeys(registry.published_source(representation, d) for d in names))
    features, ratings = datasets.joint_problem(sets)
    t0 = time.perf_counter()
    res = learn.learn_metric(features, ratings, solver=solver)
    seconds = time.perf_counter() - t0
    rated = int(np.isfinite(condensed(ratings)).sum())
    gap = None if res.certified else learn.optimality_gap(features, ratings, res.weights)
    return SingleResult(representation, list(names), source, solver.name, getattr(solver, "starts", 1), res,
                        dims_of(features), rated, seconds, gap, sets=tuple(sets),
                        **importance_of(sets, res, features, ratings, bootstrap, bootstrap_seed))


def importance_of(sets, fit: MetricResult, features, ratings, samples: int, seed: int) -> dict:
    """The :class:`SingleResult` fields of named dimensions: ``importance`` where every
    dataset names its dimensions alike (bootstrap within each dataset), else ``unnamed``
    says why where some dataset names them; nothing for unnamed features."""
    if all(fs.dimension_names is None for fs in sets):
        return {}
    names, units, why = named(sets)
    if names is None:
        return {"unnamed": why}
    return {"importance": measure(fit.weights, names, units, features=features, ratings=ratings, samples=samples,
                                  seed=seed, sizes=[len(fs.sounds) for fs in sets])}


def summary(result: SingleResult) -> list[str]:
    """The explained variance, the solver's verdict, when not certified the optimum and,
    when the fit did not converge, the count line every analysis prints
    (:func:`timbre_jax.stats.convergence.report`); for named dimensions, their ranking
    (:func:`timbre_jax.analyses.importance.ranked_lines`)."""
    res, starts = result.fit, result.starts
    lines = [f"{result.representation} on {result.label} ({result.solver}): explained variance "
             f"{res.explained_variance:.4f} in-sample (P = {res.pearson:.4f}), {res.iterations} iterations"
             f"{f', from start {res.start} of {starts}' if starts > 1 else ''} [{result.seconds:.1f} s]",
             f"solver: {verdict_of(res).text} (its code: {res.message})"]
    if result.gap is not None:
        lines.append(f"global optimum {res.explained_variance + result.gap:.4f} (gap {result.gap:.4f}; "
                     "`--solver exact` gives it)")
    found = convergence.tally([(result.representation, result.label, res.converged)])
    ranked = ranked_lines(result.importance) if result.importance is not None else []
    if ranked and all("raw_features" in s.metadata for s in result.sets):
        ranked.append("  (each dimension is standardized over a study's sounds before the fit, so an importance "
                      "weighs one standard deviation of it; the units are those of its raw values)")
    return lines + convergence.report("learn", found, result.solver) + ranked


def warning_lines(result: SingleResult) -> list[str]:
    """What a reader must know before trusting the fit: at least as many weights as rated
    pairs, an NNLS start at x = 0, named dimensions that cannot be shown."""
    lines = [f"dimension names not shown: {result.unnamed}"] if result.unnamed else []
    crowded = too_many_weights([(f"{result.representation} on {result.label}", result.n, result.rated)])
    if crowded:
        lines.append(crowded)
    if result.fit.degenerate_start:
        lines.append("the NNLS start is x = 0 (every weight equal): no non-negative combination of the "
                     "features fits these ratings without an intercept, as when they are shifted below 0; the "
                     "paper's solver depends on the offset of the ratings, `--solver exact` does not")
    return lines


def write(result: SingleResult, out: Path | None = None, *, plot: Path | None = None) -> list[Path]:
    """The files named, in this order: ``out``, the weights, explained variance and
    metadata (.npz, :func:`timbre_jax.data.store.save_weights`; for named dimensions also
    their names, units, importance and its interval), and ``plot``, the learned 1/w^2 (.png,
    :func:`timbre_jax.plots.weights.plot_weights`; named dimensions ranked,
    :func:`timbre_jax.plots.importance.plot_importance`); nothing without them."""
    res, written = result.fit, []
    if out:
        meta = {"representation": result.representation, "datasets": result.names, "source": result.source,
                "solver": result.solver, "certified": res.certified, "pearson": res.pearson,
                "iterations": res.iterations, "message": res.message, "converged": res.converged,
                "degenerate_start": res.degenerate_start, "starts": result.starts, "start": res.start}
        imp = result.importance
        if imp is not None:  # NaN (no interval) is saved as null
            meta.update(dimension_names=list(imp.names), dimension_units=list(imp.units),
                        importance=imp.value.tolist(), bootstrap_samples=imp.samples,
                        **{k: [None if np.isnan(x) else float(x) for x in v]
                           for k, v in (("importance_low", imp.low), ("importance_high", imp.high),
                                        ("importance_selected", imp.selected))})
        written.append(store.save_weights(Path(out), res.weights, res.explained_variance, meta))
    if plot and result.importance is not None:
        written.append(plot_importance(result.importance, Path(plot), f"{result.representation}: {result.label}",
                                       ev=res.explained_variance, solver=result.solver, source=result.source))
    elif plot:
        written.append(plot_weights(res.weights, result.representation, Path(plot),
                                    title=f"{result.representation}: {result.label}", ev=res.explained_variance,
                                    solver=result.solver, source=result.source, datasets=result.names))
    return written


def distance_paths(folder, representation: str, names) -> list[Path]:
    """``learn --distances DIR``: ``DIR/<dataset>.<representation>.<kind>.csv`` for each
    dataset of ``names`` and each kind (learned, unweighted; :func:`timbre_jax.data.distance_files.distance_file`),
    in the order :func:`write_distances` writes them."""
    return [distance_files.distance_file(folder, (d, representation), kind)
            for d in names for kind in distance_files.KINDS]


def write_distances(result: SingleResult, folder) -> list[Path]:
    """Each dataset's (l, l) distances as labelled CSV at :func:`distance_paths`: the learned
    metric (``result.fit.weights``, the one metric of every dataset fitted, not squared) and
    the unweighted Euclidean distance of the same features
    (:mod:`timbre_jax.stats.rank_metrics`: ``learned_distance_matrix``, ``distance_matrix``)."""
    paths = iter(distance_paths(folder, result.representation, result.names))
    written = []
    for fs in result.sets:
        matrices = {"learned": rank_metrics.learned_distance_matrix(fs.features, result.fit.weights),
                    "unweighted": rank_metrics.distance_matrix(fs.features, "euclidean")}
        written += [distance_files.write_distances(next(paths), fs.sounds, matrices[kind])
                    for kind in distance_files.KINDS]
    return written
