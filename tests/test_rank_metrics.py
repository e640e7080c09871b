"""The benchmark's rank metrics (:mod:`timbre_jax.stats.rank_metrics`) against computations
written out here independently: explicit loops over anchors and pairs, scipy on the explicit
rows, a hand-written triplet loop and NDCG loop; studies small enough to do on paper; the
laws the metrics obey; the pooling rule; the ``valid`` matrix of a bootstrap resample; and
the stacked forms (many studies or bootstrap samples at once) against one at a time, bit for
bit."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import DataError
from timbre_jax.stats import bootstrap, rank_metrics, scores

ANCHOR = ("anchor_spearman", "anchor_kendall", "triplet_agreement", "ndcg")
LOG3 = math.log2(3)


# --------------------------------------------------------------------------- helpers


def _random_study(l=10, seed=0, unrated=0.15, tied_model=True):
    """(distances, ratings) (l, l): ratings on a 0.1 grid (ties), NaN diagonal and a share
    ``unrated`` of NaN pairs; distances on a 1/3 grid (ties) or continuous."""
    rng = np.random.default_rng(seed)
    R = np.full((l, l), np.nan)
    D = np.zeros((l, l))
    for i in range(l):
        for j in range(i + 1, l):
            if rng.random() >= unrated:
                R[i, j] = R[j, i] = round(rng.uniform(0.1, 1.0), 1)
            D[i, j] = D[j, i] = round(3 * rng.random()) / 3 + 0.5 if tied_model else rng.uniform(0.5, 2.0)
    return D, R


def _used_pairs(D, R, valid=None):
    """The predicate of a used pair, written from the definition."""
    l = len(R)

    def used(a, b):
        if a == b or not (math.isfinite(R[a, b]) and math.isfinite(D[a, b])):
            return False
        return valid is None or (bool(valid[a, b]) and bool(valid[b, a]))

    return used, l


def _direct(D, R, valid=None, margin=0.1):
    """Every number of one study by loops: ({anchor metric: (l,) per anchor}, (sum of
    |d' - r'| over the used pairs, their number))."""
    used, l = _used_pairs(D, R, valid)
    pairs = [(a, b) for a in range(l) for b in range(a + 1, l) if used(a, b)]
    dmax = max(D[a, b] for a, b in pairs)
    rmax = max(R[a, b] for a, b in pairs)
    Dn = D / dmax if dmax > 0 else D
    Rn = R / rmax if rmax > 0 else R
    out = {k: [] for k in ANCHOR}
    for i in range(l):
        js = [j for j in range(l) if used(i, j)]
        d = [float(Dn[i, j]) for j in js]
        r = [float(Rn[i, j]) for j in js]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a constant row: scipy warns and returns NaN
            out["anchor_spearman"].append(stats.spearmanr(d, r).statistic if len(js) >= 2 else math.nan)
            out["anchor_kendall"].append(stats.kendalltau(d, r, variant="b").statistic if len(js) >= 2 else math.nan)
        if not js:
            out["triplet_agreement"].append(math.nan)
            out["ndcg"].append(math.nan)
            continue
        count = agree = 0
        for a in range(len(js)):
            for b in range(a + 1, len(js)):
                if abs(r[a] - r[b]) > margin:
                    count += 1
                    agree += np.sign(d[a] - d[b]) == np.sign(r[a] - r[b])
        out["triplet_agreement"].append(agree / count if count else 0.0)
        relevance = [1.0 - x for x in r]
        score = [1.0 - x for x in d]
        ranked = sorted(range(len(js)), key=lambda k: (-score[k], k))
        dcg = sum(relevance[k] / math.log2(pos + 1) for pos, k in enumerate(ranked, start=1))
        idcg = sum(v / math.log2(pos + 1) for pos, v in enumerate(sorted(relevance, reverse=True), start=1))
        out["ndcg"].append(dcg / idcg if idcg > 0 else 0.0)
    mae_terms = (sum(abs(Dn[a, b] - Rn[a, b]) for a, b in pairs), len(pairs))
    return {k: np.array(v, dtype=float) for k, v in out.items()}, mae_terms


def _direct_study(D, R, valid=None, margin=0.1):
    values, (total, count) = _direct(D, R, valid, margin)
    out = {k: float(np.mean([x for x in v if not math.isnan(x)])) for k, v in values.items()}
    out["mae"] = total / count
    return out


def _assert_anchor_values(got, want):
    for name in ANCHOR:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-12, equal_nan=True, err_msg=name)


def _symmetric(values, l=4, fill=np.nan):
    """(l, l) from the values of pairs 01 02 03 ... in condensed order."""
    M = np.full((l, l), fill)
    for (i, j), v in zip(zip(*np.triu_indices(l, 1)), values):
        M[i, j] = M[j, i] = v
    return M


# ------------------------------------------------------------- against direct loops


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("margin", [0.1, 0.25])
def test_anchor_values_and_study_metrics_equal_the_direct_loops_with_ties_and_unrated_pairs(seed, margin):
    D, R = _random_study(seed=seed)
    rated = np.isfinite(R)
    # the data exercise what they should: unrated pairs, ties within an anchor's row in both
    assert (~rated[np.triu_indices(len(R), 1)]).sum() >= 1
    assert any(len(set(R[i][rated[i]])) < rated[i].sum() for i in range(len(R)))
    assert any(len(set(D[i][rated[i]])) < rated[i].sum() for i in range(len(R)))
    want, (total, count) = _direct(D, R, margin=margin)
    _assert_anchor_values(rank_metrics.anchor_values(D, R, margin=margin), want)
    got = rank_metrics.study_metrics(D, R, margin=margin)
    assert list(got) == list(rank_metrics.METRICS)
    for name in ANCHOR:
        assert got[name] == pytest.approx(np.nanmean(want[name]), abs=1e-12), name
    assert got["mae"] == pytest.approx(total / count, abs=1e-12)


def test_many_unrated_pairs_leave_anchors_out_as_the_direct_loops_do():
    D, R = _random_study(l=9, seed=11, unrated=0.6)
    want, _ = _direct(D, R)
    assert np.isnan(want["anchor_spearman"]).any()  # the case under test occurs
    _assert_anchor_values(rank_metrics.anchor_values(D, R), want)
    got = rank_metrics.study_metrics(D, R)
    for name, value in _direct_study(D, R).items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


# ------------------------------------------------------------------ on paper


def test_a_four_sound_study_computed_on_paper():
    """Pairs 01 02 03 12 13 23.  Ratings 0.2 0.6 1.0 0.4 0.8 and 23 unrated (max 1); model
    0.4 0.4 2.0 1.2 0.2 and 4.0 on the unrated pair, which must not set the model's max (2)."""
    R = _symmetric([0.2, 0.6, 1.0, 0.4, 0.8, np.nan])
    D = _symmetric([0.4, 0.4, 2.0, 1.2, 0.2, 4.0], fill=0.0)
    # normalized model: 0.2 0.2 1.0 0.6 0.1
    got = rank_metrics.anchor_values(D, R)
    want = {
        # anchor 0: r' 0.2 0.6 1.0, d' 0.2 0.2 1.0 (a model tie); 1: r' 0.2 0.4 0.8, d' 0.2 0.6 0.1;
        # anchor 2: r' 0.6 0.4, d' 0.2 0.6; anchor 3: r' 1.0 0.8, d' 1.0 0.1
        "anchor_spearman": [math.sqrt(3) / 2, -0.5, -1.0, 1.0],
        "anchor_kendall": [2 / math.sqrt(6), -1 / 3, -1.0, 1.0],
        "triplet_agreement": [2 / 3, 1 / 3, 0.0, 1.0],
        "ndcg": [1.0,  # ranked 1, 2 (the tie in index order), 3: the ideal order
                 (0.2 + 0.8 / LOG3 + 0.6 / 2) / (0.8 + 0.6 / LOG3 + 0.2 / 2),  # ranked 3, 0, 2
                 (0.4 + 0.6 / LOG3) / (0.6 + 0.4 / LOG3),  # ranked 0, 1
                 1.0],  # ranked 1, 0 (relevance 0.2, 0.0)
    }
    _assert_anchor_values(got, {k: np.array(v) for k, v in want.items()})
    study = rank_metrics.study_metrics(D, R)
    assert study["anchor_spearman"] == pytest.approx((math.sqrt(3) / 2 - 0.5) / 4, abs=1e-12)
    assert study["anchor_kendall"] == pytest.approx((2 / math.sqrt(6) - 1 / 3) / 4, abs=1e-12)
    assert study["triplet_agreement"] == pytest.approx(0.5, abs=1e-12)
    assert study["ndcg"] == pytest.approx(sum(want["ndcg"]) / 4, abs=1e-12)
    assert study["mae"] == pytest.approx((0 + 0.4 + 0 + 0.2 + 0.7) / 5, abs=1e-12)


def _edge_study():
    """Five sounds.  Ratings 01 0.5, 02 0.5, 03 1.0, 12 0.5, every other pair unrated:
    anchor 0 is ordinary, 1 and 2 have a constant row, 3 one rated other (at the largest
    rating, so relevance 0 and IDCG 0), 4 no rated other.  Model 1 2 4 3 on those pairs,
    10 on the unrated ones."""
    R = _symmetric([0.5, 0.5, 1.0, np.nan, 0.5, np.nan, np.nan, np.nan, np.nan, np.nan], l=5)
    D = np.where(np.isfinite(R), 0.0, 10.0)
    np.fill_diagonal(D, 0.0)
    for (i, j), v in {(0, 1): 1.0, (0, 2): 2.0, (0, 3): 4.0, (1, 2): 3.0}.items():
        D[i, j] = D[j, i] = v
    return D, R


def test_undefined_anchors_are_left_out_of_each_mean_by_the_stated_rule():
    D, R = _edge_study()
    got = rank_metrics.anchor_values(D, R)
    nan = math.nan
    want = {
        "anchor_spearman": [math.sqrt(3) / 2, nan, nan, nan, nan],
        "anchor_kendall": [2 / math.sqrt(6), nan, nan, nan, nan],
        "triplet_agreement": [1.0, 0.0, 0.0, 0.0, nan],
        "ndcg": [1.0, 1.0, 1.0, 0.0, nan],
    }
    _assert_anchor_values(got, {k: np.array(v) for k, v in want.items()})
    study = rank_metrics.study_metrics(D, R)
    assert study["anchor_spearman"] == pytest.approx(math.sqrt(3) / 2, abs=1e-12)  # one counted anchor
    assert study["anchor_kendall"] == pytest.approx(2 / math.sqrt(6), abs=1e-12)
    assert study["triplet_agreement"] == pytest.approx(0.25, abs=1e-12)  # four counted anchors
    assert study["ndcg"] == pytest.approx(0.75, abs=1e-12)
    assert study["mae"] == pytest.approx((0.25 + 0 + 0 + 0.25) / 4, abs=1e-12)  # d' = d / 4
    _assert_anchor_values(got, _direct(D, R)[0])


def test_normalize_divides_by_the_largest_valid_value_above_the_diagonal():
    M = _symmetric([1.0, 2.0, 8.0, 4.0, 5.0, np.nan], fill=0.0)
    valid = np.isfinite(M) & ~np.eye(4, dtype=bool)
    valid[0, 3] = valid[3, 0] = False  # the 8 is left out: the max is 5
    np.testing.assert_array_equal(rank_metrics.normalize(M, valid), M / 5)
    np.testing.assert_array_equal(rank_metrics.normalize(M), M / 8)  # default: every finite off-diagonal pair
    only_upper = np.triu(valid)  # i < j is what is read
    np.testing.assert_array_equal(rank_metrics.normalize(M, only_upper), M / 5)
    zeros = np.zeros((3, 3))
    assert np.array_equal(rank_metrics.normalize(zeros), zeros)  # a max of 0: unchanged, no NaN


# ------------------------------------------------------------------------ laws


def test_a_model_equal_to_the_ratings_is_perfect_at_any_scale():
    D, R = _random_study(seed=4, unrated=0.0)
    for scale in (1.0, 3.0):
        got = rank_metrics.study_metrics(scale * np.nan_to_num(R), R)
        assert [got[k] for k in rank_metrics.METRICS] == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.0], abs=1e-12)
    assert rank_metrics.study_metrics(D, R)["anchor_spearman"] < 0.9  # a model that is not the ratings is not perfect


@pytest.mark.parametrize("transform", [lambda x: np.exp(5 * x), lambda x: x**3 + x, lambda x: 7 * x])
def test_anchor_metrics_are_invariant_under_an_increasing_transform_of_the_distances(transform):
    D, R = _random_study(seed=5)
    T = transform(D)
    np.fill_diagonal(T, 0.0)
    a, b = rank_metrics.anchor_values(D, R), rank_metrics.anchor_values(T, R)
    _assert_anchor_values(b, a)
    mae_a, mae_b = rank_metrics.study_metrics(D, R)["mae"], rank_metrics.study_metrics(T, R)["mae"]
    if transform(2.0) == 7 * 2.0:  # a scaling: normalization removes it
        assert mae_b == pytest.approx(mae_a, abs=1e-12)
    else:
        assert abs(mae_b - mae_a) > 1e-3


@pytest.mark.parametrize("tied_model", [False, True])
def test_relabelling_the_sounds_changes_nothing(tied_model):
    """Every anchor keeps its values.  With model ties NDCG breaks them in index order,
    which a relabelling moves, so it is compared only without them."""
    D, R = _random_study(seed=6, tied_model=tied_model)
    perm = np.random.default_rng(3).permutation(len(R))
    a = rank_metrics.anchor_values(D, R)
    b = rank_metrics.anchor_values(D[np.ix_(perm, perm)], R[np.ix_(perm, perm)])
    names = ANCHOR if not tied_model else ANCHOR[:3]
    for name in names:
        np.testing.assert_allclose(b[name], a[name][perm], rtol=0, atol=1e-12, equal_nan=True, err_msg=name)
    sa = rank_metrics.study_metrics(D, R)
    sb = rank_metrics.study_metrics(D[np.ix_(perm, perm)], R[np.ix_(perm, perm)])
    for name in (*names, "mae"):
        assert sb[name] == pytest.approx(sa[name], abs=1e-12), name


# --------------------------------------------------------------------- pooling


def test_pooling_sums_over_every_anchor_and_every_pair_of_every_study():
    (D1, R1), (D2, R2) = _random_study(l=5, seed=8, unrated=0.0), _random_study(l=9, seed=9, unrated=0.0)
    v1, (t1, c1) = _direct(D1, R1)
    v2, (t2, c2) = _direct(D2, R2)
    assert (c1, c2) == (10, 36)
    got = rank_metrics.pooled([(D1, R1), (D2, R2)])
    assert list(got) == list(rank_metrics.METRICS)
    for name in ANCHOR:
        assert not np.isnan(np.concatenate([v1[name], v2[name]])).any()  # every sound counts
        by_anchor = (v1[name].sum() + v2[name].sum()) / 14
        mean_of_means = (v1[name].mean() + v2[name].mean()) / 2
        assert got[name] == pytest.approx(by_anchor, abs=1e-12), name
        assert abs(by_anchor - mean_of_means) > 1e-4, name  # the two rules differ on these studies
    assert got["mae"] == pytest.approx((t1 + t2) / 46, abs=1e-12)
    assert abs((t1 + t2) / 46 - (t1 / 10 + t2 / 36) / 2) > 1e-4


def test_pooling_the_two_paper_studies_counts_only_the_counted_anchors():
    four = (_symmetric([0.4, 0.4, 2.0, 1.2, 0.2, 4.0], fill=0.0), _symmetric([0.2, 0.6, 1.0, 0.4, 0.8, np.nan]))
    got = rank_metrics.pooled([four, _edge_study()])
    assert got["anchor_spearman"] == pytest.approx((math.sqrt(3) / 2 - 0.5 - 1 + 1 + math.sqrt(3) / 2) / 5, abs=1e-12)
    assert got["triplet_agreement"] == pytest.approx((2 / 3 + 1 / 3 + 0 + 1 + 1 + 0 + 0 + 0) / 8, abs=1e-12)
    assert got["mae"] == pytest.approx((1.3 + 0.5) / 9, abs=1e-12)


def test_pooling_takes_a_valid_matrix_per_study():
    D, R = _random_study(seed=10, unrated=0.0)
    valid = np.ones_like(R, dtype=bool)
    valid[1, 4] = valid[4, 1] = valid[2, 7] = valid[7, 2] = False
    masked = R.copy()
    masked[~valid] = np.nan
    got = rank_metrics.pooled([(D, R, valid)])
    want = _direct_study(D, masked)
    for name in rank_metrics.METRICS:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name
    assert rank_metrics.pooled([(D, R)])["mae"] != pytest.approx(got["mae"], abs=1e-9)


def test_a_pair_valid_one_way_only_is_not_used():
    D, R = _random_study(seed=17, unrated=0.0)
    one_way = ~np.eye(len(R), dtype=bool)
    one_way[3, 5] = False  # valid[5, 3] still holds
    masked = R.copy()
    masked[3, 5] = masked[5, 3] = np.nan
    _assert_anchor_values(rank_metrics.anchor_values(D, R, valid=one_way), _direct(D, masked)[0])
    assert rank_metrics.study_metrics(D, R, valid=one_way)["mae"] == pytest.approx(_direct_study(D, masked)["mae"],
                                                                                abs=1e-12)
    assert rank_metrics.study_metrics(D, R)["mae"] != pytest.approx(_direct_study(D, masked)["mae"], abs=1e-9)


# ------------------------------------------------------------------- bootstrap


def test_a_bootstrap_resample_with_copies_uses_valid_as_defined():
    D, R = _random_study(l=9, seed=7)
    np.fill_diagonal(R, 0.0)  # a rated diagonal: only `valid` keeps a sound from its own copy
    idx = np.array([0, 0, 1, 2, 4, 4, 5, 6, 8])
    rated = np.isfinite(R) & ~np.eye(len(R), dtype=bool)
    valid = np.array([[idx[a] != idx[b] and rated[idx[a], idx[b]] for b in range(9)] for a in range(9)])
    Db, Rb = D[np.ix_(idx, idx)], R[np.ix_(idx, idx)]
    assert not valid[0, 1] and not valid[4, 5] and Rb[0, 1] == 0.0  # copies: a finite rating, not valid
    got = rank_metrics.anchor_values(Db, Rb, valid=valid)
    want, (total, count) = _direct(Db, Rb, valid=valid)
    _assert_anchor_values(got, want)
    for name in ANCHOR:  # copies of one sound are two anchors with the same others
        assert got[name][0] == pytest.approx(got[name][1], abs=1e-12) or np.isnan(got[name][0]) and np.isnan(
            got[name][1])
    study = rank_metrics.study_metrics(Db, Rb, valid=valid)
    for name, value in _direct_study(Db, Rb, valid=valid).items():
        assert study[name] == pytest.approx(value, abs=1e-12), name
    assert study["mae"] == pytest.approx(total / count, abs=1e-12)
    without = rank_metrics.study_metrics(Db, Rb)  # the copy pairs (rating 0, distance 0) would count
    assert abs(without["mae"] - study["mae"]) > 1e-6


# ------------------------------------------------------------------- distances


def test_distance_matrices_equal_their_formulas():
    rng = np.random.default_rng(12)
    F = rng.normal(size=(6, 4))
    w = rng.uniform(0.5, 2.0, size=4)
    E, C = rank_metrics.distance_matrix(F, "euclidean"), rank_metrics.distance_matrix(F, "cosine")
    L = rank_metrics.learned_distance_matrix(F, w)
    for i in range(6):
        for j in range(6):
            e = math.sqrt(sum((F[i, k] - F[j, k]) ** 2 for k in range(4)))
            c = 1 - sum(F[i] * F[j]) / (math.sqrt(sum(F[i] ** 2)) * math.sqrt(sum(F[j] ** 2)))
            learned = math.sqrt(sum((F[i, k] - F[j, k]) ** 2 / w[k] ** 2 for k in range(4)))
            assert E[i, j] == pytest.approx(e if i != j else 0.0, abs=1e-12)
            assert C[i, j] == pytest.approx(c if i != j else 0.0, abs=1e-12)
            assert L[i, j] == pytest.approx(learned if i != j else 0.0, abs=1e-12)
    two = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert rank_metrics.distance_matrix(two, "euclidean")[0, 1] == 5.0  # not squared
    assert rank_metrics.learned_distance_matrix(two, [1.0, 2.0])[0, 1] == pytest.approx(math.sqrt(13), abs=1e-15)
    np.testing.assert_allclose(rank_metrics.learned_distance_matrix(F, np.ones(4)), E, rtol=0, atol=1e-12)


def test_a_zero_feature_row_leaves_its_cosine_pairs_out_like_unrated_ones():
    rng = np.random.default_rng(13)
    F = rng.normal(size=(7, 3))
    F[2] = 0.0
    C = rank_metrics.distance_matrix(F, "cosine")
    assert np.isnan(C[2, [0, 1, 3, 4, 5, 6]]).all() and np.isnan(C[[0, 1, 3], 2]).all()
    _, R = _random_study(l=7, seed=14, unrated=0.0)
    masked = R.copy()
    masked[2, :] = masked[:, 2] = np.nan
    want, _ = _direct(C, masked)
    _assert_anchor_values(rank_metrics.anchor_values(C, R), want)
    assert rank_metrics.study_metrics(C, R)["mae"] == pytest.approx(_direct_study(C, masked)["mae"], abs=1e-12)


# ---------------------------------------------------------------------- errors


def test_shape_mismatches_raise_data_error():
    D, R = _random_study(l=5, seed=15)
    with pytest.raises(DataError, match="same shape"):
        rank_metrics.study_metrics(D[:4, :4], R)
    with pytest.raises(DataError, match="valid"):
        rank_metrics.anchor_values(D, R, valid=np.ones((4, 4), dtype=bool))
    with pytest.raises(DataError, match="square"):
        rank_metrics.study_metrics(D[:, :4], R[:, :4])
    with pytest.raises(DataError, match="square"):
        rank_metrics.normalize(np.ones(3))
    with pytest.raises(DataError, match="features"):
        rank_metrics.distance_matrix(np.ones(3), "euclidean")
    with pytest.raises(DataError, match="unknown distance"):
        rank_metrics.distance_matrix(np.ones((3, 2)), "manhattan")
    with pytest.raises(DataError, match="weights"):
        rank_metrics.learned_distance_matrix(np.ones((3, 2)), np.ones(3))
    with pytest.raises(DataError, match="weights"):
        rank_metrics.learned_distance_matrix(np.ones((3, 2)), [1.0, 0.0])
    with pytest.raises(DataError, match="study"):
        rank_metrics.pooled([(D,)])



# ---------------------------------------------------- stacks against one at a time


def _resampled(D, R, samples):
    """(D, R, valid) stacks (B, l, l) of the bootstrap ``samples`` (B, l) of one study."""
    rated = np.isfinite(R) & ~np.eye(len(R), dtype=bool)
    return (np.stack([D[np.ix_(i, i)] for i in samples]), np.stack([R[np.ix_(i, i)] for i in samples]),
            np.stack([bootstrap.valid_pairs(i, rated) for i in samples]))


def _triplets(D, R, valid, margin):
    """The triplet agreement per anchor by the docstring's rule, written out: pairs {j, k}
    with |r'_ij - r'_ik| > margin; agreeing: sign(d'_ij - d'_ik) = sign(r'_ij - r'_ik), a
    tie of the model never."""
    used, l = _used_pairs(D, R, valid)
    pairs = [(a, b) for a in range(l) for b in range(a + 1, l) if used(a, b)]
    Dn = D / max(D[a, b] for a, b in pairs)
    Rn = R / max(R[a, b] for a, b in pairs)
    out = []
    for i in range(l):
        js = [j for j in range(l) if used(i, j)]
        both = [(j, k) for j in js for k in js if j < k and abs(Rn[i, j] - Rn[i, k]) > margin]
        agree = sum(np.sign(Dn[i, j] - Dn[i, k]) == np.sign(Rn[i, j] - Rn[i, k]) != 0 for j, k in both)
        out.append(agree / len(both) if both else (0.0 if js else math.nan))
    return np.array(out)


@pytest.mark.parametrize("margin", [0.1, 0.25, -0.05])
def test_a_stack_gives_each_member_the_numbers_it_gives_alone_to_the_last_bit(margin):
    stacks = []
    for seed, tied in ((20, True), (21, False)):
        D, R = _random_study(l=16, seed=seed, tied_model=tied)
        other = D.copy()
        other[0, :] = other[:, 0] = np.nan  # the same ratings, fewer used pairs (a cosine of a zero row)
        samples = np.vstack([bootstrap.resample(16, 10, seed), np.arange(16), np.zeros(16, dtype=int)])
        for M in (D, D**2, other):  # several distances on the same resamples share the ratings' side
            stacks.append(_resampled(M, R, samples))
    D, R, valid = (np.concatenate(x) for x in zip(*stacks))
    got = rank_metrics.study_metrics_batch(D, R, valid=valid, margin=margin)
    assert list(got) == list(rank_metrics.METRICS)
    alone = [rank_metrics.study_metrics(D[n], R[n], valid=valid[n], margin=margin) for n in range(len(D))]
    for name in rank_metrics.METRICS:
        np.testing.assert_array_equal(got[name], [a[name] for a in alone], err_msg=name)  # NaN where NaN
    assert np.isnan(got["anchor_spearman"][11]) and np.isfinite(got["anchor_spearman"][:11]).all()  # one sound: none
    for n in range(0, len(D), 5):  # the sums of the means, in the order written out: the counted values alone
        used = np.isfinite(D[n]) & np.isfinite(R[n]) & valid[n] & valid[n].T & ~np.eye(16, dtype=bool)
        used &= used.T
        Dn, Rn = (rank_metrics.normalize(np.where(used, M, 0.0), used) for M in (D[n], R[n]))
        upper = np.triu(used, 1)
        assert (got["mae"][n] == np.abs(Dn - Rn)[upper].sum() / upper.sum()) if upper.any() else np.isnan(got["mae"][n])
        for name, v in rank_metrics.anchor_values(D[n], R[n], valid=valid[n], margin=margin).items():
            counted = v[np.isfinite(v)]
            assert (got[name][n] == counted.mean()) if counted.size else np.isnan(got[name][n]), (n, name)
    # the triplets' margin (below 0, pairs tied in the ratings qualify and never agree) by loops
    np.testing.assert_allclose(rank_metrics.anchor_values(D[0], R[0], valid=valid[0], margin=margin)[
        "triplet_agreement"], _triplets(D[0], R[0], valid[0], margin), rtol=0, atol=1e-12)
    assert not np.array_equal(got["anchor_kendall"][:11], got["anchor_kendall"][24:35])  # the NaN row matters


def test_stacked_bootstrap_weights_and_ranks_equal_one_sample_at_a_time():
    rng = np.random.default_rng(22)
    samples = bootstrap.resample(8, 6, 22)
    rated = rng.random(28) > 0.2
    W = bootstrap.pair_weights(samples, rated)
    np.testing.assert_array_equal(W, [bootstrap.pair_weights(idx, rated) for idx in samples])
    x = np.round(rng.random(28) * 5)  # ties
    x[3] = np.nan  # weight 0 below, as a pair without a distance
    W[:, 3] = 0.0
    ranks = bootstrap.weighted_ranks(x, W)
    for w, r in zip(W, ranks):
        keep = w > 0
        np.testing.assert_array_equal(r[keep], bootstrap.weighted_ranks(x[keep], w[keep]))
        np.testing.assert_array_equal(r[keep], stats.rankdata(np.repeat(x[keep], w[keep].astype(int)))[
            np.cumsum(w[keep].astype(int)) - 1])  # scipy's average ranks of the list written out


def test_the_batched_bootstrap_equals_scoring_each_sample_alone(monkeypatch):
    l = 9
    rng = np.random.default_rng(23)
    F = rng.normal(size=(l, 4))
    F[2] = 0.0  # cosine distances NaN: those pairs are left out
    _, R = _random_study(l=l, seed=23, unrated=0.2)
    fs = FeatureSet("toy", "toy", F, R, tuple(f"s{k}" for k in range(l)))
    fits = rng.uniform(0.1, 2.0, size=(l + 1, l * (l - 1) // 2))  # squared distances: in-sample, then each fold
    st = scores.study(fs, fits)
    samples = np.vstack([bootstrap.resample(l, 11, 23), np.arange(l), np.full(l, 4)])
    monkeypatch.setattr(scores, "STACK_ENTRIES", 3 * 4 * l**3)  # chunks of 3 samples
    got = scores.sample_numbers(st, samples)
    alone = [scores.numbers(st, idx) for idx in samples]
    assert list(got) == list(alone[0])
    for key, values in got.items():
        np.testing.assert_array_equal(values, [a[key] for a in alone], err_msg=str(key))
    assert np.isnan(got[("learned", "pearson")][-1]) and np.isfinite(got[("cosine", "ndcg")][:-1]).all()
    bounds, arrays = scores.intervals(st, samples)
    assert bounds[("learned", "ev")] == bootstrap.interval(arrays[("learned", "ev")])
    assert scores.intervals(st, samples[:0]) == ({}, {})
