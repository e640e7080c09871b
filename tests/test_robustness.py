"""Noise model, areas, the batched sweep (equal to one problem at a time) and resume."""

from __future__ import annotations

import hashlib
from dataclasses import fields, replace

import numpy as np
import pytest

import timbre_jax  # noqa: F401
from conftest import needs_mirror
from timbre_jax import cli, datasets, robustness, sweep
from timbre_jax.learn import DEFAULT, learn_metric
from timbre_jax.pearson import pearson


def test_the_sweep_fingerprint_holds_every_option():
    """A resumed run must have the same settings: each field of the options changes the key."""
    g = sweep.Group("x", np.arange(6.0).reshape(3, 2), np.ones((1, 3)), np.ones((1, 3)))
    key = sweep.fingerprint([g], DEFAULT)
    assert sweep.fingerprint([g], replace(DEFAULT)) == key != sweep.fingerprint([g], DEFAULT, "exact")
    other = dict(maxiter=5, maxls=7, history=3, ftol=1e-9, gtol=1e-9, restart_on_stagnation=False,
                 invariant_sums=True, lower=2.0, upper=1e3)
    assert set(other) == {f.name for f in fields(DEFAULT)}
    for name, value in other.items():
        assert sweep.fingerprint([g], replace(DEFAULT, **{name: value})) != key, name


def test_levels_are_the_papers():
    np.testing.assert_allclose(robustness.levels(), np.logspace(-1, 1, 9))


def test_noise_is_deterministic_clipped_and_scaled():
    s = np.linspace(0, 1, 120)
    xi = robustness.noise(0, "Grey1977", 3, 2, 120)
    np.testing.assert_array_equal(xi, robustness.noise(0, "Grey1977", 3, 2, 120))
    assert not np.array_equal(xi, robustness.noise(1, "Grey1977", 3, 2, 120))
    assert not np.array_equal(xi, robustness.noise(0, "Grey1978", 3, 2, 120))
    # the documented generator: PCG64 seeded by (seed, crc32(name), level, realization)
    import zlib
    ref = np.random.Generator(np.random.PCG64([0, zlib.crc32(b"Grey1977"), 3, 2])).standard_normal(120)
    np.testing.assert_array_equal(xi, ref)
    y = robustness.degrade(s, 10.0, xi)
    assert y.min() == 0.0 and y.max() == 1.0 and np.all((y >= 0) & (y <= 1))
    small = robustness.degrade(s[1:-1], 1e-3, xi[1:-1])
    np.testing.assert_allclose(small, s[1:-1] + 1e-3 * xi[1:-1])
    big = robustness.noise(0, "x", 0, 0, 200_000)
    assert abs(big.std() - 1) < 0.01 and abs(big.mean()) < 0.01


def test_area_on_curves_with_known_integrals():
    d = np.logspace(-1, 1, 9)
    assert robustness.area(np.ones(9), d) == pytest.approx(2.0)
    assert robustness.area(np.linspace(1, 0, 9), d) == pytest.approx(1.0)  # a line: exact
    x = np.log10(d)
    # trapezoid of a parabola: the integral 2/3 plus the rule's known error (b - a) h^2 f'' / 12
    assert robustness.area(x ** 2, d) == pytest.approx(2 / 3 + 2 * 0.25 ** 2 * 2 / 12, abs=1e-12)
    assert robustness.relative_db(1.0, 10.0) == pytest.approx(-10.0)


def _sets():
    return [datasets.load("Grey1977", "encodec"), datasets.load("Barthet2010", "encodec")]


@needs_mirror
def test_sweep_batched_equals_one_problem_at_a_time():
    sets = _sets()
    # 30 iterations: long enough to test the batching (shared D, padding, row order),
    # short enough that the last-bit rounding differences XLA still makes between batched
    # and solo small linear algebra have not been amplified by the optimizer (README).
    rows = robustness.sweep(sets, n_levels=3, realizations=2, seed=0, maxiter=30, progress=False)
    assert len(rows) == 2 * 3 * 2
    deltas = robustness.levels(3)
    for fs in sets:
        group = robustness.make_group(fs, deltas, 2, 0)
        for k in range(group.K):
            alone = learn_metric(fs.features, group.ratings[k], maxiter=30)
            row = [r for r in rows if r.dataset == fs.dataset][k]
            assert row.ev_degraded == pytest.approx(alone.explained_variance, abs=1e-9)
            # explained variance is P^2 for P > 0 and 0 otherwise (anti-correlated distances,
            # which heavy noise can teach, explain none of the human ratings)
            ev_h = max(float(pearson(np.asarray(group.D), alone.weights, fs.pairs, np.ones(len(fs.pairs)))), 0) ** 2
            assert row.ev_human == pytest.approx(ev_h, abs=1e-9)


@needs_mirror
def test_more_noise_does_not_help():
    sets = _sets()
    rows = robustness.sweep(sets, n_levels=3, realizations=2, seed=0, maxiter=500, progress=False)
    for fs in sets:
        ev = {d: np.mean([r.ev_human for r in rows if r.dataset == fs.dataset and r.delta == d])
              for d in robustness.levels(3)}
        assert ev[10.0] <= ev[0.1]


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


@needs_mirror
def test_interrupted_sweep_resumes_to_identical_files(tmp_path, monkeypatch, capsys):
    args = ["--quiet", "robustness", "--representations", "encodec", "--datasets",
            "Grey1977,Barthet2010", "--levels", "3", "--realizations", "2",
            "--maxiter", "200", "--chunk-groups", "1"]
    full = tmp_path / "full"
    assert cli.main(args + ["--out", str(full)]) == 0
    # interrupt a second run after its first chunk
    part = tmp_path / "part"
    real = sweep._solve_chunk
    calls = {"n": 0}

    def dying(groups, options, solver):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(groups, options, solver)

    monkeypatch.setattr(sweep, "_solve_chunk", dying)
    assert cli.main(args + ["--out", str(part)]) == 130
    assert sorted(p.name for p in (part / "chunks" / "encodec").glob("chunk_*.npz")) == ["chunk_0000.npz"]
    assert not list(part.rglob("*.part"))
    # resume: only the missing chunk is solved
    solved = []
    monkeypatch.setattr(sweep, "_solve_chunk", lambda g, o, s: solved.append(g) or real(g, o, s))
    assert cli.main(args + ["--out", str(part)]) == 0
    assert len(solved) == 1
    assert _digest(full) == _digest(part)
    # the saved chunk holds the same arrays (the zip's timestamps may differ, not its contents)
    with np.load(full / "chunks" / "encodec" / "chunk_0001.npz") as a, \
            np.load(part / "chunks" / "encodec" / "chunk_0001.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
    for name in ["robustness.csv", "auc.csv", "fig1b.png", "fig1a_Grey1977.png"]:
        assert (part / name).exists()
    header = (part / "robustness.csv").read_text().splitlines()[0]
    assert header == "representation,dataset,delta,delta_over_bar,realization,ev_human,ev_degraded,iterations,converged"
    out = capsys.readouterr().out
    assert "need stmf on the same dataset" in out  # no stmf in this run: the dB cells stay empty
    auc = (part / "auc.csv").read_text().splitlines()
    assert auc[0] == "representation,dataset,auc,auc_std,rel_auc_db" and auc[1].endswith(",")


@needs_mirror
def test_resume_refuses_a_different_run(tmp_path):
    base = ["--quiet", "robustness", "--representations", "encodec", "--datasets", "Patil2012_A3",
            "--levels", "2", "--realizations", "1", "--maxiter", "50", "--out", str(tmp_path)]
    assert cli.main(base) == 0
    assert cli.main(base[:-2] + ["--seed", "1", "--out", str(tmp_path)]) == 1


def test_area_heatmap_without_stmf_shows_areas_not_an_empty_figure(tmp_path):
    import matplotlib.image as mpimg

    from timbre_jax import report

    auc = {("encodec", "A"): {"auc": 0.5, "rel_auc_db": float("nan")},
           ("cochlea", "A"): {"auc": 1.5, "rel_auc_db": float("nan")}}
    path = report.plot_area_heatmap(auc, ["A"], ["encodec", "cochlea"], tmp_path / "fig1b.png")
    img = mpimg.imread(path)[..., :3]
    # the two area cells are coloured (viridis), not left white as NaN dB cells would be
    assert (img.std(axis=-1) > 0.1).mean() > 0.05
