"""Your own study, your own sounds, your own embedder: `data add`, `extract --embedder/--hear`,
`evaluate`, on data that is not built in."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import soundfile as sf

from conftest import SR_FILE
from timbre_jax import cli
from timbre_jax.data import studies
from timbre_jax.solvers import Exact

SAITIS = Path(__file__).resolve().parents[1].parent / "shared" / "studies" / "Saitis2020_e2set1_general"
needs_saitis = pytest.mark.skipif(not SAITIS.is_dir(), reason=f"{SAITIS} is absent")

# A numpy embedder written for these tests only, independent of the package: log energies
# of 8 bands of 1024-sample frames (frames, 8); the package averages the frames.
EMBEDDER = '''
import numpy as np

EDGES = np.geomspace(40, 16000, 9)


def band_energies(audio, sample_rate):
    n = 1024
    frames = audio[: len(audio) // n * n].reshape(-1, n).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    bands = [spectrum[:, (freqs >= a) & (freqs < b)].sum(axis=1) for a, b in zip(EDGES[:-1], EDGES[1:])]
    return np.log10(np.stack(bands, axis=1) + 1e-9)
'''

HEAR = '''
import numpy as np
import torch


class Model:
    sample_rate = 16000


def load_model(model_file_path=""):
    return Model()


def get_scene_embeddings(audio, model):
    spectrum = torch.fft.rfft(audio, dim=1).abs() ** 2
    edges = [0, 40, 120, 300, 700, 1500, 3000, 6000, spectrum.shape[1]]
    return torch.stack([torch.log10(spectrum[:, a:b].sum(dim=1) + 1e-9) for a, b in zip(edges[:-1], edges[1:])], 1)
'''


def band_energies_reference(path: Path) -> np.ndarray:
    """The embedder above, computed here from the file (soundfile, channel mean)."""
    namespace: dict = {}
    exec(EMBEDDER, namespace)
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return namespace["band_energies"](x.mean(axis=1), sr).mean(axis=0)


def nnls_ev(features: np.ndarray, ratings: np.ndarray) -> float:
    """max_w P^2 as scipy computes it: R^2 of an NNLS of the rated pairs on the squared
    feature differences with a free intercept (a +1 and a -1 column)."""
    i, j = np.triu_indices(len(features), 1)
    s = ratings[i, j]
    rated = np.isfinite(s)
    D = ((features[i] - features[j]) ** 2)[rated]
    s = s[rated]
    A = np.hstack([D, np.ones((len(s), 1)), -np.ones((len(s), 1))])
    x, _ = scipy.optimize.nnls(A, s, maxiter=50 * A.shape[1])
    return 1 - np.sum((A @ x - s) ** 2) / np.sum((s - s.mean()) ** 2)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["--quiet", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def tones(folder: Path, names, suffix=".wav") -> list[Path]:
    """One tone per name (sound k at 200 Hz * 2**(k/5)), 0.25 s at 44.1 kHz."""
    paths = []
    for k, name in enumerate(names):
        path = folder / f"{name}{suffix}"
        fmt = {".wav": "WAV", ".aiff": "AIFF", ".flac": "FLAC"}[suffix]
        t = np.arange(int(0.25 * SR_FILE)) / SR_FILE
        x = 0.3 * np.sin(2 * np.pi * 200 * 2 ** (k / 5) * t) * np.hanning(len(t))
        x = x + 0.1 * np.sin(2 * np.pi * 3 * 200 * 2 ** (k / 5) * t) * (k % 3)
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), x, SR_FILE, format=fmt, subtype="PCM_16")
        paths.append(path)
    return paths


def ratings_matrix(l: int, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed).uniform(0.05, 0.95, size=(l, l))
    r = np.round((r + r.T) / 2, 6)
    np.fill_diagonal(r, 0.0)
    return r


def write_matrix(path: Path, m: np.ndarray) -> Path:
    np.savetxt(path, m, fmt="%.6f")
    return path


def nothing_left(home: Path) -> bool:
    """No study folder, finished or temporary, in the cache."""
    root = home / "studies"
    return not root.exists() or not any(root.iterdir())


# ----------------------------------------------------------------------------- data add


@needs_saitis
def test_add_list_verify_remove_the_saitis_study(fresh_home, capsys):
    code, out, _ = run_cli(capsys, "data", "add", "Saitis2020", "--audio", str(SAITIS / "audio"),
                           "--ratings", str(SAITIS / "ratings.txt"))
    assert code == 0, out
    assert "14 sounds, 91 of 91 pairs rated" in out
    study = studies.load("Saitis2020")
    assert study.sounds[0] == "Sim01_BCL" and study.sounds[-1] == "Sim14_VLP"
    m = np.loadtxt(SAITIS / "ratings.txt")
    assert np.isnan(study.ratings[0, 0])  # the self-pair rating 0.016 is not a pair
    assert study.ratings[0, 1] == study.ratings[1, 0] == m[0, 1] == 0.334292325
    manifest = json.loads((fresh_home / "studies" / "Saitis2020" / "study.json").read_text())
    assert len(manifest["audio"]) == 14 and all(len(v["sha256"]) == 64 for v in manifest["audio"].values())
    assert run_cli(capsys, "data", "list")[1].count("Saitis2020: 14 sounds, 91 rated pairs") == 1
    assert run_cli(capsys, "data", "verify")[1].count("your studies: checked 1, 0 damaged") == 1

    # A changed copy is found by its sha256.
    (fresh_home / "studies" / "Saitis2020" / "audio" / "Sim05_HRN.aiff").write_bytes(b"changed")
    code, out, _ = run_cli(capsys, "data", "verify")
    assert code == 1 and "Sim05_HRN.aiff: changed since `data add`" in out

    code, out, _ = run_cli(capsys, "data", "remove", "Saitis2020")
    assert code == 0 and nothing_left(fresh_home)
    code, _, err = run_cli(capsys, "data", "remove", "Saitis2020")
    assert code == 2 and "no study named 'Saitis2020'" in err  # a usage error


def _study_with(tmp_path, mutate=None, names=("a1", "b2", "c3", "d4")):
    audio = tmp_path / "in" / "audio"
    tones(audio, names)
    ratings = write_matrix(tmp_path / "in" / "ratings.txt", ratings_matrix(len(names)))
    if mutate:
        mutate(audio, ratings)
    return audio, ratings


def _truncate(audio, _):
    path = audio / "b2.wav"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _zero_bytes(audio, _):
    (audio / "c3.wav").write_bytes(b"")


def _garbage(audio, _):
    (audio / "c3.wav").write_bytes(b"RIFF not really a wave file" * 20)


def _extra_file(audio, _):
    tones(audio, ["zz9"])


def _asymmetric(_, ratings):
    m = ratings_matrix(4)
    m[2, 1] += 0.25
    write_matrix(ratings, m)


def _negative(_, ratings):
    m = ratings_matrix(4)
    m[0, 3] = m[3, 0] = -0.2
    write_matrix(ratings, m)


def _unrated(_, ratings):
    write_matrix(ratings, np.full((4, 4), np.nan))


@pytest.mark.parametrize("mutate,expected", [
    (_truncate, "b2.wav: truncated: the header promises 11025 sample frames, the file holds"),
    (_zero_bytes, "c3.wav: the file is empty (0 bytes)"),
    (_garbage, "c3.wav: cannot read audio"),
    (_extra_file, "4 rows but 5 audio files (a1, b2, c3, d4, zz9)"),
    (_asymmetric, "ratings.txt"),
    (_negative, "ratings.txt"),
    (_unrated, "no rated pair"),
])
def test_bad_input_is_one_line_exit_1_and_nothing_written(tmp_path, fresh_home, capsys, mutate, expected):
    audio, ratings = _study_with(tmp_path, mutate)
    code, out, err = run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))
    assert code == 1, out
    assert err.count("\n") == 1 and expected in err, err
    assert nothing_left(fresh_home)


@pytest.mark.parametrize("name,expected", [
    ("Grey1977", "'Grey1977' is a built-in dataset"),
    ("../escape", "invalid study name '../escape'"),
    ("a/b", "invalid study name 'a/b'"),
])
def test_a_name_that_is_built_in_or_not_plain_is_refused(tmp_path, fresh_home, capsys, name, expected):
    audio, ratings = _study_with(tmp_path)
    code, _, err = run_cli(capsys, "data", "add", name, "--audio", str(audio), "--ratings", str(ratings))
    assert code == 2 and expected in err  # the name is to change: a usage error
    assert nothing_left(fresh_home) and not (tmp_path / "escape").exists()


def test_a_name_equal_up_to_case_to_a_dataset_or_a_study_is_refused(tmp_path, fresh_home, capsys):
    audio, ratings = _study_with(tmp_path)
    code, _, err = run_cli(capsys, "data", "add", "grey1977", "--audio", str(audio), "--ratings", str(ratings))
    assert code == 2 and err == ("timbre-jax: error: 'grey1977' differs only in case from the built-in dataset "
                                 "Grey1977; give another name\n")
    assert nothing_left(fresh_home)
    assert run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    code, _, err = run_cli(capsys, "data", "add", "MINE", "--audio", str(audio), "--ratings", str(ratings))
    assert code == 2 and "'MINE' differs only in case from the study Mine" in err
    assert studies.names() == ["Mine"]
    features = tmp_path / "features.csv"
    features.write_text("".join(f"{s},{k},{k * k}\n" for k, s in enumerate(("a1", "b2", "c3", "d4"))))
    code, _, err = run_cli(capsys, "data", "import", str(features), "--dataset", "GREY1977", "--representation", "r",
                           "--ratings", str(ratings))
    assert code == 2 and "'GREY1977' differs only in case from the built-in dataset Grey1977" in err
    assert not (fresh_home / "features").exists()
    # a new name that is no other's in any case is imported
    code, _, err = run_cli(capsys, "data", "import", str(features), "--dataset", "Other", "--representation", "r",
                           "--ratings", str(ratings))
    assert code == 0, err


def test_data_list_shows_your_studies_first_and_missing_features_in_one_line(tmp_path, fresh_home, capsys):
    audio, ratings = _study_with(tmp_path)
    assert run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    code, out, err = run_cli(capsys, "data", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:2] == ["your studies (`timbre-jax data add`):",
                         "  Mine: 4 sounds, 6 rated pairs; features: none yet (`timbre-jax extract --representation R "
                         "--datasets Mine`)"]
    assert lines.index("built-in datasets:") > 1 and lines[lines.index("built-in datasets:") + 2].startswith("Grey1977")
    (missing,) = [line for line in lines if "missing" in line]  # an empty cache: all 8 x 17 upstream files
    assert missing.startswith("missing upstream features: 136 files (stft: 17 datasets, cochlea: 17 datasets, ")
    assert "stft/Grey1977" not in out and "fetch them with `timbre-jax data fetch`" in missing
    assert sum("Mine" in line for line in lines) == 1


def test_too_few_sounds_and_a_second_add_are_refused(tmp_path, fresh_home, capsys):
    audio, ratings = _study_with(tmp_path, names=("a1", "b2"))
    code, _, err = run_cli(capsys, "data", "add", "Two", "--audio", str(audio), "--ratings", str(ratings))
    assert code == 1 and "2 sound(s); a metric needs at least 3 sounds" in err
    audio, ratings = _study_with(tmp_path / "ok")
    assert run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    code, _, err = run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))
    assert code == 2 and "already added" in err and "data remove Mine" in err  # a usage error


def test_an_interrupted_add_leaves_nothing(tmp_path, fresh_home, monkeypatch):
    audio, ratings = _study_with(tmp_path)
    calls = []

    def interrupted(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return shutil.copy2(src, dst)

    monkeypatch.setattr(shutil, "copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        studies.add("Mine", audio, ratings)
    assert nothing_left(fresh_home)


# ----------------------------------------------------------------------------- extract and evaluate


def _embedder_file(tmp_path) -> Path:
    path = tmp_path / "bands.py"
    path.write_text(EMBEDDER)
    return path


def _evaluate_rows(out: Path) -> list[dict]:
    with open(out / "evaluate.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_renamed_shuffled_study_with_a_labelled_csv_gives_the_same_optimum(tmp_path, fresh_home, capsys):
    """The same sounds under other names, in another order, with the ratings permuted to
    match and given as a labelled CSV, must give the same exact EV (to 1e-9)."""
    names = [f"s{k:02d}" for k in range(9)]
    audio, ratings = _study_with(tmp_path, names=names)
    m = ratings_matrix(len(names))
    m[1, 4] = m[4, 1] = np.nan  # one unrated pair
    write_matrix(ratings, m)
    new_names = [f"Snd_{c}" for c in "QWERTYUIO"]  # sorted order differs from the original order
    shuffled = tmp_path / "renamed"
    shuffled.mkdir()
    for old, new in zip(names, new_names):
        shutil.copyfile(audio / f"{old}.wav", shuffled / f"{new}.wav")
    order = np.random.default_rng(1).permutation(len(names))
    with open(tmp_path / "renamed.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", *(new_names[k] for k in order)])
        for a in order:
            w.writerow([new_names[a], *("nan" if np.isnan(m[a, b]) else f"{m[a, b]:.6f}" for b in order)])
    spec = f"{_embedder_file(tmp_path)}:band_energies"
    assert run_cli(capsys, "data", "add", "Orig", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    assert run_cli(capsys, "data", "add", "Renamed", "--audio", str(shuffled),
                   "--ratings", str(tmp_path / "renamed.csv"))[0] == 0
    code, out, err = run_cli(capsys, "extract", "--embedder", spec, "--name", "bands", "--datasets", "Orig,Renamed")
    assert code == 0, err
    code, out, err = run_cli(capsys, "learn", "--dataset", "Orig", "--representation", "bands", "--solver", "exact")
    assert code == 0, err
    ev = {}
    for name in ("Orig", "Renamed"):
        from timbre_jax.data import datasets
        from timbre_jax.fit import learn

        fs = datasets.load(name, "bands", "extracted")
        ev[name] = learn.learn_metric(fs.features, fs.ratings, solver=Exact()).explained_variance
    assert abs(ev["Orig"] - ev["Renamed"]) < 1e-9
    assert f"explained variance {ev['Orig']:.4f}" in out
    assert 0.05 < ev["Orig"] < 1.0  # a real fit, not a degenerate one


@needs_saitis
def test_saitis_with_an_independent_embedder_equals_scipy_nnls(tmp_path, fresh_home, capsys):
    assert run_cli(capsys, "data", "add", "Saitis2020", "--audio", str(SAITIS / "audio"),
                   "--ratings", str(SAITIS / "ratings.txt"))[0] == 0
    spec = f"{_embedder_file(tmp_path)}:band_energies"
    code, _, err = run_cli(capsys, "extract", "--embedder", spec, "--name", "bands", "--datasets", "Saitis2020")
    assert code == 0, err
    out = tmp_path / "ev"
    code, printed, err = run_cli(capsys, "evaluate", "--datasets", "Saitis2020", "--representations", "bands",
                                 "--permutations", "19", "--out", str(out))
    assert code == 0, err
    (row,) = _evaluate_rows(out)
    assert (row["dataset"], row["representation"], row["source"]) == ("Saitis2020", "bands", "extracted")
    assert (row["sounds"], row["pairs"], row["dims"]) == ("14", "91", "8")
    features = np.stack([band_energies_reference(p) for p in sorted((SAITIS / "audio").glob("*.aiff"))])
    m = np.loadtxt(SAITIS / "ratings.txt")
    ratings = np.triu(m, 1) + np.triu(m, 1).T
    np.fill_diagonal(ratings, np.nan)
    assert abs(float(row["ev_exact"]) - nnls_ev(features, ratings)) < 1e-6


def test_an_embedder_module_and_a_hear_module_run_through_extract_and_evaluate(tmp_path, fresh_home, capsys,
                                                                             monkeypatch):
    pytest.importorskip("torch")
    names = [f"x{k}" for k in range(7)]
    audio, ratings = _study_with(tmp_path, names=names)
    write_matrix(ratings, ratings_matrix(len(names), seed=3))
    (tmp_path / "mybands.py").write_text(EMBEDDER)
    (tmp_path / "myhear.py").write_text(HEAR)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run_cli(capsys, "data", "add", "Tiny", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    code, _, err = run_cli(capsys, "extract", "--embedder", "mybands:band_energies", "--name", "bands",
                           "--datasets", "Tiny")
    assert code == 0, err
    code, _, err = run_cli(capsys, "extract", "--hear", "myhear", "--name", "hearbands", "--datasets", "Tiny")
    assert code == 0, err
    out = tmp_path / "ev"
    code, printed, err = run_cli(capsys, "evaluate", "--datasets", "Tiny", "--representations", "bands,hearbands",
                                 "--permutations", "9", "--out", str(out))
    assert code == 0, err
    rows = _evaluate_rows(out)
    assert [r["representation"] for r in rows] == ["bands", "hearbands"]
    assert [r["dims"] for r in rows] == ["8", "8"]
    from timbre_jax.data import datasets

    stored = datasets.load("Tiny", "bands", "extracted")
    expected = np.stack([band_energies_reference(audio / f"{n}.wav") for n in names])
    np.testing.assert_allclose(stored.features, expected, rtol=1e-12)  # used as returned: no rescaling
    assert stored.metadata["sample_rate"] == "each file's own"
    # 8 weights for 21 pairs: no warning; a 21-weight embedder would get one.
    assert all("fit almost any ratings" not in r["warnings"] for r in rows)

    # The row equals the separate commands on the same data.
    row = rows[0]
    code, printed, _ = run_cli(capsys, "learn", "--dataset", "Tiny", "--representation", "bands", "--solver", "exact")
    assert code == 0 and f"explained variance {float(row['ev_exact']):.4f}" in printed
    commands = (["zeroshot"], ["null", "--solver", "exact", "--permutations", "9"], ["crossval", "--solver", "exact"])
    for command in commands:
        assert run_cli(capsys, *command, "--datasets", "Tiny", "--representations", "bands",
                       "--out", str(tmp_path / command[0]))[0] == 0

    def first(path, **where):
        with open(path, newline="") as fh:
            return next(r for r in csv.DictReader(fh) if all(r[k] == v for k, v in where.items()))

    zs = first(tmp_path / "zeroshot" / "zeroshot.csv", distance="euclidean")
    null = first(tmp_path / "null" / "summary.csv")
    cv = first(tmp_path / "crossval" / "crossval.csv")
    assert float(zs["pearson"]) == pytest.approx(float(row["zeroshot_pearson"]), abs=1e-6)
    assert float(zs["spearman"]) == pytest.approx(float(row["zeroshot_spearman"]), abs=1e-6)
    assert float(null["observed_ev"]) == pytest.approx(float(row["ev_exact"]), abs=1e-6)
    assert float(null["p_value"]) == pytest.approx(float(row["null_p"]), abs=1e-6)
    assert float(null["null_median"]) == pytest.approx(float(row["null_median"]), abs=1e-6)
    assert float(cv["heldout_ev"]) == pytest.approx(float(row["heldout_ev"]), abs=1e-6)


def test_an_embedder_that_breaks_names_the_sound(tmp_path, fresh_home, capsys):
    names = ["a1", "b2", "c3", "d4"]
    audio, ratings = _study_with(tmp_path, names=names)
    assert run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    (tmp_path / "bad.py").write_text(
        "import numpy as np\n"
        "calls = []\n"
        "def widths(audio, sample_rate):\n"
        "    calls.append(1)\n"
        "    return np.ones(3 if len(calls) == 1 else 4)\n"
        "def nan(audio, sample_rate):\n"
        "    return np.full(3, np.nan)\n"
        "def broken(audio, sample_rate):\n"
        "    raise RuntimeError('the model is not loaded')\n")
    cases = {"nan": "a1.wav: bad gave non-finite values",
             "broken": "a1.wav: bad failed: RuntimeError: the model is not loaded",
             "widths": "b2.wav: bad gave 4 features for sound b2, but 3 for a1"}
    for fn, expected in cases.items():
        code, _, err = run_cli(capsys, "extract", "--embedder", f"{tmp_path / 'bad.py'}:{fn}", "--name", "bad",
                               "--datasets", "Mine")
        assert code == 1 and expected in err, err
    code, _, err = run_cli(capsys, "extract", "--embedder", f"{tmp_path / 'nothere.py'}:f", "--name", "bad",
                           "--datasets", "Mine")
    assert code == 2 and "nothere.py" in err  # --embedder names no file: a usage error
    assert not (fresh_home / "features" / "extracted" / "bad").exists()


# ----------------------------------------------------------------------------- sources and imports


def test_auto_source_picks_extracted_for_your_study_and_refuses_a_mix(tmp_path, fresh_home, capsys):
    from timbre_jax.cli import resolve_source

    assert resolve_source("auto", ["stmf"], ["Grey1977"]) == "upstream"
    assert resolve_source("auto", ["stmf"], ["Mine"]) == "extracted"
    assert resolve_source("auto", ["crepe"], ["Grey1977"]) == "extracted"
    assert resolve_source("extracted", ["stmf"], ["Grey1977"]) == "extracted"
    with pytest.raises(Exception, match="not for Mine: pass --source upstream"):
        resolve_source("auto", ["stmf"], ["Grey1977", "Mine"])


def test_import_any_width_in_every_layout_matched_by_name(tmp_path, fresh_home, capsys):
    names = ["a1", "b2", "c3", "d4", "e5"]
    audio, ratings = _study_with(tmp_path, names=names)
    assert run_cli(capsys, "data", "add", "Mine", "--audio", str(audio), "--ratings", str(ratings))[0] == 0
    features = np.random.default_rng(0).normal(size=(5, 3386))  # an own scattering's width
    order = [3, 0, 4, 1, 2]
    np.save(tmp_path / "f.npy", features)
    np.savez(tmp_path / "f.npz", features=features[order], sounds=np.array([names[k] for k in order]))
    with open(tmp_path / "f.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sound", *(f"f{k}" for k in range(features.shape[1]))])
        for k in order:
            w.writerow([names[k], *(repr(float(v)) for v in features[k])])
    from timbre_jax.data import datasets

    for suffix in ("npy", "npz", "csv"):
        code, out, err = run_cli(capsys, "data", "import", str(tmp_path / f"f.{suffix}"), "--dataset", "Mine",
                                 "--representation", "scattering", "--source", f"lab{suffix}")
        assert code == 0, err
        fs = datasets.load("Mine", "scattering", f"lab{suffix}")
        np.testing.assert_array_equal(fs.features, features)
        assert fs.sounds == tuple(names)
    np.savez(tmp_path / "g.npz", features=features, sounds=np.array(["a1", "b2", "c3", "d4", "zz"]))
    code, _, err = run_cli(capsys, "data", "import", str(tmp_path / "g.npz"), "--dataset", "Mine",
                           "--representation", "x", "--source", "lab")
    assert code == 1 and "name(s) zz match no sound" in err and "sound(s) e5 have no row" in err
