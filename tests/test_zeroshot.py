"""Zero-shot alignment: unweighted distances against the ratings, no fit."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import zeroshot
from timbre_jax.stats import unweighted

# Four sounds, three features; pairs in condensed order (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
F = np.array([[1.0, 0.0, 2.0],
              [0.0, 1.0, 1.0],
              [2.0, 2.0, 0.0],
              [1.0, 3.0, 1.0]])
# Pair (1,3) unrated: it must not count.
S = np.array([0.2, 0.9, 0.5, 0.4, np.nan, 0.7])


def _by_hand():
    """The distances written out pair by pair."""
    eu = np.array([1 + 1 + 1, 1 + 4 + 4, 0 + 9 + 1, 4 + 1 + 1, 1 + 4 + 0, 1 + 1 + 1], dtype=float)
    n = np.sqrt([5.0, 2.0, 8.0, 11.0])
    dots = np.array([0 + 0 + 2, 2 + 0 + 0, 1 + 0 + 2, 0 + 2 + 0, 0 + 3 + 1, 2 + 6 + 0], dtype=float)
    norms = np.array([n[0] * n[1], n[0] * n[2], n[0] * n[3], n[1] * n[2], n[1] * n[3], n[2] * n[3]])
    return eu, 1 - dots / norms


def test_alignment_matches_a_hand_computation_and_skips_unrated_pairs():
    eu, cos = _by_hand()
    got = unweighted.distances(F)
    np.testing.assert_allclose(got["euclidean"], eu, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["cosine"], cos, rtol=0, atol=1e-12)
    keep = np.isfinite(S)
    res = unweighted.alignment(F, S)
    assert set(res) == {"euclidean", "cosine"}
    for name, d in (("euclidean", eu), ("cosine", cos)):
        p, rho = res[name]
        assert p == pytest.approx(np.corrcoef(d[keep], S[keep])[0, 1], abs=1e-12)
        assert rho == pytest.approx(stats.spearmanr(d[keep], S[keep]).statistic, abs=1e-12)
    # Hand values for the record: euclidean distances over rated pairs 3, 9, 10, 6, 3.
    assert res["euclidean"][1] == pytest.approx(stats.pearsonr([1.5, 4, 5, 3, 1.5], [1, 5, 3, 2, 4])[0])
    # Were the unrated pair counted with any rating, the answer would move.
    assert abs(res["cosine"][0] - unweighted.alignment(F, np.nan_to_num(S, nan=0.0))["cosine"][0]) > 0.2
    assert abs(res["euclidean"][0] - unweighted.alignment(F, np.nan_to_num(S, nan=0.9))["euclidean"][0]) > 0.1


def test_alignment_refuses_wrong_shapes_and_too_few_pairs():
    with pytest.raises(ValueError, match="expected \\(6,\\)"):
        unweighted.alignment(F, S[:5])
    with pytest.raises(ValueError, match="2 rated pairs"):
        unweighted.alignment(F, np.array([0.1, 0.2, np.nan, np.nan, np.nan, np.nan]))


def test_signed_p2_and_medians():
    assert unweighted.signed_p2(-0.5) == -0.25 and unweighted.signed_p2(0.3) == pytest.approx(0.09)
    rows = [("a", "D1", "cosine", 0.1, 0.0), ("a", "D2", "cosine", -0.4, 0.2), ("a", "D3", "cosine", 0.3, 0.4),
            ("a", "D4", "cosine", float("nan"), float("nan"))]
    (p, p2, rho, n), = zeroshot.medians(rows).values()
    assert (p, rho, n) == (pytest.approx(0.1), pytest.approx(0.2), 3)
    assert p2 == pytest.approx(0.01)


@needs_mirror
def test_cli_writes_the_exact_header_and_real_correlations(tmp_path, capsys):
    assert cli.main(["--quiet", "zeroshot", "--representations", "clap", "--datasets", "Grey1977",
                     "--out", str(tmp_path)]) == 0
    with open(tmp_path / "zeroshot.csv") as fh:
        lines = list(csv.reader(fh))
    assert lines[0][:10] == ["representation", "dataset", "distance", "pearson", "spearman", "anchor_spearman",
                             "anchor_kendall", "triplet_agreement", "ndcg", "mae"]
    assert lines[0][10:12] == ["pearson_low", "pearson_high"] and len(lines[0]) == 24
    assert [row[:3] for row in lines[1:]] == [["clap", "Grey1977", "euclidean"], ["clap", "Grey1977", "cosine"]]
    from timbre_jax.data import datasets

    fs = datasets.load("Grey1977", "clap")
    eu, s = unweighted.distances(fs.features)["euclidean"], fs.pairs
    keep = np.isfinite(s)
    assert float(lines[1][3]) == pytest.approx(np.corrcoef(eu[keep], s[keep])[0, 1], abs=1e-6)
    assert "clap       euclidean" in capsys.readouterr().out


def test_similarities_given_as_dissimilarities_are_flagged():
    """1 - s of a study's ratings anti-correlates with every representation: warned once, by
    name; the true ratings, or one representation that agrees, give no warning."""
    found = [("mine", "stft", -0.45), ("mine", "mfcc", -0.31), ("other", "stft", -0.5), ("other", "mfcc", 0.1)]
    (line,) = unweighted.similarity_warnings(found)
    assert "ratings of mine anti-correlate" in line and "-0.45 to -0.31" in line and "--similarity" in line
    assert unweighted.similarity_warnings([("mine", "stft", -0.19), ("mine", "mfcc", float("nan"))]) == []
