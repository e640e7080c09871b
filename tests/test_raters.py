"""The raters analysis: metrics learned on the mean of half the listeners, scored on the
other half and on all, against fits of half means built by hand; the splits' draws; the
noise of a mean in delta units against a loop; the study that cannot be split."""

from __future__ import annotations

import statistics
import zlib

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import raters
from timbre_jax.core.aligned import AlignedPairs
from timbre_jax.data import datasets
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.data.participants import Participants
from timbre_jax.errors import DataError
from timbre_jax.fit.learn import learn_metric
from timbre_jax.plots.raters import mark_noise, plot_raters
from timbre_jax.solvers import Exact
from timbre_jax.stats import halves


def _panel(seed: int, m: int, l: int, unrated: float = 0.0, noise: float = 0.1) -> Participants:
    """m listeners rating l sounds: distances of a weighted metric of 4 random features
    (those of :func:`_features` with the same ``seed``) mapped to [0.2, 0.8], plus each
    listener's noise of standard deviation ``noise``, clipped to [0, 1]; each listener
    leaves a fraction ``unrated`` of the pairs out."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(l, 4))
    d = (((F[:, None] - F[None]) ** 2) * np.array([1.0, 0.5, 0.2, 0.05])).sum(axis=-1)
    truth = 0.2 + 0.6 * d / d.max()
    ratings = np.clip(truth + rng.normal(0, noise, size=(m, l, l)), 0, 1)
    ratings = (ratings + ratings.transpose(0, 2, 1)) / 2
    i, j = np.triu_indices(l, 1)
    for who in range(m):
        left = rng.uniform(size=len(i)) < unrated
        ratings[who, i[left], j[left]] = ratings[who, j[left], i[left]] = np.nan
        ratings[who][np.diag_indices(l)] = np.nan
    counts = np.isfinite(ratings).astype(np.int64)
    return Participants(tuple(f"L{k}" for k in range(m)), ratings, counts, np.zeros((0, 2)), np.full(m, np.nan))


def _features(seed: int, panel: Participants, name: str = "Hand") -> FeatureSet:
    """The 4 features behind :func:`_panel` of the same ``seed``."""
    l = panel.ratings.shape[1]
    F = np.random.default_rng(seed).normal(size=(l, 4))
    return FeatureSet(name, "hand", F, panel.mean(), tuple(f"s{k}" for k in range(l)))


def _ev(d: np.ndarray, target: np.ndarray) -> float:
    """P^2 of distances and ratings over the pairs the ratings give (0 for P <= 0)."""
    rated = np.isfinite(target)
    P = np.corrcoef(d[rated], target[rated])[0, 1]
    return max(P, 0.0) ** 2


def _mean_by_hand(panel: Participants, members) -> np.ndarray:
    """Condensed mean ratings (p,) of the listeners ``members`` (indices), pair by pair."""
    l = panel.ratings.shape[1]
    out = []
    for i in range(l):
        for j in range(i + 1, l):
            given = [panel.ratings[k, i, j] for k in members if np.isfinite(panel.ratings[k, i, j])]
            out.append(sum(given) / len(given) if given else np.nan)
    return np.array(out)


def test_splits_are_the_documented_draws():
    """PCG64 seeded by (seed, CRC-32 of the name), one permutation per split, its first
    m // 2 in half A: the first k of 100 splits are those of a run of k."""
    found = halves.splits(0, "Lakatos2000_Comb", 17, 100)
    rng = np.random.Generator(np.random.PCG64([0, zlib.crc32(b"Lakatos2000_Comb")]))
    for row in found:
        assert set(np.flatnonzero(row)) == set(rng.permutation(17)[:8])
    np.testing.assert_array_equal(halves.splits(0, "Lakatos2000_Comb", 17, 10), found[:10])
    assert not np.array_equal(halves.splits(0, "Lakatos2000_Harm", 17, 100), found)
    assert not np.array_equal(halves.splits(1, "Lakatos2000_Comb", 17, 100), found)
    assert len({row.tobytes() for row in found}) > 95  # C(17, 8) = 24310 halves: few repeats


def test_noise_level_is_the_median_standard_error_written_out():
    panel = _panel(3, 7, 6, unrated=0.3)
    in_a = halves.splits(0, "x", 7, 5)
    l = 6
    per_split, full = [], []
    for row in in_a:
        errors = []
        for i in range(l):
            for j in range(i + 1, l):
                values = [panel.ratings[k, i, j] for k in range(7) if np.isfinite(panel.ratings[k, i, j])]
                in_half = sum(1 for k in np.flatnonzero(row) if np.isfinite(panel.ratings[k, i, j]))
                if len(values) > 1 and in_half:
                    errors.append(statistics.stdev(values) / in_half ** 0.5)
        per_split.append(statistics.median(errors))
    for i in range(l):
        for j in range(i + 1, l):
            values = [panel.ratings[k, i, j] for k in range(7) if np.isfinite(panel.ratings[k, i, j])]
            if len(values) > 1:
                full.append(statistics.stdev(values) / len(values) ** 0.5)
    assert halves.noise_level(panel.pairs, in_a) == pytest.approx(statistics.median(per_split), abs=1e-14)
    assert halves.noise_level(panel.pairs) == pytest.approx(statistics.median(full), abs=1e-14)
    # every pair rated by all: a half's noise is the panel's times sqrt(m / (m // 2))
    complete = _panel(4, 9, 5)
    ratio = halves.noise_level(complete.pairs, halves.splits(0, "y", 9, 3)) / halves.noise_level(complete.pairs)
    assert ratio == pytest.approx((9 / 4) ** 0.5, rel=1e-12)


def test_every_split_equals_learn_metric_on_the_half_mean_built_by_hand():
    """The batched group of splits, against one learn_metric per split on the mean of
    half A written out pair by pair, scored on half B's and the panel's means by hand;
    listeners leave pairs unrated, so the halves' masks differ."""
    panel = _panel(0, 7, 9, unrated=0.25, noise=0.3)
    fs = _features(0, panel)
    rows, resumed = raters.rater_sweep([fs], {"Hand": panel}, Exact(), count=6, seed=2, progress=False)
    assert resumed == 0 and len(rows) == 6
    i, j = np.triu_indices(9, 1)
    D = (fs.features[i] - fs.features[j]) ** 2
    full = _mean_by_hand(panel, range(7))
    for row, in_a in zip(rows, halves.splits(2, "Hand", 7, 6)):
        a, b = np.flatnonzero(in_a), np.flatnonzero(~in_a)
        assert row.half_a == " ".join(f"L{k}" for k in a) and len(a) == 3
        mean_a = _mean_by_hand(panel, a)
        alone = learn_metric(fs.features, mean_a, solver=Exact())
        d = D @ alone.weights ** -2.0
        assert row.ev_a == pytest.approx(alone.explained_variance, abs=1e-9)
        assert row.ev_a == pytest.approx(_ev(d, mean_a), abs=1e-9)
        assert row.ev_b == pytest.approx(_ev(d, _mean_by_hand(panel, b)), abs=1e-9)
        assert row.ev_full == pytest.approx(_ev(d, full), abs=1e-9)
        assert row.converged
    # the features behind the ratings explain a good part of them: no comparison of zeros
    assert min(r.ev_b for r in rows) > 0.2 and min(r.ev_full for r in rows) > 0.2


def test_splits_do_not_depend_on_the_other_studies_and_resume(tmp_path):
    panel, other = _panel(0, 6, 8), _panel(5, 9, 7)
    fs, fo = _features(0, panel, name="A"), _features(5, other, name="B")
    alone, _ = raters.rater_sweep([fs], {"A": panel}, Exact(), count=4, progress=False)
    both, _ = raters.rater_sweep([fo, fs], {"A": panel, "B": other}, Exact(), count=4, directory=tmp_path,
                                 progress=False)
    assert [r for r in both if r.dataset == "A"] == alone
    again, resumed = raters.rater_sweep([fo, fs], {"A": panel, "B": other}, Exact(), count=4,
                                        directory=tmp_path, progress=False)
    assert resumed == 8 and again == both


def test_a_frame_aligned_representation_is_fit_by_its_pair_differences():
    panel = _panel(6, 6, 7)
    rng = np.random.default_rng(7)
    p = 21
    aligned = AlignedPairs(rng.uniform(0.1, 2.0, size=(p, 3)), rng.normal(size=p), rng.uniform(1, 2, size=(p, 2)),
                           np.full(p, 5, dtype=np.int64))
    fs = FeatureSet("Frames", "aligned", aligned, panel.mean(), tuple(f"s{k}" for k in range(7)))
    rows, _ = raters.rater_sweep([fs], {"Frames": panel}, Exact(), count=3, progress=False)
    for row, in_a in zip(rows, halves.splits(0, "Frames", 6, 3)):
        mean_a = _mean_by_hand(panel, np.flatnonzero(in_a))
        alone = learn_metric(aligned, mean_a, solver=Exact())
        d = aligned.squares @ alone.weights ** -2.0
        assert row.ev_a == pytest.approx(alone.explained_variance, abs=1e-9)
        assert row.ev_b == pytest.approx(_ev(d, _mean_by_hand(panel, np.flatnonzero(~in_a))), abs=1e-9)


def test_a_study_that_cannot_be_split_says_why(monkeypatch):
    one = _panel(0, 1, 5)
    monkeypatch.setattr(datasets, "participants", lambda name, **kw: {"Solo": one}.get(name), raising=False)
    monkeypatch.setattr(datasets, "no_participants_reason", lambda name: f"{name}: only its mean ratings",
                        raising=False)
    assert raters.why_not("Solo", one) == "1 participant: halves need at least two"
    assert raters.why_not("Solo", _panel(0, 2, 5)) is None
    with pytest.raises(DataError, match=r"no study to split into halves of listeners \(Solo: 1 participant: "
                                         r"halves need at least two; Grey1977: only its mean ratings\)"):
        raters.run(["encodec"], ["Solo", "Grey1977"], splits=3, progress=False)
    sparse = _panel(1, 2, 4)
    sparse.ratings[0][np.isfinite(sparse.ratings[0])] = np.nan
    sparse.ratings[0][0, 1] = sparse.ratings[0][1, 0] = sparse.ratings[0][2, 3] = sparse.ratings[0][3, 2] = 0.5
    with pytest.raises(DataError, match="Hand: half A of split 0 rated 2 pairs; a fit needs 3 or more"):
        raters.make_group(_features(1, sparse), sparse, np.array([[True, False]]))
    lines = raters.unsplit_lines([("Solo", "1 participant: halves need at least two"),
                                  ("Grey1977", "only its mean ratings"), ("Grey1978", "only its mean ratings")])
    assert lines == ["skipped Solo: 1 participant: halves need at least two",
                     "skipped Grey1977, Grey1978: only its mean ratings"]


@needs_mirror
def test_lakatos_through_the_command_line(tmp_path, capsys):
    """The built-in per-participant study, two representations, a few splits: one row per
    split, the summary's medians and the noise levels against the rows and a loop."""
    out = tmp_path / "out"
    assert cli.main(["--quiet", "raters", "--representations", "encodec,cochlea", "--datasets",
                     "Lakatos2000_Comb,Grey1977", "--splits", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "skipped Grey1977: only its mean ratings were published" in printed
    assert "Lakatos2000_Comb: 17 participants, halves of 8 and 9" in printed
    assert printed.count("/Lakatos2000_Comb: EV on the other half") == 2
    rows = (out / "raters.csv").read_text().splitlines()
    assert rows[0] == "representation,dataset,split,half_a,ev_a,ev_b,ev_full,iterations,converged"
    assert len(rows) == 1 + 2 * 5
    summary = [line.split(",") for line in (out / "raters_summary.csv").read_text().splitlines()]
    head = summary[0]
    encodec = dict(zip(head, summary[1]))
    ev_b = [float(r.split(",")[5]) for r in rows[1:] if r.startswith("encodec,")]
    assert float(encodec["ev_b_median"]) == pytest.approx(np.median(ev_b), abs=1e-6)
    panel = datasets.participants("Lakatos2000_Comb")
    sd = np.std(panel.pairs, axis=0, ddof=1)
    assert float(encodec["delta_full"]) == pytest.approx(np.median(sd) / 17 ** 0.5, abs=1e-6)
    assert float(encodec["delta_half"]) == pytest.approx(np.median(sd) / 8 ** 0.5, abs=1e-6)
    assert float(encodec["delta_bar"]) == pytest.approx(0.1 * 34 ** 0.5, abs=1e-6)
    assert (out / "raters_Lakatos2000_Comb.png").stat().st_size > 10_000


def test_the_noise_mark_and_the_figure(tmp_path):
    import matplotlib.image as mpimg

    from timbre_jax.plots.style import pyplot

    fig, ax = pyplot().subplots()
    line = mark_noise(ax, 0.065, "measured noise of a half's mean")
    assert list(line.get_xdata()) == [0.065, 0.065] and line.get_label() == "measured noise of a half's mean"
    assert mark_noise(ax, float("nan"), "unknown") is None and len(ax.lines) == 1
    pyplot().close(fig)
    panel = _panel(0, 6, 8)
    rows, _ = raters.rater_sweep([_features(0, panel)], {"Hand": panel}, Exact(), count=5, progress=False)
    path = plot_raters(rows, "Hand", tmp_path / "r.png", participants=6, half_a=3, delta_half=0.05,
                       representations=["hand", "clap"])
    img = mpimg.imread(path)[..., :3]
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.4)  # the boxes of half B (C0)
    orange = (img[..., 0] > 0.9) & (img[..., 2] < 0.4)  # the boxes of the full mean (C1)
    assert blue.sum() > 50 and orange.sum() > 10
