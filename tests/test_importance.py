"""The importance of named dimensions (timbre_jax.stats.importance): 1/w^2 shares by hand, the
ranking, the bootstrap against a loop of single fits, a dimension that alone explains the
ratings; `learn` on named and unnamed features; the `importance` command on two studies."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import importance, single
from timbre_jax.cli import outputs
from timbre_jax.core.aligned import AlignedPairs
from timbre_jax.core.pearson import pair_differences, pair_indices
from timbre_jax.data import datasets, imported, store
from timbre_jax.fit.learn import learn_metric
from timbre_jax.plots import importance as figures
from timbre_jax.solvers import Exact
from timbre_jax.stats import importance as imp
from timbre_jax.stats.bootstrap import resample

NAMES = ("centroid", "attack", "flux", "flatness")
UNITS = ("Hz", "log10 s", "", "")


def problem(l: int, n: int, seed: int, driver: np.ndarray | None = None, noise: float = 0.0):
    """Features (l, n) and ratings (l, l): ``driver`` (n,) given, the ratings are the squared
    distances weighted by it (plus ``noise``), rescaled to [0, 1]; else uniform noise."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(l, n))
    p = l * (l - 1) // 2
    s = rng.uniform(size=p) if driver is None else pair_differences(F) @ driver + noise * rng.normal(size=p)
    s = (s - s.min()) / (s.max() - s.min())
    R = np.full((l, l), np.nan)
    i, j = pair_indices(l)
    R[i, j] = R[j, i] = s
    return F, R


def test_importance_is_the_inverse_square_share():
    w = np.array([1.0, 2.0, 0.5, 1e15])  # 1e15: the exact solver's mark of an unused dimension
    u = np.array([1.0, 0.25, 4.0, 0.0])
    np.testing.assert_allclose(imp.importance(w), u / 5.25, rtol=0, atol=1e-15)
    assert imp.importance(w).sum() == pytest.approx(1.0, abs=1e-15)
    rows = imp.importance(np.stack([w, 3 * w, np.full(4, 1e15)]))
    np.testing.assert_allclose(rows[1], u / 5.25, atol=1e-15)  # a common factor does not change the shares
    assert np.isnan(rows[2]).all()  # nothing used: no shares
    w = np.random.default_rng(0).uniform(0.5, 3, size=7)  # the paper's solver: every weight finite
    np.testing.assert_allclose(imp.importance(w), w ** -2 / np.sum(w ** -2), atol=1e-15)


def test_ranking_descends_and_breaks_ties_by_name():
    values = np.array([0.1, 0.4, 0.1, np.nan, 0.4, 0.0])
    names = ["b", "z", "a", "n", "c", "d"]
    assert imp.ranking(values, names).tolist() == [4, 1, 2, 0, 5, 3]


def test_resample_within_keeps_each_study_in_its_block():
    np.testing.assert_array_equal(imp.resample_within([9], 5, 3), resample(9, 5, 3))
    idx = imp.resample_within([4, 6, 3], 50, 1)
    assert idx.shape == (50, 13)
    assert idx[:, :4].max() < 4 and idx[:, 4:10].min() >= 4 and idx[:, 4:10].max() < 10 and idx[:, 10:].min() >= 10
    np.testing.assert_array_equal(idx, imp.resample_within([4, 6, 3], 50, 1))
    assert not np.array_equal(idx, imp.resample_within([4, 6, 3], 50, 2))


def loop_fit(F, R, idx):
    """One exact fit on the sample idx, the resampled problem written out here."""
    l = len(idx)
    Rb = np.full((l, l), np.nan)
    for a in range(l):
        for b in range(l):
            if idx[a] != idx[b]:
                Rb[a, b] = R[idx[a], idx[b]]
    return learn_metric(F[idx], Rb, solver=Exact()).weights


@pytest.mark.parametrize("sizes", [None, [7, 9]])
def test_bootstrap_equals_a_loop_of_single_fits(sizes):
    if sizes is None:
        F, R = problem(11, 5, seed=1)
    else:  # a joint problem: two studies, the pairs across them unrated
        (F1, R1), (F2, R2) = problem(7, 5, seed=2), problem(9, 5, seed=3)
        F = np.concatenate([F1, F2])
        R = np.full((16, 16), np.nan)
        R[:7, :7], R[7:, 7:] = R1, R2
    idx, W, uncertified = imp.bootstrap_weights(F, R, samples=4, seed=5, sizes=sizes)
    assert idx.shape == (4, len(F)) and W.shape == (4, 5) and uncertified == 0
    for b in range(4):
        np.testing.assert_allclose(W[b] ** -2, loop_fit(F, R, idx[b]) ** -2, rtol=0, atol=1e-9)
    names = [f"d{k}" for k in range(5)]
    w = learn_metric(F, R, solver=Exact()).weights
    got = imp.measure(w, names, features=F, ratings=R, samples=4, seed=5, sizes=sizes)
    shares = np.array([imp.importance(loop_fit(F, R, i)) for i in idx])
    np.testing.assert_allclose(got.low, np.percentile(shares, 2.5, axis=0), atol=1e-9)
    np.testing.assert_allclose(got.high, np.percentile(shares, 97.5, axis=0), atol=1e-9)
    np.testing.assert_array_equal(got.selected, (shares > 0).mean(axis=0))
    assert got.samples == 4 and got.units == ("",) * 5


def test_one_dimension_that_explains_the_ratings_gets_all_the_importance():
    F, R = problem(14, 4, seed=4, driver=np.array([0.0, 1.0, 0.0, 0.0]), noise=0.02)
    w = learn_metric(F, R, solver=Exact()).weights
    got = imp.measure(w, NAMES, UNITS, features=F, ratings=R, samples=40, seed=0)
    assert got.value[1] > 0.97 and got.order()[0] == 1
    assert got.low[1] > 0.9 and got.high[1] <= 1.0 and got.selected[1] == 1.0
    assert got.label(1) == "attack (log10 s)" and got.label(2) == "flux"


def test_aligned_features_get_no_interval():
    p = 10
    pairs = AlignedPairs(np.ones((p, 2)), np.ones(p), np.ones((p, 2)), np.ones(p, dtype=np.int64))
    got = imp.measure(np.array([1.0, 2.0]), ["a", "b"], features=pairs, ratings=None, samples=50)
    assert np.isnan(got.low).all() and "per pair of sounds" in got.note and got.samples == 0
    np.testing.assert_allclose(got.value, [0.8, 0.2])


def test_figures_draw_the_ranked_values_and_the_studies(tmp_path, monkeypatch):
    figs = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: figs.append(fig) or path)
    F, R = problem(12, 4, seed=10, driver=np.array([0.2, 1.0, 0.0, 0.5]), noise=0.05)
    got = imp.measure(learn_metric(F, R, solver=Exact()).weights, NAMES, UNITS, features=F, ratings=R, samples=20)
    figures.plot_importance(got, tmp_path / "a.png", "desc: Mine", ev=0.5, solver="exact", source="lab")
    ax = figs[0].axes[0]
    order = got.order()
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], got.value[order])
    assert [t.get_text() for t in ax.get_yticklabels()] == [got.label(k) for k in order]
    whiskers = ax.collections[0].get_segments()
    np.testing.assert_allclose([[seg[0][0], seg[1][0]] for seg in whiskers], np.c_[got.low, got.high][order])
    values = np.random.default_rng(0).uniform(size=(figures.SHOWN + 5, 3))
    labels = [f"d{k}" for k in range(len(values))]
    figures.plot_importance_map("desc", labels, ["A", "B", "C"], values, tmp_path / "b.png",
                                reliable=values > 0.9, samples=20)
    ax = figs[1].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == labels[:figures.SHOWN]
    np.testing.assert_array_equal(ax.images[0].get_array(), values[:figures.SHOWN])
    assert len(ax.collections[0].get_offsets()) == int((values[:figures.SHOWN] > 0.9).sum())
    assert "Not shown: 5 dimensions" in figs[1].texts[-1].get_text()


def save_study(source: str, representation: str, dataset: str, F, R, names=None, units=None):
    meta = {"source": source, "representation": representation, "dataset": dataset}
    meta.update({k: list(v) for k, v in (("dimension_names", names), ("dimension_units", units)) if v is not None})
    sounds = tuple(f"{dataset}-{k:02d}" for k in range(len(F)))
    store.save(store.feature_file(source, representation, dataset), store.StoredFeatures(F, sounds, R, meta))


def test_learn_prints_and_saves_the_ranked_named_dimensions(fresh_home, tmp_path, capsys, monkeypatch):
    F, R = problem(12, 4, seed=6, driver=np.array([0.1, 1.0, 0.0, 0.3]), noise=0.05)
    header = ["sound", *NAMES]
    with open(tmp_path / "f.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([header, *[[f"s{k:02d}", *row] for k, row in enumerate(F)]])
    np.savetxt(tmp_path / "r.txt", np.nan_to_num(R))
    imported.import_features(tmp_path / "f.csv", "Mine", "desc", source="lab", ratings_file=tmp_path / "r.txt")
    out, plot = tmp_path / "w.npz", tmp_path / "w.png"
    drawn = []
    monkeypatch.setattr(single, "plot_importance", lambda *a, **k: drawn.append("ranked") or plot)
    assert cli.main(["learn", "--dataset", "Mine", "--representation", "desc", "--source", "lab", "--bootstrap",
                     "30", "--out", str(out), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    w = learn_metric(F, R, solver=Exact()).weights
    share = imp.importance(w)
    order = [k for k in imp.ranking(share, NAMES) if share[k] > 0]
    lines = [line for line in printed.splitlines() if line.strip()[:2].rstrip(".").isdigit()]
    assert [line.split()[1] for line in lines] == [NAMES[k] for k in order]
    assert f"{share[order[0]]:.3f}  [" in lines[0] and "selected in" in lines[0]
    assert drawn == ["ranked"]
    with np.load(out, allow_pickle=False) as z:
        meta = json.loads(str(z["metadata"]))
        np.testing.assert_allclose(z["weights"] ** -2 / np.sum(z["weights"] ** -2.0), share, atol=1e-12)
    assert meta["dimension_names"] == list(NAMES) and meta["bootstrap_samples"] == 30
    np.testing.assert_allclose(meta["importance"], share, atol=1e-12)
    assert all(lo <= hi for lo, hi in zip(meta["importance_low"], meta["importance_high"]))


def test_learn_on_unnamed_features_is_unchanged(fresh_home, tmp_path, capsys, monkeypatch):
    F, R = problem(10, 3, seed=7)
    save_study("lab", "plain", "Mine", F, R)
    drawn = []
    monkeypatch.setattr(single, "plot_weights", lambda *a, **k: drawn.append("map") or tmp_path / "m.png")
    monkeypatch.setattr(single, "plot_importance", lambda *a, **k: drawn.append("ranked"))
    assert cli.main(["learn", "--dataset", "Mine", "--representation", "plain", "--source", "lab",
                     "--out", str(tmp_path / "w.npz"), "--plot", str(tmp_path / "m.png")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("plain on Mine (exact): explained variance") and printed[1].startswith("solver:")
    assert printed[2:] == [f"weights -> {tmp_path / 'w.npz'}", f"weight map -> {tmp_path / 'm.png'}"]
    assert drawn == ["map"]
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:
        assert not {"dimension_names", "importance"} & set(json.loads(str(z["metadata"])))


def test_importance_command_on_two_studies(fresh_home, tmp_path, capsys):
    studies = {"A": problem(10, 4, seed=8, driver=np.array([1.0, 0.2, 0.0, 0.0]), noise=0.05),
               "B": problem(12, 4, seed=9, driver=np.array([0.0, 1.0, 0.0, 0.5]), noise=0.05)}
    for name, (F, R) in studies.items():
        save_study("lab", "desc", name, F, R, NAMES, UNITS)
        save_study("lab", "plain", name, F, R)
    out = tmp_path / "out"
    assert cli.main(["importance", "--representations", "desc,plain", "--datasets", "A,B", "--source", "lab",
                     "--bootstrap", "10", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped plain: its features have no dimension names (A, B)" in printed
    with open(out / "importance.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and {r["representation"] for r in rows} == {"desc"}
    tops = []
    for name, (F, R) in studies.items():
        share = imp.importance(learn_metric(F, R, solver=Exact()).weights)
        tops.append({NAMES[k] for k in imp.ranking(share, NAMES)[:3] if share[k] > 0})
        mine = [r for r in rows if r["dataset"] == name]
        assert [r["dimension"] for r in mine] == [NAMES[k] for k in imp.ranking(share, NAMES)]
        for r in mine:
            k = NAMES.index(r["dimension"])
            assert float(r["importance"]) == pytest.approx(share[k], abs=1e-6) and r["unit"] == UNITS[k]
        top = ", ".join(f"{NAMES[k]} {share[k]:.2f}" for k in imp.ranking(share, NAMES)[:3] if share[k] > 0)
        assert top.split(",")[0] in printed
    with open(out / "importance_desc_wide.csv") as fh:
        wide = list(csv.reader(fh))
    assert wide[0] == ["dimension", "unit", "A", "B", "median"] and len(wide) == 5
    medians = [float(r[4]) for r in wide[1:]]
    assert medians == sorted(medians, reverse=True)
    assert (out / "importance_desc.png").stat().st_size > 0
    assert outputs.written_names(importance.WRITES) == ["importance.csv", "importance_*_wide.csv", "importance_*.png"]
    both = tops[0] & tops[1]
    assert both  # attack drives both studies
    across = next(line for line in printed.splitlines() if "across the 2 studies, in the top 3 most often" in line)
    assert across.count("(2 of 2 studies") == len(both) and all(f"{d} (2 of 2 studies" in across for d in both)


@needs_mirror
@pytest.mark.slow  # real studies: the 128 cochlea channels named, 200 refits per study and a joint learn
def test_real_studies_named_cochlea(fresh_home, tmp_path, capsys):
    sets = {d: datasets.load(d, "cochlea", "upstream") for d in ("Grey1977", "McAdams1995")}
    names = [f"band{k:03d}" for k in range(128)]
    for d, fs in sets.items():
        with open(tmp_path / f"{d}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([["sound", *names], *[[s, *row] for s, row in zip(fs.sounds, fs.features)]])
        imported.import_features(tmp_path / f"{d}.csv", d, "named", source="lab")
    out = tmp_path / "out"
    assert cli.main(["importance", "--representations", "named", "--datasets", "Grey1977,McAdams1995",
                     "--source", "lab", "--out", str(out)]) == 0
    with open(out / "importance.csv") as fh:
        rows = list(csv.DictReader(fh))
    for d, fs in sets.items():
        share = imp.importance(learn_metric(fs.features, fs.ratings, solver=Exact()).weights)
        mine = {r["dimension"]: r for r in rows if r["dataset"] == d}
        np.testing.assert_allclose([float(mine[n]["importance"]) for n in names], share, atol=1e-6)
        low = np.array([float(mine[n]["low"]) for n in names])
        high = np.array([float(mine[n]["high"]) for n in names])
        selected = np.array([float(mine[n]["selected"]) for n in names])
        assert np.all((0 <= low) & (low <= high) & (high <= 1)) and np.all((0 <= selected) & (selected <= 1))
        assert selected[np.argmax(share)] > 0.2  # the point fit's main band is used on many samples
    capsys.readouterr()
    assert cli.main(["learn", "--datasets", "Grey1977,McAdams1995", "--representation", "named", "--source", "lab",
                     "--bootstrap", "50"]) == 0
    assert "95% interval over 50 bootstrap samples" in capsys.readouterr().out
