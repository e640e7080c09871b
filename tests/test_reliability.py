"""Rater reliability and noise ceilings: every statistic against a loop written out here,
hand cases (identical listeners, independent noise), laws (lower <= upper, the split-half
ceiling is the EV of the truth) and Lakatos (2000)'s raw ratings."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import MIRROR_DIR, needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import reliability as analysis
from timbre_jax.data import datasets
from timbre_jax.data.participants import Participants
from timbre_jax.errors import DataError
from timbre_jax.stats import ceiling
from timbre_jax.stats import reliability as rel

LAKATOS = MIRROR_DIR / "EtienneTho/musical-timbre-studies/0a34e76101a192ad0e5945f22193ef9d60c8065a/ext/python/sounds"


def _ratings(m=9, p=45, missing=0.15, seed=0):
    """Participants who share a truth plus their own noise, some pairs unrated."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=p)[None] + 0.8 * rng.normal(size=(m, p))
    X[rng.uniform(size=(m, p)) < missing] = np.nan
    return X


def _pearson(a, b):
    keep = np.isfinite(a) & np.isfinite(b)
    return np.corrcoef(a[keep], b[keep])[0, 1] if keep.sum() >= 3 else np.nan


def _mean(rows):
    """Per pair, the mean over the rows that rated it, written out."""
    out = np.full(rows.shape[1], np.nan)
    for k in range(rows.shape[1]):
        given = rows[:, k][np.isfinite(rows[:, k])]
        if given.size:
            out[k] = given.sum() / given.size
    return out


def _people(X, l, ids=None, retest=None, self_ratings=None):
    """Participants (m, l, l) from condensed ratings (m, p)."""
    m = X.shape[0]
    i, j = np.triu_indices(l, 1)
    ratings = np.full((m, l, l), np.nan)
    ratings[:, i, j] = X
    ratings[:, j, i] = X
    return Participants(tuple(ids or (f"P{k + 1}" for k in range(m))), ratings, np.isfinite(ratings).astype(int),
                        np.zeros((0, 2)) if retest is None else retest,
                        np.full(m, np.nan) if self_ratings is None else self_ratings)


def test_halves_are_random_halves_of_the_participants():
    first = rel.halves(17, 1000, seed=3)
    assert first.shape == (1000, 17) and (first.sum(axis=1) == 8).all()
    assert np.array_equal(first, rel.halves(17, 1000, seed=3)) and not np.array_equal(first, rel.halves(17, 1000, 4))
    # each participant falls in the first half 8/17 of the time (binomial sd 0.016)
    assert np.abs(first.mean(axis=0) - 8 / 17).max() < 0.06
    # 1,000 uniform draws among C(17, 8) = 24,310 halves: N (1 - (1 - 1/N)^1000) = 979.6 distinct expected (sd ~4.4)
    n = 24_310
    assert abs(len({row.tobytes() for row in first}) - n * (1 - (1 - 1 / n) ** 1000)) < 15


def test_split_half_equals_a_loop_over_the_splits():
    X = _ratings(m=9, p=45, missing=0.3)
    got = rel.split_half(X, splits=200, seed=5)
    first = rel.halves(9, 200, seed=5)
    r = np.array([_pearson(_mean(X[f]), _mean(X[~f])) for f in first])
    np.testing.assert_allclose(got.r, r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.values, 2 * r / (1 + r), rtol=0, atol=1e-12)
    assert got.median == pytest.approx(np.median(2 * r / (1 + r)), abs=1e-12)
    assert (got.low, got.high) == pytest.approx(tuple(np.quantile(2 * r / (1 + r), [0.025, 0.975])), abs=1e-12)
    assert got.low < got.median < got.high


def test_identical_listeners_are_perfectly_reliable_and_independent_ones_not_at_all():
    rng = np.random.default_rng(1)
    same = np.tile(rng.uniform(size=120), (6, 1))
    nc = ceiling.noise_ceiling(same, splits=100)
    assert (nc.ev, nc.ev_low, nc.ev_high, nc.lower, nc.upper) == pytest.approx((1, 1, 1, 1, 1), abs=1e-12)
    assert rel.cronbach_alpha(same + rng.uniform(size=(6, 1))) == pytest.approx(1.0, abs=1e-12)  # offsets: still 1
    noise = rng.normal(size=(20, 780))
    half = rel.split_half(noise, splits=300)
    assert abs(half.median) < 0.12 and half.low < 0 < half.high
    lower, upper = ceiling.loo_bounds(noise)
    assert abs(lower) < 0.05 and upper == pytest.approx(1 / np.sqrt(20), abs=0.05)  # one of 20: r = 1/sqrt(20)
    assert abs(rel.cronbach_alpha(noise)) < 0.25


def test_cronbach_alpha_from_its_variances_on_a_complete_hand_case():
    # 3 participants (items) x 4 pairs (cases), then a pair that participant 2 skipped.
    X = np.array([[1.0, 2.0, 3.0, 4.0, 0.5],
                  [2.0, 3.0, 3.0, 5.0, np.nan],
                  [1.0, 1.0, 2.0, 3.0, 0.7]])
    # item variances (ddof=1): [1.6667, 1.5833, 0.9167]; totals per case 4, 6, 8, 12: variance 11.6667
    items = (5 / 3) + (19 / 12) + (11 / 12)
    want = 3 / 2 * (1 - items / (35 / 3))  # 3/2 (1 - 5/14) = 27/28
    assert rel.cronbach_alpha(X) == pytest.approx(want, abs=1e-12) == pytest.approx(27 / 28, abs=1e-12)
    # the same number from the mean inter-item covariance: k^2 cov / var(total)
    cov = np.cov(X[:, :4])
    assert rel.cronbach_alpha(X) == pytest.approx(9 * cov[~np.eye(3, dtype=bool)].mean() / (35 / 3), abs=1e-12)
    assert rel.complete_pairs(X).sum() == 4
    assert np.isnan(rel.cronbach_alpha(np.array([[1.0, np.nan, 2.0], [1.0, 2.0, np.nan]])))  # 1 complete pair


def test_test_retest_is_pearson_of_the_two_judgements():
    retest = np.array([[0.1, 0.2], [0.5, 0.4], [0.9, 0.7], [0.3, 0.35]])
    assert rel.retest_correlation(retest) == pytest.approx(np.corrcoef(retest.T)[0, 1], abs=1e-12)
    assert np.isnan(rel.retest_correlation(retest[:2])) and np.isnan(rel.retest_correlation(np.zeros((0, 2))))


def test_leave_one_out_and_with_mean_equal_a_loop_over_participants():
    X = _ratings(m=7, p=36, missing=0.25, seed=2)
    loo = [_pearson(X[i], _mean(np.delete(X, i, axis=0))) for i in range(7)]
    everyone = [_pearson(X[i], _mean(X)) for i in range(7)]
    np.testing.assert_allclose(rel.leave_one_out(X), loo, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rel.with_mean(X), everyone, rtol=0, atol=1e-12)
    assert ceiling.loo_bounds(X) == pytest.approx((np.mean(loo), np.mean(everyone)), abs=1e-12)


def test_lower_bound_never_above_upper():
    for seed in range(20):
        m = 2 + seed % 9
        X = _ratings(m=m, p=28, missing=0.2 * (seed % 3), seed=seed)
        lower, upper = ceiling.loo_bounds(X)
        assert lower <= upper + 1e-12, seed


def test_outliers_below_tukeys_fence_or_negative():
    loo = np.array([0.80, 0.82, 0.78, 0.81, 0.79, 0.55, np.nan, 0.83])
    # finite values: Q1 0.785, Q3 0.815 (linear quantiles); fence 0.785 - 0.045 = 0.74
    assert rel.outliers(loo).tolist() == [False] * 5 + [True, False, False]
    assert rel.outliers(np.array([-0.05, -0.02, -0.04, -0.03])).all()  # negative: flagged whatever the fence
    assert not rel.outliers(np.array([np.nan, np.nan])).any()


def test_pair_spread_equals_a_loop_over_pairs():
    X = _ratings(m=6, p=21, missing=0.3, seed=4)
    X[:5, 0] = np.nan  # one rater only: no spread
    got = rel.pair_spread(X)
    for k in range(21):
        given = X[:, k][np.isfinite(X[:, k])]
        assert got.raters[k] == given.size
        if given.size < 2:
            assert np.isnan(got.sd[k]) and np.isnan(got.sem[k])
            continue
        sd = np.sqrt(((given - given.mean()) ** 2).sum() / (given.size - 1))
        assert got.sd[k] == pytest.approx(sd, abs=1e-12)
        assert got.sem[k] == pytest.approx(sd / np.sqrt(given.size), abs=1e-12)
        assert got.half_sem[k] == pytest.approx(sd / np.sqrt(given.size / 2), abs=1e-12)
    assert got.sem_median == pytest.approx(np.median(got.sem[1:]), abs=1e-12)
    assert got.half_sem_median == pytest.approx(np.sqrt(2) * got.sem_median, rel=0.2)
    assert rel.paper_noise(34) == pytest.approx(0.1 * 34 ** 0.5)


def test_the_split_half_ceiling_is_the_ev_of_the_truth():
    """Listeners = truth + their own noise: the explained variance of the mean ratings by
    the truth itself (the best model there is) is what the split-half reliability says."""
    rng = np.random.default_rng(7)
    ceilings, truths = [], []
    for _ in range(8):
        truth = rng.normal(size=190)
        X = truth[None] + np.sqrt(4.25) * rng.normal(size=(17, 190))  # reliability 1 / (1 + 4.25 / 17) = 0.8
        ceilings.append(ceiling.noise_ceiling(X, splits=200).ev)
        truths.append(np.corrcoef(truth, X.mean(axis=0))[0, 1] ** 2)
    assert np.mean(ceilings) == pytest.approx(np.mean(truths), abs=0.025)
    assert np.mean(truths) == pytest.approx(0.8, abs=0.03)
    # the truth's mean r with the individual participants sits within rsatoolbox's bounds
    lower, upper = ceiling.loo_bounds(X)
    assert lower <= ceiling.participant_agreement(truth, X) <= upper


def test_participant_agreement_and_ev_fraction():
    X = _ratings(m=5, p=15, missing=0.2, seed=9)
    d = np.random.default_rng(0).uniform(size=15)
    assert ceiling.participant_agreement(d, X) == pytest.approx(np.mean([_pearson(d, x) for x in X]), abs=1e-12)
    assert ceiling.ev_fraction(0.45, 0.9) == pytest.approx(0.5)
    assert np.isnan(ceiling.ev_fraction(0.4, 0.0))
    np.testing.assert_allclose(ceiling.ev_fraction(np.array([0.2, 0.3]), 0.6), [1 / 3, 0.5])


def test_one_participant_is_refused_with_the_reason(monkeypatch, tmp_path):
    X = _ratings(m=1, p=10)
    for f in (rel.split_half, rel.leave_one_out, ceiling.noise_ceiling):
        with pytest.raises(DataError, match="^reliability needs at least two participants; Solo has 1$"):
            f(X, study="Solo")
    monkeypatch.setattr(datasets, "participants", lambda name, progress=False: _people(X, 5))
    with pytest.raises(DataError, match="Solo has 1"):
        analysis.run(["Solo"], progress=False)


def test_study_rows_files_and_summary(tmp_path):
    X = _ratings(m=8, p=15, missing=0.1, seed=11)
    X[3] = -X[3]  # a listener who answered "how similar"
    retest = np.array([[0.1, 0.15], [0.4, 0.5], [0.8, 0.7], [0.6, 0.6]])
    people = _people(X, 6, retest=retest, self_ratings=np.r_[0.05, 0.1, [np.nan] * 6])
    s = analysis.study_reliability("Hand", people, splits=50, seed=1)
    assert s.flagged == ["P4"] and s.outliers.sum() == 1
    assert s.retest == pytest.approx(np.corrcoef(retest.T)[0, 1]) and s.repeats == 4
    assert s.floor == pytest.approx(0.075) and s.paper_participants == 8
    assert s.paper_delta_bar == pytest.approx(0.1 * np.sqrt(8))
    assert s.rated_pairs == 15 and s.raters_min == int(np.isfinite(X).sum(axis=0).min())
    result = analysis.ReliabilityResult([s], [("Grey1977", "Grey1977: only its mean ratings were published")])
    paths = analysis.write(result, tmp_path)
    assert [p.name for p in paths] == ["reliability.csv", "participants.csv", "reliability_Hand.png"]
    with open(tmp_path / "reliability.csv") as fh:
        (head, line), = [list(csv.reader(fh))]
    assert head == analysis.COLUMNS and line[0] == "Hand" and line[head.index("outliers")] == "P4"
    assert float(line[head.index("split_half_median")]) == pytest.approx(s.split.median, abs=1e-6)
    assert line[head.index("measured_delta")] == line[head.index("sem_median")]
    with open(tmp_path / "participants.csv") as fh:
        people_rows = list(csv.reader(fh))
    assert len(people_rows) == 9 and people_rows[4][:2] == ["Hand", "P4"] and people_rows[4][5] == "yes"
    assert (tmp_path / "reliability_Hand.png").stat().st_size > 10_000
    lines = analysis.summary(result)
    assert lines[0] == "skipped Grey1977: only its mean ratings were published"
    assert lines[1].startswith("Hand: 8 participants, 15/15 pairs rated; split-half ") and "outliers: P4" in lines[1]


def _lakatos_raw(name: str, l: int) -> np.ndarray:
    """The raw file read here, independently: 17 participants' lower triangles row by row,
    each block padded with zeros to a multiple of 8 values; condensed (i < j) (17, p)."""
    values = np.loadtxt(LAKATOS / f"Lakatos2000_{name}" / f"0.{name}.raw.txt").ravel()
    p = l * (l - 1) // 2
    block = (p + 7) // 8 * 8
    out = np.empty((17, p))
    for who in range(17):
        k, full = 0, np.zeros((l, l))
        for i in range(1, l):
            for j in range(i):
                full[j, i] = values[who * block + k]
                k += 1
        out[who] = full[np.triu_indices(l, 1)]
    return out


@needs_mirror
def test_lakatos_comb_leave_one_out_bounds_from_the_raw_file():
    X = _lakatos_raw("Comb", 20)
    lower = np.mean([np.corrcoef(X[i], np.delete(X, i, axis=0).mean(axis=0))[0, 1] for i in range(17)])
    upper = np.mean([np.corrcoef(X[i], X.mean(axis=0))[0, 1] for i in range(17)])
    assert (lower, upper) == pytest.approx((0.7225, 0.7586), abs=5e-5)
    assert ceiling.loo_bounds(X) == pytest.approx((lower, upper), abs=1e-12)
    people = datasets.participants("Lakatos2000_Comb")
    np.testing.assert_array_equal(people.pairs, X)
    s = analysis.study_reliability("Lakatos2000_Comb", people)
    assert (s.lower, s.upper) == pytest.approx((lower, upper), abs=1e-12)
    assert s.alpha == pytest.approx(rel.cronbach_alpha(X)) and 0.9 < s.split.median < s.split.high < 1
    assert s.paper_participants == 34 and np.isnan(s.retest) and s.repeats == 0


@needs_mirror
def test_cli_reliability_on_lakatos(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["--quiet", "reliability", "--datasets", "Lakatos2000_Comb,Lakatos2000_Harm,Grey1977",
                     "--splits", "200", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "skipped Grey1977: only its mean ratings were published" in said
    assert "Lakatos2000_Comb: 17 participants, 190/190 pairs rated" in said and "leave-one-out 0.723 to 0.759" in said
    with open(out / "reliability.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["study"] for r in rows] == ["Lakatos2000_Comb", "Lakatos2000_Harm"]
    assert [r["participants"] for r in rows] == ["17", "17"] and rows[1]["pairs"] == "136"
    assert float(rows[0]["loo_lower"]) == pytest.approx(0.7225, abs=1e-4)
    assert rows[0]["test_retest"] == "" and float(rows[0]["paper_delta_bar"]) == pytest.approx(0.583095, abs=1e-6)
    assert (out / "reliability_Lakatos2000_Harm.png").is_file() and (out / "participants.csv").is_file()
    assert cli.main(["--quiet", "reliability", "--datasets", "Grey1977", "--out", str(tmp_path / "none")]) == 1
    assert "no per-participant ratings to assess: Grey1977: only its mean" in capsys.readouterr().err


@pytest.mark.slow  # 7 s: the benchmark script end to end; the statistics it times are tested above
@needs_mirror
def test_quick_benchmark(tmp_path):
    """benchmarks/reliability.py --quick runs, finds the loop and the vectorized split half
    equal, and times the statistics of a 20-sound, 17-participant study."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "benchmarks" / "reliability.py"), "--quick", "--out", str(tmp_path)],
                   check=True, cwd=root, capture_output=True, text=True)
    res = json.loads((tmp_path / "reliability_bench.json").read_text())
    assert (res["participants"], res["sounds"], res["pairs"], res["splits"]) == (17, 20, 190, 1000)
    assert res["loop_equal"] and 0 < res["statistics_best_s"] < 2.0  # the bound
    assert (tmp_path / "files" / "reliability.csv").is_file()
