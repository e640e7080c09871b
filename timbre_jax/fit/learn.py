"""Learn the weights of a perceptual metric: the user-facing fits.

:func:`learn_metric` fits one problem, :func:`learn_metrics` several in one batch, with
any solver of :mod:`timbre_jax.solvers` (default: :class:`~timbre_jax.solvers.Exact`, the
certified global optimum; ``solver=Lbfgsb()`` is the paper's fit);
:func:`optimality_gap` says how far any weights are from the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from timbre_jax.core.aligned import dims_of
from timbre_jax.core.pearson import pair_differences, pearson_of_vectors
from timbre_jax.core.problems import check_problem, checked_problem
from timbre_jax.errors import FitError
from timbre_jax.fit import interruptible
from timbre_jax.solvers import Exact, Solver
from timbre_jax.solvers.batch import Group
from timbre_jax.solvers.solver import DEFAULT as DEFAULT_SOLVER
from timbre_jax.solvers.solver import default as default_solver


def explained_variance(pearson):
    """P^2 for P > 0, else 0: distances that anti-correlate with the ratings explain none
    of them (only the exact solver can report P <= 0, when no weighting does better)."""
    P = np.asarray(pearson, dtype=np.float64)
    return np.where(P > 0, P, 0.0) ** 2


@dataclass(frozen=True)
class MetricResult:
    """One learned metric.

    ``weights`` (n,), ``pearson`` P with the fitted ratings; ``iterations``, ``status``
    and ``message``: the solver's count, code and its text.  ``converged``: the solver's
    verdict that the fit ended regularly (L-BFGS-B: not at the iteration limit, not by a
    line search that failed before any step, a finite reward; with the paper's 1e-36
    tolerances the usual end is stagnation of the line search, reported in ``message``).
    ``certified``: the global optimality was verified on every feature (the exact
    solver): ``pearson`` is then the largest P any weights reach.  ``start``: which start
    gave the fit (0: the first); ``degenerate_start``: the NNLS warm start was x = 0
    (every weight equal, :func:`timbre_jax.optim.starts.degenerate_start`); ``solver``: the
    name of the solver that fitted it (default: that of the default solver,
    :data:`timbre_jax.solvers.solver.DEFAULT`).
    """

    weights: np.ndarray
    pearson: float
    iterations: int
    status: int
    message: str
    converged: bool
    certified: bool = False
    start: int = 0
    solver: str = DEFAULT_SOLVER
    degenerate_start: bool = False

    @property
    def explained_variance(self) -> float:
        return float(explained_variance(self.pearson))


def results_of(fits, solver_name: str) -> list[MetricResult]:
    """One :class:`MetricResult` per problem of :class:`~timbre_jax.solvers.batch.Results` whose
    groups hold one problem each."""
    return [MetricResult(np.asarray(r.weights[0]), float(r.pearson[0]), int(r.iterations[0]), int(r.status[0]),
                         str(r.messages[0]), bool(r.converged[0]), bool(r.certified[0]), int(r.start[0]),
                         solver_name, bool(r.degenerate_start[0]))
            for r in fits]


def learn_metrics(problems: Sequence[tuple], *, solver: Solver | None = None) -> list[MetricResult]:
    """Learn one metric per (features (l_i, n), ratings) problem, in one batch.

    ``features`` may also be a frame-aligned representation
    (:class:`~timbre_jax.core.aligned.AlignedPairs`): one weight per dimension.

    Problems may have different numbers of sounds but share ``n``.  ``ratings`` is an
    (l, l) matrix or a condensed (p,) vector; NaN marks an unrated pair (unrated pairs
    carry no information and are dropped before the fit).  ``solver``: a solver object
    (default :class:`~timbre_jax.solvers.Exact`, the certified global optimum;
    :class:`~timbre_jax.solvers.Lbfgsb` is the paper's fit, its options, starts included,
    are its fields).
    """
    solver = default_solver() if solver is None else solver
    if not isinstance(solver, Solver):
        raise TypeError(f"solver must be a timbre_jax.solvers object such as Lbfgsb() or Exact(), "
                        f"got {solver!r}")
    problems = list(problems)
    if not problems:
        raise FitError("no problems given: pass a list of (features, ratings) pairs")
    checked = [checked_problem(F, r, name=f"problem {i}") for i, (F, r) in enumerate(problems)]
    ns = {dims_of(F) for F, _, _, _ in checked}
    if len(ns) != 1:
        raise FitError(f"all problems in a batch must share the number of features; got {sorted(ns)}")
    groups = []
    for _, s, m, D in checked:
        rated = m > 0  # a joint metric over several datasets would otherwise carry every cross pair
        D = D if rated.all() else D[rated]
        groups.append(Group(D, s[rated][None], np.ones((1, int(rated.sum())))))
    return results_of(interruptible.call(solver.solve, groups), solver.name)  # Ctrl-C stops it at once


def learn_metric(features, ratings, *, solver: Solver | None = None) -> MetricResult:
    """Learn the weights w (n,) that maximise P(d_w^2, ratings) for one problem.

    ``features`` (l, n), ``ratings`` (l, l) or condensed (p,), NaN = unrated pair;
    ``solver``: see :func:`learn_metrics`.
    """
    return learn_metrics([(features, ratings)], solver=solver)[0]


def optimality_gap(features, ratings, weights) -> float:
    """EV* - EV(weights) >= 0: how far any weights (from any tool) are from the global
    optimum of the fit, in explained variance (P^2, 0 for P <= 0).

    ``features`` (l, n), ``ratings`` (l, l) or condensed (p,) with NaN = unrated,
    ``weights`` (n,) positive.  0 means the weights are optimal.
    """
    F, s, mask = check_problem(features, ratings, name="optimality_gap")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (dims_of(F),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise FitError(f"weights must be {dims_of(F)} positive finite numbers, got shape {w.shape}")
    best = learn_metric(F, np.where(mask > 0, s, np.nan), solver=Exact())
    D = np.asarray(pair_differences(F))[mask > 0]
    P = pearson_of_vectors(D @ w ** -2.0, s[mask > 0])
    # The optimum's own rounding (~1e-15) must not make a gap negative.
    return max(best.explained_variance - float(explained_variance(P)), 0.0)
