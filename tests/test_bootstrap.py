"""The bootstrap over sounds (:mod:`timbre_jax.stats.bootstrap`) against direct computations:
explicit lists of resampled pairs built with loops, literal percentiles, p-values and Holm
adjustments worked out by hand, and the comparison figure of :mod:`timbre_jax.analyses.leaderboard`."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax.analyses import leaderboard
from timbre_jax.stats import bootstrap


def test_resample_is_deterministic_per_seed_and_differs_across_seeds():
    a, b, c = bootstrap.resample(24, 200, 0), bootstrap.resample(24, 200, 0), bootstrap.resample(24, 200, 1)
    assert a.shape == (200, 24) and np.issubdtype(a.dtype, np.integer)
    assert a.min() >= 0 and a.max() <= 23 and len(np.unique(a)) == 24
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert (a[0] != a[1]).any()  # the samples differ from each other
    # with replacement: some sound is drawn twice in a sample of 24 out of 24
    assert any(len(np.unique(row)) < 24 for row in a)
    np.testing.assert_array_equal(a, np.random.Generator(np.random.PCG64(0)).integers(0, 24, (200, 24)))


def _random_study(l, seed, unrated):
    rng = np.random.default_rng(seed)
    p = l * (l - 1) // 2
    d, s = rng.random(p), rng.random(p)
    rated = np.ones(p, dtype=bool)
    rated[rng.choice(p, unrated, replace=False)] = False
    s[~rated] = np.nan
    return d, s, rated


def _explicit_pairs(idx, d, s, rated):
    """The resampled pair list written out: every a < b of the sample, copies and unrated
    pairs dropped, the original pair looked up by a double loop."""
    l = len(idx)
    index = {}
    q = 0
    for i in range(l):
        for j in range(i + 1, l):
            index[(i, j)] = q
            q += 1
    ds, ss = [], []
    for a in range(l):
        for b in range(a + 1, l):
            i, j = idx[a], idx[b]
            if i == j:
                continue
            q = index[(min(i, j), max(i, j))]
            if rated[q]:
                ds.append(d[q])
                ss.append(s[q])
    return np.array(ds), np.array(ss)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_pearson_equals_the_pearson_of_the_explicit_resampled_pair_list(seed):
    l = 13
    d, s, rated = _random_study(l, seed, unrated=9)
    checked = 0
    for idx in bootstrap.resample(l, 20, seed):
        assert len(np.unique(idx)) < l  # repeated sounds
        w = bootstrap.pair_weights(idx, rated)
        ds, ss = _explicit_pairs(idx, d, s, rated)
        assert w.sum() == len(ds) and (w[~rated] == 0).all()
        want = np.corrcoef(ds, ss)[0, 1]
        assert bootstrap.weighted_pearson(d, s, w) == pytest.approx(want, abs=1e-12)
        checked += 1
    assert checked == 20


def test_the_identity_sample_weighs_every_rated_pair_once():
    l = 11
    d, s, rated = _random_study(l, 3, unrated=5)
    w = bootstrap.pair_weights(np.arange(l), rated)
    np.testing.assert_array_equal(w, rated.astype(float))
    assert bootstrap.weighted_pearson(d, s, w) == pytest.approx(np.corrcoef(d[rated], s[rated])[0, 1], abs=1e-12)
    # any order of the sounds is the same set of pairs
    np.testing.assert_array_equal(bootstrap.pair_weights(np.arange(l)[::-1], rated), rated.astype(float))


def test_pair_weights_on_a_small_case_by_hand():
    # l = 4, pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3); (1,3) unrated; sample [2, 0, 2, 3]
    rated = np.array([True, True, True, True, False, True])
    w = bootstrap.pair_weights(np.array([2, 0, 2, 3]), rated)
    # pairs of positions: (2,0) (2,2)x (2,3) (0,2) (0,3) (2,3) -> {0,2}: 2, {2,3}: 2, {0,3}: 1
    np.testing.assert_array_equal(w, [0, 2, 1, 0, 0, 2])


def test_valid_pairs_excludes_copies_and_unrated_pairs():
    rated = np.array([[False, True, False],
                      [True, False, True],
                      [False, True, False]])  # pair (0, 2) unrated
    got = bootstrap.valid_pairs(np.array([0, 0, 1, 2]), rated)
    want = np.array([[False, False, True, False],   # 0-0 copy, 0-1 rated, 0-2 unrated
                     [False, False, True, False],
                     [True, True, False, True],
                     [False, False, True, False]])
    np.testing.assert_array_equal(got, want)


def test_interval_is_the_percentile_interval_without_nans():
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0])
    low, high = bootstrap.interval(values, 0.9)
    assert (low, high) == (1.0, 7.5)  # np.percentile(values, [5, 95]): linear between 6 and 9
    assert (low, high) == tuple(np.percentile(values, [5, 95]))
    with_nan = np.r_[values, np.nan, np.nan]
    assert bootstrap.interval(with_nan, 0.9) == (1.0, 7.5)
    assert bootstrap.interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert all(np.isnan(bootstrap.interval([np.nan, np.nan])))


def test_a_representation_compared_with_itself_gives_p_exactly_1():
    values = np.random.default_rng(0).standard_normal(500)
    c = bootstrap.paired_comparison(values, values, 0.4, 0.4)
    assert c["difference"] == 0.0 and c["p"] == 1.0 and c["low"] == 0.0 and c["high"] == 0.0


def test_a_clearly_better_representation_is_significant():
    rng = np.random.default_rng(1)
    b = rng.standard_normal(400)
    a = b + 0.5 + 0.01 * rng.standard_normal(400)
    c = bootstrap.paired_comparison(a, b, 0.9, 0.4)
    assert c["difference"] == pytest.approx(0.5)
    assert c["p"] <= 2 / 400
    assert 0.45 < c["low"] < 0.5 < c["high"] < 0.55


def test_the_p_value_formula_on_a_hand_made_array():
    diff = np.array([0.3, -0.1, 0.2, 0.0, 0.5, 0.4, -0.2, 0.1, np.nan, 0.6])
    # finite: 9; <= 0: 3 (-0.1, 0.0, -0.2); >= 0: 7 -> p = 2 * 3 / 9
    c = bootstrap.paired_comparison(diff, np.zeros_like(diff), 1.0, 0.25)
    assert c["p"] == pytest.approx(2 / 3)
    assert c["difference"] == 0.75
    assert (c["low"], c["high"]) == bootstrap.interval(diff[np.isfinite(diff)])
    one_sided = bootstrap.paired_comparison(np.array([1.0, 2.0, -1.0, 3.0]), np.zeros(4), 1.0, 0.0)
    assert one_sided["p"] == 0.5  # 2 * 1/4


def test_holm_on_a_literal_example():
    np.testing.assert_allclose(bootstrap.correct([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(bootstrap.correct([0.5, 0.001, 0.02, 0.9]), [1.0, 0.004, 0.06, 1.0])
    with pytest.raises(ValueError, match="holm"):
        bootstrap.correct([0.1], method="bonferroni")


def test_statistics_applies_the_statistic_to_every_sample():
    samples = bootstrap.resample(6, 5, 2)
    as_dict = bootstrap.statistics(samples, lambda idx: {"mean": idx.mean(), "max": float(idx.max())})
    assert set(as_dict) == {"mean", "max"}
    np.testing.assert_array_equal(as_dict["mean"], samples.mean(axis=1))
    np.testing.assert_array_equal(as_dict["max"], samples.max(axis=1))
    as_array = bootstrap.statistics(samples, lambda idx: np.array([idx.min(), idx.sum()]))
    assert as_array.shape == (5, 2)
    np.testing.assert_array_equal(as_array[:, 1], samples.sum(axis=1))


def test_plot_comparison_writes_a_png(tmp_path):
    path = leaderboard.plot_comparison(["a", "b", "c"], [0.6, 0.4, 0.1], [0.5, 0.25, -0.05], [0.7, 0.5, 0.3],
                                  [(0, 2)], tmp_path / "three.png", "Grey1977: explained variance", "EV")
    assert path == tmp_path / "three.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = leaderboard.plot_comparison(["a"], [0.5], [np.nan], [np.nan], [], tmp_path / "one.png", "one", "EV")
    assert one.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_mirror
def test_the_interval_of_the_zero_shot_pearson_holds_the_point_and_repeats_with_its_seed():
    from timbre_jax.core.pearson import pair_differences
    from timbre_jax.data import datasets

    fs = datasets.load("Grey1977", "cochlea", "upstream")
    d = pair_differences(fs.features).sum(axis=1)
    s = fs.pairs
    rated = np.isfinite(s)
    point = bootstrap.weighted_pearson(d, s, rated.astype(float))
    assert point == pytest.approx(np.corrcoef(d[rated], s[rated])[0, 1], abs=1e-12)

    def run():
        samples = bootstrap.resample(len(fs.ratings), 1000, 0)
        values = bootstrap.statistics(samples, lambda idx: [bootstrap.weighted_pearson(
            d, s, bootstrap.pair_weights(idx, rated))])[:, 0]
        return values, bootstrap.interval(values)

    values, (low, high) = run()
    assert values.shape == (1000,) and np.isfinite(values).all()
    assert low < point < high and high - low > 0.01
    values2, again = run()
    assert again == (low, high)
    np.testing.assert_array_equal(values2, values)
