"""The timbre benchmark's rank metrics (:mod:`timbre_jax.stats.rank_metrics`) against direct
computations written out here: explicit loops over anchors and pairs, scipy for the
correlations, on random data with ties and unrated pairs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from timbre_jax.stats import bootstrap, rank_metrics


def _study(l=9, seed=0, unrated=((0, 3), (2, 7))):
    rng = np.random.default_rng(seed)
    R = np.round(rng.random((l, l)), 1)  # ties in the ratings
    R = (R + R.T) / 2
    np.fill_diagonal(R, np.nan)
    for i, j in unrated:
        R[i, j] = R[j, i] = np.nan
    D = np.round(rng.random((l, l)) * 3) / 3  # ties in the model too
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    return D, R


def _direct(D, R, margin=0.1):
    """Every number by hand: normalize by the max over rated pairs i < j, then loop."""
    l = len(R)
    rated = [(i, j) for i in range(l) for j in range(i + 1, l) if np.isfinite(R[i, j])]
    dmax, rmax = max(D[i, j] for i, j in rated), max(R[i, j] for i, j in rated)
    Dn, Rn = D / dmax, R / rmax
    out = {k: [] for k in ("anchor_spearman", "anchor_kendall", "triplet_agreement", "ndcg")}
    for i in range(l):
        js = [j for j in range(l) if j != i and np.isfinite(R[i, j])]
        d, r = np.array([Dn[i, j] for j in js]), np.array([Rn[i, j] for j in js])
        out["anchor_spearman"].append(stats.spearmanr(d, r)[0])
        out["anchor_kendall"].append(stats.kendalltau(d, r, variant="b")[0])
        agree = count = 0
        for a, b in itertools.combinations(range(len(js)), 2):
            if abs(r[a] - r[b]) > margin:
                count += 1
                agree += np.sign(d[a] - d[b]) == np.sign(r[a] - r[b])
        out["triplet_agreement"].append(agree / count if count else 0.0)
        order = sorted(range(len(js)), key=lambda k: (-(1 - d[k]), k))
        dcg = sum((1 - r[k]) / math.log2(pos + 2) for pos, k in enumerate(order))
        ideal = sorted(1 - r, reverse=True)
        idcg = sum(v / math.log2(pos + 2) for pos, v in enumerate(ideal))
        out["ndcg"].append(dcg / idcg if idcg > 0 else 0.0)
    mae = np.mean([abs(Dn[i, j] - Rn[i, j]) for i, j in rated])
    return {k: np.array(v) for k, v in out.items()}, mae


def test_every_anchor_metric_equals_its_direct_computation_with_ties_and_unrated_pairs():
    D, R = _study()
    got = rank_metrics.anchor_values(D, R)
    want, mae = _direct(D, R)
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, atol=1e-12, err_msg=name)
    study = rank_metrics.study_metrics(D, R)
    assert study["mae"] == pytest.approx(mae, abs=1e-12)
    assert study["anchor_kendall"] == pytest.approx(np.mean(want["anchor_kendall"]), abs=1e-12)


def test_a_hand_computed_study_of_four_sounds():
    """Ratings 0.2 0.4 0.6 / 0.8 1.0 / 0.5 (pairs 01 02 03 12 13 23); the model reverses
    the order around sound 0 only."""
    R = np.full((4, 4), np.nan)
    for (i, j), v in zip(itertools.combinations(range(4), 2), [0.2, 0.4, 0.6, 0.8, 1.0, 0.5]):
        R[i, j] = R[j, i] = v
    D = np.where(np.isfinite(R), R, 0.0)
    D[0, 1] = D[1, 0] = 0.6  # row 0: 0.6 0.4 0.2 against 0.2 0.4 0.6
    D[0, 3] = D[3, 0] = 0.2
    got = rank_metrics.anchor_values(D, R)
    assert got["anchor_spearman"][0] == pytest.approx(-1.0) and got["anchor_kendall"][0] == pytest.approx(-1.0)
    assert got["triplet_agreement"][0] == 0.0  # the 3 qualifying pairs all disagree
    # NDCG of row 0: scores 1-d = 0.4, 0.6, 0.8 rank sounds 3, 2, 1 with relevances 0.4, 0.6, 0.8
    dcg = 0.4 / 1 + 0.6 / math.log2(3) + 0.8 / 2
    idcg = 0.8 / 1 + 0.6 / math.log2(3) + 0.4 / 2
    assert got["ndcg"][0] == pytest.approx(dcg / idcg, abs=1e-12)
    assert rank_metrics.study_metrics(D, R)["mae"] == pytest.approx(0.8 / 6, abs=1e-12)  # |0.6-0.2|+|0.2-0.6|


def test_a_model_equal_to_the_ratings_is_perfect_and_monotone_transforms_change_only_mae():
    _, R = _study(unrated=())
    D = np.nan_to_num(R)
    perfect = rank_metrics.study_metrics(D, R)
    assert [perfect[k] for k in rank_metrics.METRICS] == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.0])
    D2, R2 = _study(seed=3)
    a, b = rank_metrics.study_metrics(D2, R2), rank_metrics.study_metrics(np.exp(3 * D2), R2)
    for name in rank_metrics.ANCHOR_METRICS[:3]:
        assert a[name] == pytest.approx(b[name], abs=1e-12), name
    assert a["mae"] != pytest.approx(b["mae"], abs=1e-3)


def test_relabelling_the_sounds_changes_nothing():
    """Without ties in the model (NDCG breaks them in index order, which a relabelling moves)."""
    _, R = _study(seed=5)
    D = np.random.default_rng(2).random(R.shape)
    D = (D + D.T) / 2
    perm = np.random.default_rng(1).permutation(len(R))
    a = rank_metrics.study_metrics(D, R)
    b = rank_metrics.study_metrics(D[np.ix_(perm, perm)], R[np.ix_(perm, perm)])
    assert [a[k] for k in rank_metrics.METRICS] == pytest.approx([b[k] for k in rank_metrics.METRICS], abs=1e-12)


def test_pooling_counts_every_anchor_and_every_pair_once():
    (D1, R1), (D2, R2) = _study(l=6, seed=1, unrated=()), _study(l=12, seed=2, unrated=())
    pooled = rank_metrics.pooled([(D1, R1), (D2, R2)])
    v1, m1 = _direct(D1, R1)
    v2, m2 = _direct(D2, R2)
    anchors = np.concatenate([v1["anchor_spearman"], v2["anchor_spearman"]])
    assert pooled["anchor_spearman"] == pytest.approx(anchors.sum() / 18, abs=1e-12)
    assert pooled["anchor_spearman"] != pytest.approx((v1["anchor_spearman"].mean() + v2["anchor_spearman"].mean()) / 2,
                                                       abs=1e-6)
    assert pooled["mae"] == pytest.approx((m1 * 15 + m2 * 66) / 81, abs=1e-12)


def test_a_bootstrap_sample_leaves_out_the_pairs_of_a_sound_with_its_copy():
    D, R = _study(seed=7)
    idx = np.array([0, 0, 1, 2, 4, 4, 5, 6, 8])
    rated = np.isfinite(R) & ~np.eye(len(R), dtype=bool)
    valid = bootstrap.valid_pairs(idx, rated)
    assert not valid[0, 1] and not valid[4, 5] and valid[0, 2]
    got = rank_metrics.anchor_values(D[np.ix_(idx, idx)], R[np.ix_(idx, idx)], valid=valid)
    Dr, Rr = D[np.ix_(idx, idx)].copy(), R[np.ix_(idx, idx)].copy()
    Rr[~valid] = np.nan  # the direct computation sees copies as unrated pairs
    want, _ = _direct(Dr, Rr)
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, atol=1e-12, err_msg=name)


def test_weighted_pearson_and_spearman_equal_those_of_the_expanded_list():
    rng = np.random.default_rng(4)
    d, s = np.round(rng.random(40), 1), np.round(rng.random(40), 1)
    w = rng.integers(1, 4, 40).astype(float)
    expanded = np.repeat(d, w.astype(int)), np.repeat(s, w.astype(int))
    assert bootstrap.weighted_pearson(d, s, w) == pytest.approx(stats.pearsonr(*expanded)[0], abs=1e-12)
    assert bootstrap.weighted_spearman(d, s, w) == pytest.approx(stats.spearmanr(*expanded)[0], abs=1e-12)
    assert list(bootstrap.correct([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
