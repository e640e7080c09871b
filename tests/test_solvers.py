"""The solver protocol: a third solver is one new class, and every entry point takes it.

The solver here keeps every weight at 1, so its fit is the zero-shot alignment: P of the
unweighted squared Euclidean distances with the ratings, which scipy computes
independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from conftest import needs_mirror
from timbre_jax import learn_metric, learn_metrics, solvers
from timbre_jax.analyses import null
from timbre_jax.core.pearson import pair_differences, pearson_rows
from timbre_jax.core.status import StatusCode
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import UsageError
from timbre_jax.solvers import Exact, Lbfgsb, batch
from timbre_jax.stats import relabelling


class Done(StatusCode):
    DONE = 0, "DONE: EVERY WEIGHT 1"

    @staticmethod
    def converged(status, iterations=None):
        return status == Done.DONE


@pytest.fixture
def unweighted():
    """A registered solver that learns nothing (every weight 1); unregistered after the test."""

    @dataclass(frozen=True)
    class Unweighted(solvers.Solver):
        name = "unweighted"
        Status = Done

        def solve(self, groups):
            groups = list(groups)
            D, s, m, _ = batch.pack(groups, max(g.D.shape[0] for g in groups))
            w = np.ones((len(groups), s.shape[1], D.shape[2]))
            P = np.array([[pearson_rows((Dg @ wk)[None], sk, mk)[0] for wk, sk, mk in zip(wg, sg, mg)]
                          for Dg, wg, sg, mg in zip(D, w, s, m)])
            zeros = np.zeros(P.shape, dtype=np.int64)
            return batch.unpack(groups, w, P, zeros, zeros, Done)

    yield Unweighted
    solvers.solver.unregister("unweighted")


def _problem(l=12, n=7, seed=0):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((l, n))
    R = rng.random((l, l))
    R = (R + R.T) / 2
    R[0, 5] = R[5, 0] = np.nan  # one unrated pair
    return F, R


def _zero_shot(F, R):
    i, j = np.triu_indices(len(F), 1)
    d, s = pair_differences(F).sum(axis=1), R[i, j]
    rated = np.isfinite(s)
    return stats.pearsonr(d[rated], s[rated])[0]


def test_a_new_solver_fits_through_learn_metric(unweighted):
    F, R = _problem()
    res = learn_metric(F, R, solver=unweighted())
    assert res.pearson == pytest.approx(_zero_shot(F, R), abs=1e-12)
    assert np.array_equal(res.weights, np.ones(7))
    assert (res.solver, res.message, res.converged, res.certified) == ("unweighted", "DONE: EVERY WEIGHT 1", True,
                                                                       False)


def test_a_new_solver_runs_a_sweep(unweighted):
    """The permutation null with the new solver: problem 0 (the true order) is the
    zero-shot P^2, and each relabelling is the zero-shot P^2 of the permuted ratings."""
    F, R = _problem(l=9, n=5, seed=1)
    R[0, 5] = R[5, 0] = 0.5
    fs = FeatureSet("Toy", "toy", F, R, tuple(f"s{k}" for k in range(9)))
    rows, summaries = null.relabelled_fits([fs], unweighted(), K=4, seed=0, progress=False)
    assert rows[0][3] == pytest.approx(_zero_shot(F, R) ** 2, abs=1e-12)
    perms = relabelling.permutations(9, 4, 0, "Toy")
    for (_, _, k, ev, *_), perm in zip(rows[1:], perms):
        P = _zero_shot(F, R[np.ix_(perm, perm)])
        assert ev == pytest.approx(max(P, 0.0) ** 2, abs=1e-12), k
    assert summaries[0].permutations == 4


def test_the_register_and_the_command_line_know_a_new_solver(unweighted):
    from timbre_jax.cli import build_parser

    assert solvers.available()["unweighted"] is unweighted
    learn = next(a for a in build_parser()._subparsers._group_actions[0].choices["learn"]._actions
                 if a.dest == "solver")
    assert "unweighted" in learn.choices


@needs_mirror
def test_the_command_line_fits_with_a_new_solver(unweighted, capsys):
    from timbre_jax import cli
    from timbre_jax.data import datasets

    assert cli.main(["--quiet", "learn", "--solver", "unweighted", "--dataset", "Grey1977",
                     "--representation", "cochlea"]) == 0
    out = capsys.readouterr().out
    fs = datasets.load("Grey1977", "cochlea", "upstream")
    P = _zero_shot(fs.features, fs.ratings)
    assert f"explained variance {P ** 2:.4f}" in out and "(unweighted)" in out


def test_an_option_a_solver_does_not_have_is_an_error():
    with pytest.raises(UsageError, match="the exact solver has no option maxiter \\(an option of lbfgsb\\)"):
        solvers.named("exact", maxiter=5)
    with pytest.raises(TypeError):
        Exact(maxiter=5)
    with pytest.raises(UsageError, match="unknown solver 'bfgs'; choose from"):
        solvers.named("bfgs")
    assert solvers.named("lbfgsb", maxiter=5) == Lbfgsb(maxiter=5)


@pytest.mark.parametrize("options, message", [
    (dict(bounds=(0.0, 1.0)), "0 < lower <= upper"),
    (dict(bounds=(2.0, 1.0)), "0 < lower <= upper"),
    (dict(maxiter=0), "maxiter must be at least 1"),
    (dict(starts=0), "starts must be at least 1"),
    (dict(init="zeros"), "init must be 'nnls' or 'random'"),
])
def test_lbfgsb_refuses_options_it_cannot_honour(options, message):
    with pytest.raises(UsageError, match=message):
        Lbfgsb(**options)


def test_a_string_is_not_a_solver():
    F, R = _problem()
    with pytest.raises(TypeError, match="Lbfgsb\\(\\) or Exact\\(\\)"):
        learn_metrics([(F, R)], solver="exact")


def test_solvers_are_hashable_settings():
    """Frozen dataclasses: usable as static jit arguments and in fingerprints."""
    assert hash(Lbfgsb()) == hash(Lbfgsb())
    assert Lbfgsb().settings == {"solver": "lbfgsb", "maxiter": 10_000, "maxls": 50, "memory": 10, "ftol": 1e-36,
                                 "gtol": 1e-36, "bounds": (1.0, 1e15), "restart_on_stagnation": True,
                                 "invariant_sums": None, "lockstep": None, "init": "nnls", "seed": 0, "starts": 1}
    assert Exact().settings == {"solver": "exact", "working_set": 1024, "max_passes": 100, "max_steps": None,
                                "lockstep": None}
