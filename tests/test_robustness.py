"""Noise model, areas, the batched sweep (equal to one problem at a time) and resume."""

from __future__ import annotations

import hashlib
from dataclasses import fields

import numpy as np
import pytest

import timbre_jax  # noqa: F401
from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import robustness
from timbre_jax.core.pearson import pearson
from timbre_jax.data import datasets
from timbre_jax.fit import resume, sweep
from timbre_jax.fit.learn import learn_metric
from timbre_jax.solvers import Exact, Lbfgsb
from timbre_jax.solvers.batch import Group
from timbre_jax.stats import degradation


class _Stop(Exception):
    pass


def _chunk_name(groups, solver, directory, monkeypatch) -> str:
    """The file name :func:`sweep.solve` saves the first chunk of ``groups`` under, read
    where it asks for the chunk (nothing is solved)."""
    asked = []

    def cached(file, compute):
        asked.append(file.name)
        raise _Stop

    with monkeypatch.context() as m:
        m.setattr(resume, "cached", cached)
        with pytest.raises(_Stop):
            sweep.solve(groups, solver, directory=directory, progress=False)
    return asked[0]


def test_the_chunk_file_name_holds_every_option_and_the_data(tmp_path, monkeypatch):
    """A chunk is read back only by a run with the same settings and data: each option of
    the solver, the solver itself, the group's name and each of its arrays changes the name."""
    g = Group(np.arange(6.0).reshape(3, 2), np.ones((1, 3)), np.ones((1, 3)), "x")
    key = _chunk_name([g], Lbfgsb(), tmp_path, monkeypatch)
    assert key.startswith("chunk-") and key.endswith(".npz")
    assert _chunk_name([g], Lbfgsb(maxiter=10_000), tmp_path, monkeypatch) == key
    assert _chunk_name([g], Exact(), tmp_path, monkeypatch) != key
    other = dict(maxiter=5, maxls=7, memory=3, ftol=1e-9, gtol=1e-9, bounds=(2.0, 1e3), restart_on_stagnation=False,
                 invariant_sums=True, lockstep=True, init="random", seed=1, starts=2)
    assert set(other) == {f.name for f in fields(Lbfgsb)}
    for name, value in other.items():
        assert _chunk_name([g], Lbfgsb(**{name: value}), tmp_path, monkeypatch) != key, name
    exact = _chunk_name([g], Exact(), tmp_path, monkeypatch)
    other = dict(working_set=8, max_passes=3, max_steps=4, lockstep=True)
    assert set(other) == {f.name for f in fields(Exact)}
    for name, value in other.items():
        assert _chunk_name([g], Exact(**{name: value}), tmp_path, monkeypatch) != exact, name
    changed = [Group(g.D, g.ratings, g.mask, "y"), Group(g.D + 1, g.ratings, g.mask, "x"),
               Group(g.D, g.ratings / 2, g.mask, "x"), Group(g.D, g.ratings, np.array([[1.0, 0.0, 1.0]]), "x")]
    for h in changed:
        assert _chunk_name([h], Lbfgsb(), tmp_path, monkeypatch) != key


def test_levels_are_the_papers():
    np.testing.assert_allclose(degradation.levels(), np.logspace(-1, 1, 9))


def test_noise_is_deterministic_clipped_and_scaled():
    s = np.linspace(0, 1, 120)
    xi = degradation.noise(0, "Grey1977", 3, 2, 120)
    np.testing.assert_array_equal(xi, degradation.noise(0, "Grey1977", 3, 2, 120))
    assert not np.array_equal(xi, degradation.noise(1, "Grey1977", 3, 2, 120))
    assert not np.array_equal(xi, degradation.noise(0, "Grey1978", 3, 2, 120))
    # the documented generator: PCG64 seeded by (seed, crc32(name), level, realization)
    import zlib
    ref = np.random.Generator(np.random.PCG64([0, zlib.crc32(b"Grey1977"), 3, 2])).standard_normal(120)
    np.testing.assert_array_equal(xi, ref)
    y = degradation.degrade(s, 10.0, xi)
    assert y.min() == 0.0 and y.max() == 1.0 and np.all((y >= 0) & (y <= 1))
    small = degradation.degrade(s[1:-1], 1e-3, xi[1:-1])
    np.testing.assert_allclose(small, s[1:-1] + 1e-3 * xi[1:-1])
    big = degradation.noise(0, "x", 0, 0, 200_000)
    assert abs(big.std() - 1) < 0.01 and abs(big.mean()) < 0.01


def test_area_on_curves_with_known_integrals():
    d = np.logspace(-1, 1, 9)
    assert degradation.area(np.ones(9), d) == pytest.approx(2.0)
    assert degradation.area(np.linspace(1, 0, 9), d) == pytest.approx(1.0)  # a line: exact
    x = np.log10(d)
    # trapezoid of a parabola: the integral 2/3 plus the rule's known error (b - a) h^2 f'' / 12
    assert degradation.area(x ** 2, d) == pytest.approx(2 / 3 + 2 * 0.25 ** 2 * 2 / 12, abs=1e-12)
    assert degradation.relative_db(1.0, 10.0) == pytest.approx(-10.0)


def _sets():
    return [datasets.load("Grey1977", "encodec"), datasets.load("Barthet2010", "encodec")]


@needs_mirror
@pytest.mark.slow  # real data, 24 L-BFGS-B fits twice: ~20 s; test_learn's sequential case stays in the default run
def test_sweep_batched_equals_one_problem_at_a_time():
    sets = _sets()
    # 30 iterations: long enough to test the batching (shared D, padding, row order),
    # short enough that the last-bit rounding differences XLA still makes between batched
    # and solo small linear algebra have not been amplified by the optimizer (README).
    rows, _ = robustness.noise_sweep(sets, Lbfgsb(maxiter=30), n_levels=3, realizations=2, seed=0, progress=False)
    assert len(rows) == 2 * 3 * 2
    deltas = degradation.levels(3)
    for fs in sets:
        group = degradation.make_group(fs, deltas, 2, 0)
        for k in range(group.K):
            alone = learn_metric(fs.features, group.ratings[k], solver=Lbfgsb(maxiter=30))
            row = [r for r in rows if r.dataset == fs.dataset][k]
            assert row.ev_degraded == pytest.approx(alone.explained_variance, abs=1e-9)
            # explained variance is P^2 for P > 0 and 0 otherwise (anti-correlated distances,
            # which heavy noise can teach, explain none of the human ratings)
            ev_h = max(float(pearson(np.asarray(group.D), alone.weights, fs.pairs, np.ones(len(fs.pairs)))), 0) ** 2
            assert row.ev_human == pytest.approx(ev_h, abs=1e-9)


@needs_mirror
def test_more_noise_does_not_help():
    sets = _sets()
    rows, _ = robustness.noise_sweep(sets, Lbfgsb(maxiter=500), n_levels=3, realizations=2, seed=0, progress=False)
    for fs in sets:
        ev = {d: np.mean([r.ev_human for r in rows if r.dataset == fs.dataset and r.delta == d])
              for d in degradation.levels(3)}
        assert ev[10.0] <= ev[0.1]


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def _chunks(folder):
    return sorted(p.name for p in folder.glob("chunk-*.npz"))


@needs_mirror
def test_interrupted_sweep_resumes_to_identical_files(tmp_path, monkeypatch, capsys):
    args = ["--quiet", "robustness", "--representations", "encodec", "--datasets",
            "Grey1977,Barthet2010", "--levels", "3", "--realizations", "2",
            "--solver", "lbfgsb", "--maxiter", "200", "--chunk-groups", "1"]
    full = tmp_path / "full"
    assert cli.main(args + ["--out", str(full)]) == 0
    saved = _chunks(full / "chunks" / "encodec")
    assert len(saved) == 2  # one chunk per dataset
    # interrupt a second run after its first chunk
    part = tmp_path / "part"
    real = Lbfgsb.solve
    calls = {"n": 0}

    def dying(solver, groups):
        if calls["n"] == 1:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(solver, groups)

    monkeypatch.setattr(Lbfgsb, "solve", dying)
    assert cli.main(args + ["--out", str(part)]) == 130
    first = _chunks(part / "chunks" / "encodec")
    assert len(first) == 1 and first[0] in saved
    assert not list(part.rglob("*.part"))
    # resume: only the missing chunk is solved
    solved = []
    monkeypatch.setattr(Lbfgsb, "solve", lambda solver, g: solved.append(g) or real(solver, g))
    assert cli.main(args + ["--out", str(part)]) == 0
    assert len(solved) == 1
    assert _digest(full) == _digest(part)
    # the same chunk files, holding the same arrays (the zip's timestamps may differ, not its contents)
    assert _chunks(part / "chunks" / "encodec") == saved
    for name in saved:
        with np.load(full / "chunks" / "encodec" / name) as a, np.load(part / "chunks" / "encodec" / name) as b:
            assert sorted(a.files) == sorted(b.files)
            for field in a.files:
                np.testing.assert_array_equal(a[field], b[field])
    for name in ["robustness.csv", "auc.csv", "fig1b.png", "fig1a_Grey1977.png"]:
        assert (part / name).exists()
    header = (part / "robustness.csv").read_text().splitlines()[0]
    assert header == "representation,dataset,delta,delta_over_bar,realization,ev_human,ev_degraded,iterations,converged"
    out = capsys.readouterr().out
    assert "need stmf on the same dataset" in out  # no stmf in this run: the dB cells stay empty
    auc = (part / "auc.csv").read_text().splitlines()
    assert auc[0] == "representation,dataset,auc,auc_std,rel_auc_db,unconverged,converged"
    assert auc[1].split(",")[4] == ""


@needs_mirror
def test_a_different_run_in_the_same_folder_is_refused_and_the_same_run_resumes(tmp_path, capsys):
    """Another seed in the same --out is refused (the --out rule) and leaves the first
    run's chunks alone; the same run again reads every chunk back and writes the same
    files."""
    base = ["--quiet", "robustness", "--representations", "encodec", "--datasets", "Patil2012_A3",
            "--levels", "2", "--realizations", "1", "--solver", "lbfgsb", "--maxiter", "50"]
    shared, fresh = tmp_path / "shared", tmp_path / "fresh"
    chunks = shared / "chunks" / "encodec"
    assert cli.main(base + ["--out", str(shared)]) == 0
    seed0 = _chunks(chunks)
    assert len(seed0) == 1
    assert cli.main(base + ["--seed", "1", "--out", str(shared)]) == 2
    assert _chunks(chunks) == seed0
    assert cli.main(base + ["--seed", "1", "--out", str(fresh)]) == 0
    chunks = fresh / "chunks" / "encodec"
    assert len(_chunks(chunks)) == 1 and _chunks(chunks) != seed0
    capsys.readouterr()
    # the same run again: nothing solved, no chunk rewritten, the same CSV bytes
    mtimes = {p.name: p.stat().st_mtime_ns for p in chunks.glob("*.npz")}
    before = _digest(fresh)
    assert cli.main(base + ["--seed", "1", "--out", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert "encodec: 2 fits" in out and "(2 resumed from saved chunks)" in out
    assert {p.name: p.stat().st_mtime_ns for p in chunks.glob("*.npz")} == mtimes
    assert _digest(fresh) == before


def test_area_heatmap_without_stmf_shows_areas_not_an_empty_figure(tmp_path):
    import matplotlib.image as mpimg

    from timbre_jax.plots.robustness import plot_area_heatmap

    auc = {("encodec", "A"): {"auc": 0.5, "rel_auc_db": float("nan")},
           ("cochlea", "A"): {"auc": 1.5, "rel_auc_db": float("nan")}}
    path = plot_area_heatmap(auc, ["A"], ["encodec", "cochlea"], tmp_path / "fig1b.png")
    img = mpimg.imread(path)[..., :3]
    # the two area cells are coloured (viridis), not left white as NaN dB cells would be
    assert (img.std(axis=-1) > 0.1).mean() > 0.05
