"""evaluate: one row per dataset x representation, each number equal to its separate computation."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import scipy.optimize

from timbre_jax import learn_metric
from timbre_jax.analyses import crossval, evaluate, null
from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.solvers import Exact
from timbre_jax.stats import unweighted

K = 40  # relabellings: p = 1/41 ~ 0.024 when the true order beats all of them


def problem(l: int, n: int, seed: int, dataset: str, representation: str = "rep", *, signal: bool = True,
            sign: float = 1.0, unrated: int = 1) -> FeatureSet:
    """l sounds x n features; ratings = the squared distances of a hidden weighting plus noise
    (``signal``; pure noise otherwise; reversed with ``sign=-1``), scaled into [0, 1]; the
    first ``unrated`` pairs NaN."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(l, n))
    i, j = pair_indices(l)
    d = (((F[i] - F[j]) ** 2) * rng.uniform(0.2, 2.0, size=n)).sum(axis=1)
    s = sign * d + rng.normal(scale=0.3 * d.std(), size=len(d)) if signal else rng.uniform(size=len(d))
    s = (s - s.min()) / np.ptp(s)
    s[:unrated] = np.nan
    R = np.full((l, l), np.nan)
    R[i, j] = R[j, i] = s
    return FeatureSet(dataset, representation, F, R, tuple(f"s{k}" for k in range(l)), metadata={"source": "test"})


A = problem(12, 5, 0, "A", "r1")
B = problem(6, 20, 1, "B", "r2", unrated=0)  # 20 weights for 15 pairs, all rated
C = problem(12, 5, 2, "C", "r1")
NOISE = problem(12, 5, 3, "N", "r1", signal=False)
REVERSED = problem(12, 5, 4, "R", "r1", sign=-1.0)


@pytest.fixture(scope="module")
def rows():
    """r1, r2, r1: the representations interleaved, so grouping must restore the order."""
    return evaluate.evaluate_sets([A, B, C], permutations=K, seed=0, progress=False)


def test_a_row_equals_the_separate_computations(rows):
    row = rows[0]
    fit = learn_metric(A.features, A.ratings, solver=Exact())
    assert fit.certified and row.certified
    assert abs(row.ev_exact - fit.explained_variance) <= 1e-12
    assert 0.5 < row.ev_exact < 1.0
    align = unweighted.alignment(A.features, A.pairs)
    assert (row.zeroshot_pearson, row.zeroshot_spearman) == align["euclidean"]
    assert row.zeroshot_cosine_pearson == align["cosine"][0]
    fits, (summ,) = null.relabelled_fits([A], Exact(), K=K, seed=0, progress=False)
    assert fits[0][2] == 0 and abs(fits[0][3] - row.ev_exact) <= 1e-12  # problem 0: the true order
    assert row.null_median == summ.null_median and row.null_p == summ.p_value
    assert row.permutations == summ.permutations == K
    assert row.null_p == pytest.approx(1 / (K + 1), abs=1e-15)  # beats every relabelling
    (cv,) = crossval.heldout_rows([A], Exact(), progress=False)
    assert abs(row.heldout_ev - cv.heldout_ev) <= 1e-12
    assert abs(cv.in_sample_ev - row.ev_exact) <= 1e-12
    assert 0 < row.heldout_ev < row.ev_exact


def test_ev_exact_equals_nnls_with_a_free_intercept(rows):
    """An independent route to the optimum: max P^2 is the R^2 of min ||D u + c - s||, u >= 0, c free."""
    for fs, row in ((A, rows[0]), (C, rows[2])):
        rated = np.isfinite(fs.pairs)
        D, s = np.asarray(pair_differences(fs.features))[rated], fs.pairs[rated]
        X = np.column_stack([D, np.ones(len(s)), -np.ones(len(s))])
        x, _ = scipy.optimize.nnls(X, s)
        r2 = 1 - np.sum((s - X @ x) ** 2) / np.sum((s - s.mean()) ** 2)
        assert abs(row.ev_exact - r2) <= 1e-9


def test_one_row_per_set_in_the_order_given(rows):
    assert [(r.representation, r.dataset) for r in rows] == [("r1", "A"), ("r2", "B"), ("r1", "C")]
    assert [(r.sounds, r.pairs, r.dims) for r in rows] == [(12, 65, 5), (6, 15, 20), (12, 65, 5)]
    assert {r.source for r in rows} == {"test"}
    # C was evaluated in the same batch as A: the same numbers as alone.
    fit = learn_metric(C.features, C.ratings, solver=Exact())
    assert abs(rows[2].ev_exact - fit.explained_variance) <= 1e-12


def test_too_many_weights_are_flagged(rows):
    a, b, _ = rows
    assert b.dims >= b.pairs
    assert "20 weights for 15 rated pairs: enough to fit almost any ratings (EV near 1 whatever the sounds), " \
           "so judge it by null_p and heldout_ev" == b.warnings
    # The only warning, one clause of the "; "-joined list: B's ratings do follow its features.
    # The capacity shows in the null: relabelled sounds reach a median EV of about 0.6 (12x5: under 0.05).
    assert b.ev_exact > 0.99 and b.null_median > 0.5 and a.null_median < 0.1
    assert a.warnings == ""


def test_an_optimum_at_chance_is_flagged():
    (row,) = evaluate.evaluate_sets([NOISE], permutations=K, seed=0, progress=False)
    assert row.certified and row.dims < row.pairs
    assert row.null_p > 0.05
    assert f"not above chance (p = {row.null_p:.3g})" in row.warnings.split("; ")


def test_an_uncertified_optimum_is_flagged(monkeypatch):
    """An exact solver that stops at its iteration limit (one column entered; A's optimum needs 5)."""
    monkeypatch.setattr(evaluate, "Exact", lambda: Exact(max_steps=1))
    (row,) = evaluate.evaluate_sets([A], permutations=K, seed=0, progress=False)
    assert not row.certified
    assert row.warnings.startswith("the optimum is not certified")
    assert any(line.split()[:3] == ["r1", "test", "A"] and f"{row.ev_exact:.3f}*" in line
               for line in evaluate.summary(evaluate.EvaluateResult([row])))


def test_a_negative_zero_shot_correlation_is_flagged():
    (row,) = evaluate.evaluate_sets([REVERSED], permutations=K, seed=0, progress=False)
    assert row.zeroshot_pearson < 0
    assert f"zero-shot correlation is negative (Pearson {row.zeroshot_pearson:.3f})" in row.warnings.split("; ")


def test_write_reads_back(rows, tmp_path):
    (path,) = evaluate.write(evaluate.EvaluateResult(rows), tmp_path / "out")
    assert path == tmp_path / "out" / "evaluate.csv"
    with open(path, newline="") as fh:
        header, *body = list(csv.reader(fh))
    last = ["uncertified", "null_certified", "heldout_certified"]  # added after the older columns
    ceiling = list(evaluate.CEILING_FIELDS)  # and the noise ceiling after them
    fields = [f for f in evaluate.EvaluateRow.__dataclass_fields__ if f not in ("intervals", "ceiling", *last)]
    assert header == fields + [f"{n}_{end}" for n in evaluate.INTERVALS for end in ("low", "high")] + last + ceiling
    assert len(body) == len(rows)
    for line, row in zip(body, rows):
        for name, cell in zip(header, line):
            if name in ceiling:  # no per-participant ratings here: empty
                assert cell == "" and row.ceiling.get(name) is None
                continue
            if name not in fields + last:  # an interval bound
                n, end = name.rsplit("_", 1)
                assert abs(float(cell) - row.intervals[n][end == "high"]) <= 5e-7
                continue
            value = getattr(row, name)
            if isinstance(value, bool):
                assert cell == str(value)
            elif isinstance(value, int):
                assert int(cell) == value
            elif isinstance(value, float):
                assert abs(float(cell) - value) <= 5e-7
            else:
                assert cell == value


def test_summary_prints_a_table_then_the_warnings(rows):
    lines = evaluate.summary(evaluate.EvaluateResult(rows))
    assert lines[0].split()[:6] == ["representation", "source", "dataset", "l", "pairs", "n"]
    assert [ln.split()[:3] for ln in lines[2:5]] == [["r1", "test", "A"], ["r2", "test", "B"], ["r1", "test", "C"]]
    assert f"{rows[0].ev_exact:.3f}" in lines[2].split()
    assert lines[-2:] == [f"r2/B (test): {rows[1].warnings}", "wall time 0.0 s"]
    assert not any(ln.startswith("r1/A") for ln in lines)


@pytest.mark.slow  # real data, evaluate run twice: ~20 s; the resume rule itself is in test_out_rule
def test_chunks_are_saved_and_resumed(rows, tmp_path, monkeypatch):
    first = evaluate.evaluate_sets([A, B, C], permutations=K, seed=0, directory=tmp_path, progress=False)
    for rep in ("r1", "r2"):
        for what in ("null", "crossval"):
            assert list((tmp_path / rep / what).glob("chunk-*.npz")), (rep, what)
    saved = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npz")}

    def solve(solver, groups):
        raise AssertionError("a saved chunk was solved again")

    monkeypatch.setattr(Exact, "solve", solve)
    again = evaluate.evaluate_sets([A, B, C], permutations=K, seed=0, directory=tmp_path, progress=False)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npz")} == saved
    assert again == first
    for a, b in zip(first, rows):
        assert abs(a.ev_exact - b.ev_exact) <= 1e-12 and a.null_p == b.null_p
