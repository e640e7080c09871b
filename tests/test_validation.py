"""Permutation null, leave-one-sound-out cross-validation, and multi-device sharding."""

from __future__ import annotations

import numpy as np
import pytest

import timbre_jax  # noqa: F401
from conftest import needs_mirror, run_on_host_devices
from timbre_jax import cli
from timbre_jax.analyses import crossval
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.stats import heldout, relabelling


def test_permutations_are_seeded_and_never_the_identity():
    p = relabelling.permutations(4, 200, seed=0, dataset="Toy")
    assert p.shape == (200, 4)
    assert not np.any(np.all(p == np.arange(4), axis=1))
    np.testing.assert_array_equal(p, relabelling.permutations(4, 200, seed=0, dataset="Toy"))
    assert not np.array_equal(p, relabelling.permutations(4, 200, seed=1, dataset="Toy"))
    assert all(sorted(row) == [0, 1, 2, 3] for row in p)


def test_permuted_pairs_relabel_rows_and_columns_together():
    R = np.array([[np.nan, 0.1, 0.2], [0.1, np.nan, 0.3], [0.2, 0.3, np.nan]])
    # sound 0 takes the place of sound 2 and vice versa: pair (0,1) now carries R[2,1]
    np.testing.assert_array_equal(relabelling.permuted_pairs(R, np.array([2, 1, 0])), [0.3, 0.2, 0.1])


def test_p_value_and_summary_by_hand():
    ev = np.array([0.5, 0.1, 0.6, 0.2, 0.5])  # observed 0.5; null 0.1, 0.6, 0.2, 0.5
    s = relabelling.compare_to_null("stft", "Toy", ev)
    assert s.p_value == pytest.approx((1 + 2) / 5)
    # a relabelling that reaches the observed EV up to rounding reaches it (EV = 1 for all)
    tied = relabelling.compare_to_null("mertcat", "Toy", np.array([1.0, 1.0 - 1e-15, 1.0, 0.5]))
    assert tied.p_value == pytest.approx((1 + 2) / 4)
    assert s.null_median == pytest.approx(0.35) and s.excess_over_median == pytest.approx(0.15)
    assert s.null_p95 == pytest.approx(np.percentile([0.1, 0.6, 0.2, 0.5], 95))


def test_crossval_folds_hold_out_each_sound():
    R = np.full((5, 5), 0.5)
    np.fill_diagonal(R, np.nan)
    fs = FeatureSet("Toy", "stft", np.random.default_rng(0).random((5, 3)), R, tuple("abcde"))
    g = heldout.make_group(fs)
    i, j = np.triu_indices(5, 1)
    assert g.K == 6 and g.mask[0].sum() == 10
    for k in range(5):
        held = (i == k) | (j == k)
        assert np.all(g.mask[k + 1][held] == 0) and np.all(g.mask[k + 1][~held] == 1)


def test_crossval_score_standardizes_each_fold_then_pools():
    rng = np.random.default_rng(1)
    l = 6
    R = np.full((l, l), np.nan)
    i, j = np.triu_indices(l, 1)
    s = rng.random(len(i))
    R[i, j] = R[j, i] = s
    fs = FeatureSet("Toy", "stft", rng.random((l, 2)), R, tuple("abcdef"))
    d = rng.random((l + 1, len(i)))
    row = crossval.score(fs, d, in_sample_pearson=0.9)
    # by hand: z-score each fold's held-out predictions, pool, correlate with the ratings
    z, r, fold = [], [], []
    for k in range(l):
        held = (i == k) | (j == k)
        z.append((d[k + 1, held] - d[k + 1, held].mean()) / d[k + 1, held].std())
        r.append(s[held])
        fold.append(np.corrcoef(d[k + 1, held], s[held])[0, 1] ** 2)
    P = np.corrcoef(np.concatenate(z), np.concatenate(r))[0, 1]
    assert row.heldout_pearson == pytest.approx(P) and row.heldout_ev == pytest.approx(max(P, 0) ** 2)
    assert row.fold_ev_mean == pytest.approx(np.mean(fold)) and row.in_sample_ev == pytest.approx(0.81)
    # a fold's predictions are only defined up to a positive scale and offset
    scaled = d * np.arange(1, l + 2)[:, None] + np.arange(l + 1)[:, None]
    assert crossval.score(fs, scaled, 0.9).heldout_pearson == pytest.approx(P)
    # predictions equal to the ratings predict well; reversed ones explain nothing
    perfect = np.tile(s, (l + 1, 1))
    assert crossval.score(fs, perfect, 0.9).heldout_pearson > 0.9
    assert crossval.score(fs, -perfect, 0.9).heldout_ev == 0.0


@pytest.mark.slow  # 11 s of L-BFGS-B commands; the files' contract is tested fast in test_cli_contract
@needs_mirror
def test_null_and_crossval_commands_write_their_files(tmp_path, capsys):
    out = tmp_path / "null"
    assert cli.main(["--quiet", "null", "--representations", "encodec", "--datasets", "Patil2012_A3",
                     "--permutations", "5", "--solver", "lbfgsb", "--maxiter", "150", "--out", str(out)]) == 0
    rows = (out / "null.csv").read_text().splitlines()
    assert rows[0] == "representation,dataset,permutation,ev,iterations,converged" and len(rows) == 1 + 6
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("representation,dataset,observed_ev,null_median,null_p95,p_value")
    p = float(summary[1].split(",")[5])
    assert p in {k / 6 for k in range(1, 7)}
    assert (out / "null_encodec.png").stat().st_size > 1000
    out = tmp_path / "cv"
    assert cli.main(["--quiet", "crossval", "--representations", "encodec", "--datasets", "Patil2012_A3",
                     "--solver", "lbfgsb", "--maxiter", "150", "--out", str(out)]) == 0
    rows = (out / "crossval.csv").read_text().splitlines()
    assert rows[0] == ("representation,dataset,in_sample_ev,heldout_pearson,heldout_ev,fold_ev_mean,sounds,"
                       "unconverged,in_sample_converged,heldout_converged")
    in_sample, held = float(rows[1].split(",")[2]), float(rows[1].split(",")[4])
    assert 0 <= held <= 1 and 0 < in_sample <= 1
    assert (out / "crossval.png").exists()


_DEVICE_SCRIPT = r"""
import json, sys, numpy as np, jax
import timbre_jax
from timbre_jax.fit.learn import learn_metrics
from timbre_jax.fit import sweep
from timbre_jax.solvers.batch import Group
from timbre_jax.solvers import Exact, Lbfgsb
rng = np.random.default_rng(0)
problems = [(rng.random((l, 20)) ** 2, rng.random(l * (l - 1) // 2)) for l in (6, 8, 7)]
res = learn_metrics(problems, solver=Lbfgsb(maxiter=30))
vmapped = learn_metrics(problems, solver=Lbfgsb(maxiter=30, lockstep=True))  # the GPU path, sharded too
D = [np.asarray(timbre_jax.core.pearson.pair_differences(F)) for F, _ in problems]
groups = [Group(D[k], rng.random((3, len(D[k]))), np.ones((3, len(D[k]))), str(k)) for k in range(3)]
out, _ = sweep.solve(groups, Lbfgsb(maxiter=30), progress=False)
exact = learn_metrics(problems, solver=Exact()) + learn_metrics(problems, solver=Exact(lockstep=True))
exact_sweep, _ = sweep.solve(groups, Exact(), progress=False)
print(json.dumps({"devices": jax.device_count(), "P": [r.pearson for r in res + vmapped],
                  "sweep": [o.pearson.tolist() for o in out],
                  "exact": [r.pearson for r in exact] + [x for o in exact_sweep for x in o.pearson.tolist()],
                  "exact_w": [r.weights.tolist() for r in exact]}))
"""


@pytest.mark.slow  # two processes compiling L-BFGS-B in lockstep side by side: 1-2.5 min
def test_four_devices_give_the_numbers_of_one():
    one, four = run_on_host_devices(_DEVICE_SCRIPT, (1, 4))
    assert one["devices"] == 1 and four["devices"] == 4
    np.testing.assert_allclose(four["P"], one["P"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.concatenate(four["sweep"]), np.concatenate(one["sweep"]), rtol=0, atol=1e-10)
    # the exact solver: the same optimum on 1 or 4 devices, batched or in lockstep
    np.testing.assert_allclose(four["exact"], one["exact"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(one["exact"][:3], one["exact"][3:6], rtol=0, atol=1e-12)
    for a, b in zip(four["exact_w"], one["exact_w"]):
        np.testing.assert_allclose(a, b, rtol=1e-9)
