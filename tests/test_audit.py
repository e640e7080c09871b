"""Audit of the upstream features: stft row matching, zero-shot and null side by side."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import audit
from timbre_jax.core.pearson import pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.stats import unweighted

# A known relabelling of 12 sounds with exactly 3 fixed points (rows 0, 5 and 9).
PERM = np.array([0, 3, 7, 1, 11, 5, 2, 10, 4, 9, 6, 8])


def _scrambled(rng, noise=1e-6, offset=0.0):
    """Our features X (12, 40) and 'upstream' rows: row i is sound PERM[i], scaled by a
    positive factor, shifted, with a little noise."""
    X = rng.gamma(2.0, size=(12, 40))
    scale = rng.uniform(0.01, 100.0, size=(12, 1))
    return X, scale * X[PERM] + offset + noise * rng.standard_normal(X.shape)


def test_row_correlations_are_pearson_of_each_pair_of_rows():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 9)), rng.standard_normal((3, 9))
    want = np.corrcoef(a, b)[:4, 4:]
    np.testing.assert_allclose(audit.row_correlations(a, b), want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="different lengths: 9 and 8"):
        audit.row_correlations(a, b[:, :8])


@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_matching_recovers_a_known_permutation_under_scale_and_noise(offset):
    X, up = _scrambled(np.random.default_rng(0), offset=offset)
    perm, r = audit.match_rows(up, X)
    np.testing.assert_array_equal(perm, PERM)
    assert int(np.sum(perm == np.arange(12))) == 3  # rows 0, 5, 9
    assert r.min() > 0.999999
    # Re-pairing puts upstream row i at sound PERM[i]: each row is again a scaled copy of ours.
    back = audit.repaired(up - offset, perm)
    ratio = back / X
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones((1, 40)), rtol=1e-4)


def test_matching_is_not_fooled_by_a_greedy_trap():
    """Row 0 correlates best with sound 0, but the one-to-one optimum gives sound 0 to row 1."""
    ours = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    up = np.array([[1.0, 0.9, 0, 0], [1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    perm, _ = audit.match_rows(up, ours)
    np.testing.assert_array_equal(perm, [1, 0, 2])


def test_match_stft_counts_own_positions_and_scores_the_repaired_rows():
    rng = np.random.default_rng(3)
    X, up = _scrambled(rng, noise=0.0)
    l = len(X)
    i, j = pair_indices(l)
    pairs = rng.uniform(0, 1, len(i))
    pairs[[2, 17]] = np.nan
    ratings = np.full((l, l), np.nan)
    ratings[i, j] = ratings[j, i] = pairs
    sounds = tuple(f"s{k}" for k in range(l))
    m = audit.match_stft(FeatureSet("D", "stft", up, ratings, sounds), FeatureSet("D", "stft", X, ratings, sounds))
    assert m.own_position == 3 and m.median_r == pytest.approx(1.0, abs=1e-12)
    # Cosine ignores each row's scale, so the re-paired rows score exactly as ours do.
    keep = np.isfinite(pairs)
    nx = np.linalg.norm(X, axis=1)
    cos = 1 - np.sum(X[i] * X[j], axis=1) / (nx[i] * nx[j])
    p = np.corrcoef(cos[keep], pairs[keep])[0, 1]
    assert m.repaired_cosine_p2 == pytest.approx(np.sign(p) * p ** 2, abs=1e-12)
    rows = m.rows()
    assert rows[1] == ["D", 1, "s3", "s1", pytest.approx(1.0)]
    assert sum(r[2] == r[3] for r in rows) == 3


@needs_mirror
def test_cli_audit_writes_the_header_and_real_numbers(tmp_path, capsys):
    assert cli.main(["--quiet", "data", "audit", "--representations", "encodec", "--datasets", "Grey1977",
                     "--permutations", "9", "--out", str(tmp_path)]) == 0
    with open(tmp_path / "audit.csv") as fh:
        lines = list(csv.DictReader(fh))
    with open(tmp_path / "audit.csv") as fh:
        header = fh.readline().strip().split(",")
    assert header[:8] == ["representation", "dataset", "source", "zeroshot_euclidean_p2", "zeroshot_cosine_p2",
                          "observed_ev", "null_median", "p_value"]
    (row,) = lines  # no extracted encodec in the store: upstream only
    assert (row["representation"], row["dataset"], row["source"]) == ("encodec", "Grey1977", "upstream")
    from timbre_jax.data import datasets

    fs = datasets.load("Grey1977", "encodec")
    keep = np.isfinite(fs.pairs)
    p = np.corrcoef(unweighted.distances(fs.features)["euclidean"][keep], fs.pairs[keep])[0, 1]
    assert float(row["zeroshot_euclidean_p2"]) == pytest.approx(np.sign(p) * p ** 2, abs=1e-6)
    assert round(float(row["p_value"]) * 10, 6) in {float(k) for k in range(1, 11)}  # (1 + k) / 10
    assert 0 <= float(row["null_median"]) <= 1 and 0 <= float(row["observed_ev"]) <= 1
    text = capsys.readouterr().out
    assert "evidence, not proof" in text and "--checkpoint PATH" in text
    assert "encodec: no extracted features to compare with; `timbre-jax extract --representation encodec " \
           "--checkpoint PATH" in text
    assert not (tmp_path / "stft_matching.csv").exists()


@needs_mirror
def test_cli_audit_says_how_to_extract_stft_when_it_is_absent(fresh_home, tmp_path, capsys):
    assert cli.main(["--quiet", "data", "audit", "--representations", "stft", "--datasets", "Patil2012_A3",
                     "--permutations", "3", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "run `timbre-jax extract --representation stft`" in text
    assert (tmp_path / "audit.csv").exists() and not (tmp_path / "stft_matching.csv").exists()
