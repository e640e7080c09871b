"""Frame-aligned representations in the core: per-pair data through every fit, fold,
relabelling and distance, checked against loops written out here and against the vector
representation they generalize."""

import numpy as np
import pytest
from scipy.spatial.distance import cosine as scipy_cosine

from timbre_jax import Exact, learn_metric
from timbre_jax.analyses import crossval, null, zeroshot
from timbre_jax.core import aligned
from timbre_jax.core.pearson import condensed, pair_differences, pair_indices
from timbre_jax.data import datasets, store
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import DataError, FitError
from timbre_jax.stats import heldout, rank_metrics, relabelling, scores


def padded(seq, T):
    return np.vstack([seq, np.zeros((T - len(seq), seq.shape[1]))])


def toy(l=9, n=4, seed=0):
    """Sequences of different lengths, their aligned pairs (zero frames appended: the core
    does not care how a pair's frames were made) and ratings with some structure."""
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(int(rng.integers(3, 8)), n)) * rng.uniform(0.5, 2, n) for _ in range(l)]
    rows = []
    for i, j in zip(*pair_indices(l)):
        T = max(len(seqs[i]), len(seqs[j]))
        rows.append((*aligned.compare(padded(seqs[i], T), padded(seqs[j], T)), T))
    values = aligned.from_pairs(rows, l)
    d = values.squares @ np.array([1.0, 0.2, 3.0, 0.5][:n]) + rng.normal(scale=0.5, size=len(rows))
    R = scores.square((d - d.min()) / np.ptp(d), l)
    R[1, 2] = R[2, 1] = np.nan  # one unrated pair
    np.fill_diagonal(R, np.nan)
    return seqs, values, R


def feature_set(values, R, name="Toy"):
    l = len(R)
    return FeatureSet(name, "toy-aligned", values, R, tuple(f"s{k}" for k in range(l)), {"source": "extracted"})


def test_compare_and_distances_match_the_flattened_pair():
    seqs, values, _ = toy()
    for q, (i, j) in enumerate(zip(*pair_indices(len(seqs)))):
        T = max(len(seqs[i]), len(seqs[j]))
        a, b = padded(seqs[i], T).ravel(), padded(seqs[j], T).ravel()
        assert values.frames[q] == T
        assert aligned.euclidean(values)[q] == pytest.approx(np.sum((a - b) ** 2), rel=1e-12)
        assert aligned.cosine(values)[q] == pytest.approx(scipy_cosine(a, b), rel=1e-12, abs=1e-15)
        E = rank_metrics.distance_matrix(values, "euclidean")
        assert E[i, j] == E[j, i] == pytest.approx(np.linalg.norm(a - b), rel=1e-12)
    w = np.array([1.0, 2.0, 0.5, 4.0])
    L = rank_metrics.learned_distance_matrix(values, w)
    i, j = pair_indices(len(seqs))
    np.testing.assert_allclose(L[i, j], np.sqrt(values.squares @ w ** -2.0), rtol=1e-14)


def test_a_vector_representation_is_an_aligned_one_of_one_frame():
    """Every number of a vector representation is unchanged when it is given as aligned
    pairs of one frame each: the aligned path is the same method, not a special case."""
    rng = np.random.default_rng(3)
    F = rng.normal(size=(10, 5))
    _, _, R = toy(l=10, n=4, seed=3)
    rows = [(*aligned.compare(F[i][None], F[j][None]), 1) for i, j in zip(*pair_indices(10))]
    A = aligned.from_pairs(rows, 10)
    np.testing.assert_allclose(pair_differences(A), pair_differences(F), rtol=1e-15)
    a, v = learn_metric(A, R, solver=Exact()), learn_metric(F, R, solver=Exact())
    assert a.explained_variance == pytest.approx(v.explained_variance, rel=1e-12)
    for kind in ("euclidean", "cosine"):
        np.testing.assert_allclose(rank_metrics.distance_matrix(A, kind), rank_metrics.distance_matrix(F, kind),
                                   rtol=1e-12, atol=1e-15)
    za, zv = zeroshot.alignment(A, condensed(R)), zeroshot.alignment(F, condensed(R))
    for kind in za:
        np.testing.assert_allclose(za[kind], zv[kind], rtol=1e-12)
    sa, sv = scores.numbers(scores.study(feature_set(A, R))), scores.numbers(scores.study(feature_set(F, R)))
    for key in sv:
        assert sa[key] == pytest.approx(sv[key], rel=1e-9, abs=1e-12), key


def test_null_relabels_the_ratings_of_the_aligned_pairs_like_a_loop():
    _, values, R = toy(seed=1)
    fs = feature_set(values, R)
    K = 6
    rows, (summary,) = null.relabelled_fits([fs], Exact(), K=K, seed=4, progress=False)
    perms = np.vstack([np.arange(len(R)), relabelling.permutations(len(R), K, 4, fs.dataset)])
    for k, perm in enumerate(perms):  # relabel sound i as perm[i]: ratings permuted, pairs kept
        Rp = R[np.ix_(perm, perm)]
        want = learn_metric(values, Rp, solver=Exact()).explained_variance
        assert rows[k][3] == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert summary.observed_ev == pytest.approx(learn_metric(values, R, solver=Exact()).explained_variance, rel=1e-9)


def test_leave_one_sound_out_drops_the_pairs_of_the_sound_like_a_loop():
    _, values, R = toy(seed=2)
    fs = feature_set(values, R)
    (res,) = heldout.solve_folds([fs], Exact(), progress=False)
    l = len(R)
    i, j = pair_indices(l)
    for k in range(l):
        keep = (i != k) & (j != k)
        # the study without sound k, built by hand: its l - 1 sounds' aligned pairs
        rest = aligned.AlignedPairs(values.squares[keep], values.products[keep], values.energies[keep],
                                    values.frames[keep])
        others = np.delete(np.arange(l), k)
        fit = learn_metric(rest, R[np.ix_(others, others)], solver=Exact())
        held = ~keep
        got = res.distances[k + 1, held] / res.distances[k + 1, held].mean()
        want = values.squares[held] @ fit.weights ** -2.0
        np.testing.assert_allclose(got, want / want.mean(), rtol=1e-7)
    row = crossval.score(fs, res.distances, float(res.pearson[0]))
    assert 0.0 <= row.heldout_ev <= 1.0


def test_store_keeps_aligned_pairs_and_refuses_pairs_of_other_sounds(tmp_path):
    _, values, R = toy(l=6, seed=5)
    sounds = tuple(f"s{k}" for k in range(6))
    path = store.save(tmp_path / "x.npz", store.StoredFeatures(values, sounds, R, {"source": "extracted"}))
    back = store.load(path).features
    assert aligned.is_aligned(back)
    for name in aligned.FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(values, name))
    with pytest.raises(DataError, match="pairs are those of 6 sounds, but the study has 7"):
        store.save(tmp_path / "y.npz", store.StoredFeatures(values, (*sounds, "s6"), np.full((7, 7), np.nan), {}))
    with pytest.raises(DataError, match=r"x\.npz: .*non-finite or negative values for the pair \(s0, s1\)"):
        bad = aligned.AlignedPairs(values.squares.copy(), values.products, values.energies, values.frames)
        bad.squares[0, 0] = np.nan
        store.save(tmp_path / "x.npz", store.StoredFeatures(bad, sounds, R, {}))
    assert aligned.is_aligned(store.load(path).features)  # the refused write left the file whole


def test_aligned_problems_are_checked_and_joined():
    _, values, R = toy(l=5, seed=6)
    with pytest.raises(FitError, match="expected"):
        learn_metric(aligned.AlignedPairs(values.squares, values.products[:-1], values.energies, values.frames), R)
    with pytest.raises(DataError, match="not l"):
        aligned.sounds_from_pairs(7)
    _, other, R2 = toy(l=4, seed=7)
    J = aligned.joint([values, other])
    assert J.n_sounds == 9
    sets = [feature_set(values, R, "A"), feature_set(other, R2, "B")]
    F, RJ = datasets.joint_problem(sets)
    joint = learn_metric(F, RJ, solver=Exact())
    # a joint fit over two studies is the fit on their pairs stacked (the cross pairs unrated)
    D = np.vstack([values.squares, other.squares])
    s = np.concatenate([condensed(R), condensed(R2)])
    rated = np.isfinite(s)
    d = D[rated] @ joint.weights ** -2.0
    assert np.corrcoef(d, s[rated])[0, 1] ** 2 == pytest.approx(joint.explained_variance, rel=1e-9)
    with pytest.raises(DataError, match="aligned and per-sound"):
        datasets.joint_problem([sets[0], FeatureSet("C", "toy-aligned", np.ones((3, 4)), R2[:3, :3], ("a", "b", "c"))])


def test_an_aligned_store_of_other_sounds_is_a_one_line_data_error(capsys):
    """A store file whose pairs are those of 15 sounds, for a study of 16: exit 1, named."""
    from timbre_jax import cli

    _, values, _ = toy(l=15, seed=8)
    path = store.feature_file("extracted", "short-aligned", "Grey1977")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{f"aligned_{name}": getattr(values, name) for name in aligned.FIELDS},
             sounds=np.array([f"s{k}" for k in range(16)]), ratings=np.full((16, 16), np.nan),
             metadata=np.asarray("{}"))
    assert cli.main(["--quiet", "learn", "--dataset", "Grey1977", "--representation", "short-aligned"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "Grey1977.npz: 105 pairs are those of 15 sounds, but the study has 16 sounds" in err
