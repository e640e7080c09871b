"""Timbre spaces (issue #37, part 3): SMACOF against classical MDS and the truth on exactly
Euclidean data, with and without unrated pairs; stress-1 by hand; the majorization law;
Procrustes against scipy; the canonical position; correlations against scipy.stats.pearsonr;
the analysis on Grey1977 with a named representation of random values; the command line."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.distance import pdist, squareform

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import space
from timbre_jax.data import imported
from timbre_jax.data.datasets import load_ratings
from timbre_jax.data.registry import DATASETS
from timbre_jax.errors import DataError
from timbre_jax.stats import mds
from timbre_jax.stats.procrustes import align


def truth(l: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (l, k) and their Euclidean distances (l, l), by scipy."""
    points = np.random.default_rng(seed).normal(size=(l, k))
    return points, squareform(pdist(points))


def unrate(D: np.ndarray, pairs) -> np.ndarray:
    """``D`` with the pairs (i, j) unrated (NaN both ways) and a NaN diagonal, as ratings are."""
    R = D.copy()
    for i, j in pairs:
        R[i, j] = R[j, i] = np.nan
    np.fill_diagonal(R, np.nan)
    return R


# ----------------------------------------------------------------------------- MDS

def test_smacof_recovers_an_exactly_euclidean_configuration():
    P, D = truth(12, 2, seed=1)
    found = mds.smacof(D, 2)
    assert found.stress < 1e-10 and found.converged and found.points.shape == (12, 2)
    np.testing.assert_allclose(squareform(pdist(found.points)), D, atol=1e-6)
    np.testing.assert_allclose(squareform(pdist(mds.classical(D, 2))), D, atol=1e-6)
    assert scipy_procrustes(P, found.points)[2] < 1e-12  # the same configuration up to a similarity
    # The majorization alone, from a random start, finds it too (not only the classical start).
    start = np.random.default_rng(5).normal(size=(12, 2))
    X, history, converged = mds.majorize(D, start, tolerance=0.0)
    assert converged and history[-1] < 1e-20 * history[0]
    np.testing.assert_allclose(squareform(pdist(X)), D, atol=1e-6)


def test_smacof_recovers_the_points_with_unrated_pairs():
    P, D = truth(10, 2, seed=2)
    missing = [(0, 3), (2, 7), (5, 9), (1, 8), (4, 6), (0, 9)]
    found = mds.smacof(unrate(D, missing), 2, tolerance=0.0)
    assert found.stress < 1e-8
    np.testing.assert_allclose(squareform(pdist(found.points)), D, atol=1e-6)  # the unrated pairs included
    # Were the unrated pairs taken as 0, the fit would be far off.
    zeroed = np.where(np.isfinite(unrate(D, missing)), D, 0.0)
    assert mds.smacof(zeroed, 2).stress > 0.05


def test_stress1_by_hand():
    X = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [1.0, 1.0]])
    delta = np.array([[np.nan, 2.0, 5.0, 1.0],
                      [2.0, np.nan, np.nan, 2.0],  # (1, 2) unrated
                      [5.0, np.nan, np.nan, 3.0],
                      [1.0, 2.0, 3.0, np.nan]])
    # distances of the rated pairs (0,1) (0,2) (0,3) (1,3) (2,3): 3, 4, sqrt 2, sqrt 5, sqrt 10
    d = np.array([3.0, 4.0, np.sqrt(2), np.sqrt(5), np.sqrt(10)])
    t = np.array([2.0, 5.0, 1.0, 2.0, 3.0])
    assert mds.stress1(X, delta) == pytest.approx(np.sqrt(((d - t) ** 2).sum() / (d ** 2).sum()), abs=1e-15)
    assert mds.raw_stress(X, delta, np.isfinite(delta) * 1.0) == pytest.approx(((d - t) ** 2).sum(), abs=1e-14)


def test_smacof_stress_never_increases():
    """The majorization law: each Guttman transform lowers the weighted raw stress or keeps it."""
    rng = np.random.default_rng(3)
    l = 14
    R = rng.uniform(0.1, 1.0, (l, l))
    R = unrate((R + R.T) / 2, [(0, 1), (2, 9), (3, 11), (6, 13)])
    for k in (2, 3):
        X, history, _ = mds.majorize(R, rng.normal(size=(l, k)), tolerance=0.0, max_iterations=400)
        assert len(history) > 20
        assert np.all(np.diff(history) <= 1e-12 * history[0])
        assert history[-1] == pytest.approx(mds.raw_stress(X, R, np.isfinite(R) * 1.0), rel=1e-12)


def test_principal_axes_are_deterministic_and_follow_the_sounds():
    _, D = truth(11, 3, seed=4)
    noisy = D + np.random.default_rng(6).uniform(0, 0.05, D.shape)
    noisy = (noisy + noisy.T) / 2
    np.fill_diagonal(noisy, 0)
    a, b = mds.smacof(noisy, 2), mds.smacof(noisy, 2)
    np.testing.assert_array_equal(a.points, b.points)
    perm = np.random.default_rng(7).permutation(11)
    c = mds.smacof(noisy[np.ix_(perm, perm)], 2)
    np.testing.assert_allclose(c.points, a.points[perm], atol=1e-7)
    assert c.stress == pytest.approx(a.stress, rel=1e-9)
    X = a.points
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    cov = X.T @ X
    assert cov[0, 0] > cov[1, 1] and abs(cov[0, 1]) < 1e-9 * cov[0, 0]  # principal axes, largest first
    assert np.all(X[np.argmax(np.abs(X), axis=0), [0, 1]] > 0)  # the sign convention


def test_mds_refuses_what_it_cannot_place():
    with pytest.raises(DataError, match="sound 1 has no rated pair"):
        mds.smacof(unrate(truth(4, 2, 0)[1], [(0, 1), (0, 2), (0, 3)]), 2)
    with pytest.raises(DataError, match="needs 1 to 3 dimensions"):
        mds.smacof(truth(4, 2, 0)[1], 4)


# ----------------------------------------------------------------------------- Procrustes, correlations

@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_matches_scipy(reflect):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(12, 3))
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    Y = 2.5 * (X @ Q) + rng.normal(0, 0.3, X.shape) + 4.0
    if reflect:
        Y[:, 0] *= -1
    ours = align(X, Y)
    mtx1, mtx2, disparity = scipy_procrustes(X, Y)
    assert ours.disparity == pytest.approx(disparity, abs=1e-12)
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose((ours.aligned - X.mean(axis=0)) / np.linalg.norm(Xc), mtx2, atol=1e-12)
    assert align(X, 3 * X @ Q - 1).disparity < 1e-20  # a similarity of X is X's shape


def test_dimension_correlations_match_scipy():
    rng = np.random.default_rng(9)
    points, values = rng.normal(size=(15, 3)), rng.normal(size=(15, 5))
    values[:, 1] = 0.8 * points[:, 0] + rng.normal(0, 0.2, 15)
    values[:, 4] = 7.0  # constant: no correlation
    r, p = mds.dimension_correlations(points, values)
    for a in range(3):
        for j in range(4):
            ref = stats.pearsonr(points[:, a], values[:, j])
            assert r[a, j] == pytest.approx(ref.statistic, abs=1e-12)
            assert p[a, j] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert np.isnan(r[:, 4]).all() and np.isnan(p[:, 4]).all()


# ----------------------------------------------------------------------------- the analysis

NAMES = ("brightness", "attack", "noisiness", "roughness")


@pytest.fixture(scope="module")
def named_home(tmp_path_factory):
    """A private cache holding Grey1977's ratings and a named representation of random values
    ("toy", 4 columns), imported from a CSV with a header; yields (values (16, 4), sounds)."""
    if "TIMBRE_JAX_MIRROR" not in os.environ:
        pytest.skip("the offline mirror is absent")
    root = tmp_path_factory.mktemp("space")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIMBRE_JAX_HOME", str(root / "home"))
        sounds = DATASETS["Grey1977"].sounds
        values = np.random.default_rng(10).normal(size=(len(sounds), len(NAMES))) * [1.0, 10.0, 0.1, 3.0]
        path = root / "toy.csv"
        path.write_text("sound," + ",".join(NAMES) + "\n"
                        + "".join(f"{s}," + ",".join(repr(float(x)) for x in row) + "\n"
                                  for s, row in zip(sounds, values)))
        imported.import_features(path, "Grey1977", "toy")
        yield root, values, sounds


@needs_mirror
def test_space_on_grey1977_with_a_named_representation(named_home, tmp_path):
    root, values, sounds = named_home
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIMBRE_JAX_HOME", str(root / "home"))
        result = space.run(["toy"], ["Grey1977"], source="imported", descriptors="toy", progress=False)
        (st,) = result.studies
        ratings = load_ratings("Grey1977")
    assert st.sounds == sounds and st.descriptors.names == NAMES and not st.descriptors.raw
    # the human space: its stress-1 recomputed over the rated pairs, pair by pair
    for k in space.DIMENSIONS:
        X = st.human[k].points
        num = den = 0.0
        for i in range(16):
            for j in range(i + 1, 16):
                d = np.sqrt(((X[i] - X[j]) ** 2).sum())
                num, den = num + (d - ratings[i, j]) ** 2, den + d ** 2
        assert st.human[k].stress == pytest.approx(np.sqrt(num / den), rel=1e-12)
        assert 0.02 < st.human[k].stress < 0.4
    assert st.human[3].stress < st.human[2].stress  # one more dimension fits better
    # the correlations: each dimension with each descriptor, as scipy computes them
    for k in space.DIMENSIONS:
        for a in range(k):
            for j in range(len(NAMES)):
                ref = stats.pearsonr(st.human[k].points[:, a], values[:, j])
                assert st.descriptors.r[k][a, j] == pytest.approx(ref.statistic, abs=1e-12)
                assert st.descriptors.p[k][a, j] == pytest.approx(ref.pvalue, rel=1e-9)
    # the model spaces: the unweighted one is the MDS of the features' distances, aligned by Procrustes
    unweighted, learned = st.models
    assert (unweighted.label, learned.label) == ("toy unweighted", "toy learned")
    for m in st.models:
        for k in space.DIMENSIONS:
            assert m.aligned[k].disparity == pytest.approx(scipy_procrustes(st.human[k].points,
                                                                            m.spaces[k].points)[2], abs=1e-12)
    assert mds.stress1(unweighted.spaces[2].points, squareform(pdist(values))) == pytest.approx(
        unweighted.spaces[2].stress, rel=1e-12)
    # the rows of the files (the command writes them, below)
    rows = [dict(zip(space.SPACE_COLUMNS, row)) for row in space.space_rows(result)]
    assert [(r["space"], r["dims"]) for r in rows] == [(s, k) for k in (2, 3) for s in ("human", "toy unweighted",
                                                                                        "toy learned")]
    assert rows[0]["stress"] == st.human[2].stress and rows[2]["disparity"] == learned.aligned[2].disparity
    header, coords = space.coordinate_rows(result)
    assert header[-1] == "dim3" and len(coords) == 16 * 3 * 2
    assert coords[0][3:] == ["BN", *st.human[2].points[0], None] and coords[-1][3:-3] == ["X3"]
    np.testing.assert_array_equal(coords[-1][-3:], learned.aligned[3].aligned[-1])
    corr = [dict(zip(space.CORRELATION_COLUMNS, row)) for row in space.correlation_rows(result)]
    assert len(corr) == (2 + 3) * len(NAMES)
    assert (corr[1]["dims"], corr[1]["dimension"], corr[1]["descriptor"]) == (2, 1, "attack")
    assert corr[1]["pearson"] == pytest.approx(stats.pearsonr(st.human[2].points[:, 0], values[:, 1])[0], abs=1e-12)
    lines = space.summary(result)
    name, r, _ = st.descriptors.best(2, 0)
    assert f"Grey1977 2-D dim 1: {name} r = {r:+.2f}" in "\n".join(lines)


@needs_mirror
def test_space_command_end_to_end(named_home, tmp_path, capsys):
    root, _, _ = named_home
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIMBRE_JAX_HOME", str(root / "home"))
        code = cli.main(["--quiet", "space", "--datasets", "Grey1977", "--representations", "toy", "--source",
                         "imported", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "Grey1977 (16 sounds): human space stress-1" in text and "toy learned: Procrustes disparity" in text
    # no descriptors stored: one line says how to make them, and the rest goes on
    assert ("no descriptors stored for Grey1977: make them with `timbre-jax extract --representation descriptors "
            "--datasets Grey1977`") in text
    assert sorted(p.name for p in out.iterdir()) == ["coordinates.csv", "correlations.csv", "correlations_Grey1977.png",
                                                    "run.json", "space3d_Grey1977.png", "space_Grey1977.png",
                                                    "spaces.csv"]
    assert (out / "correlations.csv").read_text().strip() == ",".join(space.CORRELATION_COLUMNS)
    with open(out / "spaces.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["space"], r["dims"], r["certified"]) for r in rows] == [
        (s, k, c) for k in "23" for s, c in (("human", ""), ("toy unweighted", ""), ("toy learned", "True"))]
    human = {r["dims"]: float(r["stress"]) for r in rows if r["space"] == "human"}
    assert f"human space stress-1 {human['2']:.3f} (2-D), {human['3']:.3f} (3-D)" in text
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert (settings["representations"], settings["datasets"], settings["descriptors"]) == (
        ["toy"], ["Grey1977"], "descriptors")
