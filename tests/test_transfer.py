"""Transfer across studies (timbre_jax.analyses.transfer): the matrix against direct computations,
a metric that transfers against one that cannot, unrated pairs, and the mirror's data."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import timbre_jax
from conftest import needs_mirror
from timbre_jax.analyses import transfer
from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.errors import UsageError


def study(name: str, features: np.ndarray, pairs: np.ndarray) -> FeatureSet:
    """A FeatureSet from features (l, n) and condensed ratings (p,), NaN = unrated."""
    l = len(features)
    ratings = np.full((l, l), np.nan)
    i, j = pair_indices(l)
    ratings[i, j] = ratings[j, i] = pairs
    return FeatureSet(name, "synthetic", features, ratings, tuple(f"{name}-{k}" for k in range(l)))


def random_study(name: str, l: int, n: int, seed: int) -> FeatureSet:
    rng = np.random.default_rng(seed)
    return study(name, rng.normal(size=(l, n)), rng.uniform(size=l * (l - 1) // 2))


def generated_study(name: str, l: int, w0: np.ndarray, seed: int) -> FeatureSet:
    """Noise-free ratings of a fixed weighting w0 of the features: s = D w0^-2, rescaled to [0, 1]."""
    features = np.random.default_rng(seed).normal(size=(l, len(w0)))
    d = pair_differences(features) @ w0 ** -2.0
    return study(name, features, (d - d.min()) / (d.max() - d.min()))


def direct_ev(learned_on: FeatureSet, scored_on: FeatureSet) -> float:
    """EV_AB by hand: the exact weights of A, np.corrcoef over B's rated pairs, clipped at 0, squared."""
    w = timbre_jax.learn_metric(learned_on.features, learned_on.ratings, solver=timbre_jax.Exact()).weights
    rated = np.isfinite(scored_on.pairs)
    d = pair_differences(scored_on.features)[rated] @ w ** -2.0
    return max(np.corrcoef(d, scored_on.pairs[rated])[0, 1], 0.0) ** 2


def test_matrix_against_direct_computation():
    sets = [random_study(f"S{k}", l, 5, seed=k) for k, l in enumerate((9, 11, 10))]
    names, ev, zeroshot = transfer.matrix(sets)
    assert names == ["S0", "S1", "S2"] and ev.shape == (3, 3) and zeroshot.shape == (3,)
    for k, fs in enumerate(sets):
        fit = timbre_jax.learn_metric(fs.features, fs.ratings, solver=timbre_jax.Exact())
        assert ev[k, k] == pytest.approx(fit.explained_variance, abs=1e-12)
    for a, b in [(0, 1), (2, 0), (1, 2)]:
        assert ev[a, b] == pytest.approx(direct_ev(sets[a], sets[b]), abs=1e-10)
    for b, fs in enumerate(sets):
        P = np.corrcoef(pair_differences(fs.features).sum(axis=1), fs.pairs)[0, 1]
        assert zeroshot[b] == pytest.approx(max(P, 0.0) ** 2, abs=1e-12)
    # the diagonal is each column's optimum: no metric learned elsewhere does better on B
    assert np.all(ev <= np.diag(ev)[None] + 1e-12)


def test_shared_weighting_transfers_and_random_ratings_do_not():
    w0 = np.random.default_rng(7).uniform(0.3, 3.0, size=8)
    a = generated_study("A", 14, w0, seed=1)
    b = generated_study("B", 12, w0, seed=2)  # other sounds, the same weighting
    c = random_study("C", 13, 8, seed=3)  # unrelated random ratings
    _, ev, zeroshot = transfer.matrix([a, b, c])
    assert ev[0, 0] > 1 - 1e-9 and ev[1, 1] > 1 - 1e-9  # noise-free: the fit is perfect
    assert ev[0, 1] > 0.99 and ev[1, 0] > 0.99  # ... and so is the transfer
    assert ev[0, 1] > zeroshot[1] + 0.05 and ev[1, 0] > zeroshot[0] + 0.05  # better than no fit
    assert ev[2, 0] < 0.5 and ev[2, 1] < 0.5  # the metric of random ratings does not carry over
    assert ev[0, 2] < 0.2 and ev[1, 2] < 0.2  # nor explains random ratings
    result = transfer.result_of("synthetic", ["A", "B", "C"], ev, zeroshot)
    assert result.row_transfer_median[0] == pytest.approx(np.median([ev[0, 1], ev[0, 2]]))
    assert result.transfer_median == pytest.approx(np.median(ev[~np.eye(3, dtype=bool)]))
    assert result.in_sample_median == pytest.approx(np.median(np.diag(ev)))


def test_unrated_pairs_of_the_scored_study_are_left_out():
    a = random_study("A", 10, 4, seed=11)
    full = random_study("B", 11, 4, seed=12)
    pairs = full.pairs.copy()
    unrated = np.random.default_rng(13).choice(len(pairs), size=20, replace=False)
    pairs[unrated] = np.nan
    b = study("B", full.features, pairs)
    _, ev, _ = transfer.matrix([a, b])
    assert np.all(np.isfinite(ev))
    assert ev[0, 1] == pytest.approx(direct_ev(a, b), abs=1e-10)
    # ... which differs from scoring every pair (the unrated ones set to anything)
    filled = study("B", full.features, np.where(np.isnan(pairs), 1.0, pairs))
    assert abs(direct_ev(a, filled) - ev[0, 1]) > 1e-3
    # and the diagonal is B's own fit on its rated pairs
    assert ev[1, 1] == pytest.approx(
        timbre_jax.learn_metric(b.features, b.ratings, solver=timbre_jax.Exact()).explained_variance, abs=1e-12)


def test_studies_must_share_the_feature_space():
    with pytest.raises(timbre_jax.errors.DataError, match="same feature space.*S0 5, S1 6"):
        transfer.matrix([random_study("S0", 8, 5, seed=0), random_study("S1", 8, 6, seed=1)])


def test_run_refuses_other_than_one_representation():
    with pytest.raises(UsageError, match="give exactly one, got 2 \\(cochlea, stft\\)"):
        transfer.run(["cochlea", "stft"], ["Grey1977", "Grey1978"], progress=False)
    with pytest.raises(UsageError, match="give exactly one, got none"):
        transfer.run([], ["Grey1977", "Grey1978"], progress=False)


@needs_mirror
def test_run_refuses_a_single_study():
    with pytest.raises(UsageError, match=r"at least 2 studies with upstream cochlea features; found 1 \(Grey1977\)"):
        transfer.run(["cochlea"], ["Grey1977"], progress=False)


@needs_mirror
def test_run_on_the_mirror(tmp_path):
    studies = ["Grey1977", "Grey1978", "McAdams1995"]
    result = transfer.run(["cochlea"], studies, progress=False)
    assert result.representation == "cochlea" and result.datasets == studies and result.skipped == []
    assert result.ev.shape == (3, 3) and result.zeroshot.shape == (3,)
    for k, name in enumerate(studies):
        fs = timbre_jax.data.datasets.load(name, "cochlea", "upstream")
        fit = timbre_jax.learn_metric(fs.features, fs.ratings, solver=timbre_jax.Exact())
        assert result.ev[k, k] == pytest.approx(fit.explained_variance, abs=1e-12)
    assert np.all((result.ev >= 0) & (result.ev <= 1))
    paths = transfer.write(result, tmp_path)
    assert [p.name for p in paths] == ["transfer_cochlea.csv", "transfer_cochlea.png"]
    with open(paths[0]) as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["learned_on", "scored_on", "ev", "zeroshot_ev_of_scored", "in_sample", "certified"]
    assert len(rows) == 1 + 9
    assert [r[:2] for r in rows[1:4]] == [["Grey1977", s] for s in studies]
    assert [r[4] for r in rows[1:]] == [str(i == j) for i in range(3) for j in range(3)]
    assert float(rows[2][2]) == pytest.approx(result.ev[0, 1], abs=1e-6)
    assert float(rows[2][3]) == pytest.approx(result.zeroshot[1], abs=1e-6)
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].stat().st_size > 10_000
    lines = transfer.summary(result)
    assert lines[0].startswith("cochlea: median in-sample EV") and len(lines) == 1 + 3
