"""Comparing with the field: the rank metrics in zeroshot and evaluate, the bootstrap over
sounds, the paired comparison, the transfer matrix and the leaderboard, each against an
independent computation on real data."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from conftest import needs_mirror
from timbre_jax import Exact, cli, learn_metric
from timbre_jax.analyses import leaderboard, transfer
from timbre_jax.data import datasets
from timbre_jax.stats import bootstrap, rank_metrics, scores

pytestmark = needs_mirror


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_a_representation_compared_with_itself_gives_p_1():
    values = np.random.default_rng(0).standard_normal(1000)
    c = bootstrap.paired_comparison(values, values, 0.3, 0.3)
    assert (c["difference"], c["low"], c["high"], c["p"]) == (0.0, 0.0, 0.0, 1.0)
    better = bootstrap.paired_comparison(values + 0.5, values, 0.8, 0.3)
    assert better["p"] == 0.0 and better["low"] == pytest.approx(0.5)


def test_the_bootstrap_interval_holds_the_point_and_repeats_with_its_seed():
    fs = datasets.load("Grey1977", "cochlea", "upstream")
    study = scores.study(fs)
    point = scores.numbers(study)
    drawn = scores.samples_of("Grey1977", len(fs.sounds), 1000, seed=0)
    bounds, values = scores.intervals(study, drawn)
    again, _ = scores.intervals(study, scores.samples_of("Grey1977", len(fs.sounds), 1000, seed=0))
    other, _ = scores.intervals(study, scores.samples_of("Grey1977", len(fs.sounds), 1000, seed=1))
    assert bounds == again and bounds != other
    for key in [("euclidean", "pearson"), ("euclidean", "anchor_spearman"), ("cosine", "ndcg"), ("euclidean", "mae")]:
        low, high = bounds[key]
        assert low < point[key] < high, key
    # the point estimate is the plain Pearson of the unweighted squared distances
    i, j = np.triu_indices(len(fs.sounds), 1)
    d = ((fs.features[i] - fs.features[j]) ** 2).sum(axis=1)
    assert point[("euclidean", "pearson")] == pytest.approx(stats.pearsonr(d, fs.pairs)[0], abs=1e-12)


def test_a_bootstrap_sample_is_scored_on_its_explicit_pair_list():
    """A sample with repeated sounds: the weighted Pearson equals the Pearson over the
    pair list built by hand (copies of one sound never paired)."""
    fs = datasets.load("Grey1977", "cochlea", "upstream")
    study = scores.study(fs)
    idx = scores.samples_of("Grey1977", len(fs.sounds), 1, seed=3)[0]
    assert len(set(idx)) < len(idx)
    d, s = [], []
    D = study.matrices["euclidean"] ** 2
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            if idx[a] != idx[b]:
                d.append(D[idx[a], idx[b]])
                s.append(fs.ratings[idx[a], idx[b]])
    got = scores.numbers(study, idx)
    assert got[("euclidean", "pearson")] == pytest.approx(stats.pearsonr(d, s)[0], abs=1e-10)
    assert got[("euclidean", "spearman")] == pytest.approx(stats.spearmanr(d, s)[0], abs=1e-10)


def test_zeroshot_gains_the_rank_metrics_of_each_distance(tmp_path):
    assert cli.main(["--quiet", "zeroshot", "--representations", "cochlea", "--datasets", "Grey1977,Barthet2010",
                     "--bootstrap", "50", "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path / "zeroshot.csv")
    assert len(rows) == 4
    for row in rows:
        fs = datasets.load(row["dataset"], "cochlea", "upstream")
        want = rank_metrics.study_metrics(rank_metrics.distance_matrix(fs.features, row["distance"]), fs.ratings)
        for name in rank_metrics.METRICS:
            assert float(row[name]) == pytest.approx(want[name], abs=1e-6), (row["distance"], name)
            assert float(row[f"{name}_low"]) <= float(row[f"{name}_high"])


def test_evaluate_gains_the_rank_metrics_of_the_learned_metric_and_intervals(tmp_path):
    assert cli.main(["--quiet", "evaluate", "--representations", "encodec", "--datasets", "Grey1977",
                     "--permutations", "5", "--bootstrap", "200", "--out", str(tmp_path)]) == 0
    (row,) = _rows(tmp_path / "evaluate.csv")
    fs = datasets.load("Grey1977", "encodec", "upstream")
    best = learn_metric(fs.features, fs.ratings, solver=Exact())
    want = rank_metrics.study_metrics(rank_metrics.learned_distance_matrix(fs.features, best.weights), fs.ratings)
    for name in rank_metrics.METRICS:
        assert float(row[name]) == pytest.approx(want[name], abs=1e-6), name
    for name in ("ev_exact", "heldout_ev", "zeroshot_pearson", "anchor_spearman"):
        assert float(row[f"{name}_low"]) <= float(row[name]) <= float(row[f"{name}_high"]), name


def test_the_transfer_diagonal_is_the_exact_fit_of_each_study(tmp_path, capsys):
    names = ["Grey1977", "Grey1978", "McAdams1995"]
    result = transfer.run(["cochlea"], names)
    for k, name in enumerate(names):
        fs = datasets.load(name, "cochlea", "upstream")
        best = learn_metric(fs.features, fs.ratings, solver=Exact())
        assert result.ev[k, k] == pytest.approx(best.explained_variance, abs=1e-12)
    # an off-diagonal cell: the weights of Grey1977 on McAdams1995's pairs
    a, b = (datasets.load(n, "cochlea", "upstream") for n in ("Grey1977", "McAdams1995"))
    w = learn_metric(a.features, a.ratings, solver=Exact()).weights
    i, j = np.triu_indices(len(b.sounds), 1)
    d = ((b.features[i] - b.features[j]) ** 2) @ w ** -2.0
    rated = np.isfinite(b.pairs)
    P = np.corrcoef(d[rated], b.pairs[rated])[0, 1]
    assert result.ev[0, 2] == pytest.approx(max(P, 0) ** 2, abs=1e-9)
    assert cli.main(["--quiet", "transfer", "--representations", "cochlea", "--datasets", ",".join(names),
                     "--out", str(tmp_path)]) == 0
    assert len(_rows(tmp_path / "transfer_cochlea.csv")) == 9 and (tmp_path / "transfer_cochlea.png").stat().st_size
    two = ["--quiet", "transfer", "--representations", "cochlea,encodec", "--out", str(tmp_path / "two")]
    assert cli.main(two) == 2
    assert "give exactly one, got 2" in capsys.readouterr().err


def test_the_leaderboard_pools_as_the_benchmark_pools(tmp_path):
    names = ["Grey1977", "McAdams1995", "Barthet2010"]
    result = leaderboard.run(["cochlea", "encodec"], names, samples=100, progress=False)
    learned = {(x["representation"], x["distance"]): x for x in result.rows}
    sets = [datasets.load(n, "encodec", "upstream") for n in names]
    pairs = [(rank_metrics.distance_matrix(fs.features, "cosine"), fs.ratings) for fs in sets]
    want = rank_metrics.pooled(pairs)
    for name in rank_metrics.METRICS:
        assert learned[("encodec", "cosine")][name] == pytest.approx(want[name], abs=1e-12)
    # the anchor pooling: every anchor of every study counts once, not each study's mean
    per_anchor = np.concatenate([rank_metrics.anchor_values(d, r)["anchor_spearman"] for d, r in pairs])
    assert learned[("encodec", "cosine")]["anchor_spearman"] == pytest.approx(np.nanmean(per_anchor), abs=1e-12)
    evs = [learn_metric(fs.features, fs.ratings, solver=Exact()).explained_variance for fs in sets]
    assert learned[("encodec", "learned")]["ev_median"] == pytest.approx(np.median(evs), abs=1e-9)
    assert {c["representation_a"] + c["representation_b"] for c in result.comparisons} == {"cochleaencodec"}
    written = leaderboard.write(result, tmp_path)
    assert {p.name for p in written} >= {"leaderboard.csv", "leaderboard_studies.csv", "comparisons.csv",
                                         "leaderboard.png", "compare_Grey1977.png"}


def test_the_leaderboard_command_writes_its_files(tmp_path, capsys):
    assert cli.main(["--quiet", "leaderboard", "--representations", "cochlea", "--datasets", "Grey1977,Barthet2010",
                     "--bootstrap", "20", "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path / "leaderboard.csv")
    assert [(r["representation"], r["distance"], r["studies"]) for r in rows] == [
        ("cochlea", "euclidean", "2"), ("cochlea", "cosine", "2"), ("cochlea", "learned", "2")]
    studies = _rows(tmp_path / "leaderboard_studies.csv")
    assert len(studies) == 6 and all(float(r["ev_low"]) <= float(r["ev_high"]) for r in studies)
    assert "per study: 95% intervals from 20 bootstrap samples" in capsys.readouterr().out
