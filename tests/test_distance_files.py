"""Distance matrices out: the labelled CSV reads back bit for bit, bad files are one-line
errors, and `learn --distances` / `evaluate --distances` write distances that equal those
recomputed from the saved weights and the stored features (loops and scipy written out here)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from conftest import needs_mirror
from timbre_jax import Exact, cli, learn_metric
from timbre_jax.analyses import evaluate, single
from timbre_jax.core import aligned
from timbre_jax.core.pearson import pair_indices
from timbre_jax.data import datasets
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.data.distance_files import KINDS, distance_file, read_distances, write_distances
from timbre_jax.errors import DataError, UsageError
from timbre_jax.stats.rank_metrics import learned_distance_matrix

# ----------------------------------------------------------------------------- the format


def test_the_layout_is_a_labelled_square_of_exact_floats(tmp_path):
    path = write_distances(tmp_path / "d.csv", ["a", "b,c"], [[0.0, 0.1], [0.1, 0.0]])
    assert path.read_text(encoding="utf-8") == 'sound,a,"b,c"\na,0.0,0.1\n"b,c",0.1,0.0\n'


def test_a_matrix_reads_back_to_the_last_bit(tmp_path):
    rng = np.random.default_rng(0)
    l = 7
    X = rng.normal(size=(l, 3)) * np.logspace(-150, 150, l)[:, None]  # values over much of the float64 range
    M = np.maximum(cdist(X, X), cdist(X, X).T)
    M[0, 1] = M[1, 0] = 5e-324  # the smallest subnormal
    M[2, 3] = M[3, 2] = 0.1 + 0.2
    names = ["flute", "é-horn", 'say "A"', "x,y", "1-bassoon", "two words", "O1"]
    sounds, back = read_distances(write_distances(tmp_path / "m.csv", names, M))
    assert sounds == tuple(names)
    assert back.dtype == np.float64 and back.tobytes() == M.tobytes()


def test_the_csv_that_r_writes_reads(tmp_path):
    """R's write.csv(m): an empty quoted first cell, quoted names, integers."""
    path = tmp_path / "r.csv"
    path.write_text('"","a","b","c"\n"a",0,1.5,2\n"b",1.5,0,3e-2\n"c",2,3e-2,0\n')
    sounds, M = read_distances(path)
    assert sounds == ("a", "b", "c")
    np.testing.assert_array_equal(M, [[0, 1.5, 2], [1.5, 0, 0.03], [2, 0.03, 0]])


GOOD = "sound,a,b,c\na,0.0,1.0,2.0\nb,1.0,0.0,3.0\nc,2.0,3.0,0.0\n"


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("sound,a,b,c\na,0.0,1.0,2.0\nb,1.0,0.0,3.0\n", "2 rows of distances for the 3 sounds of the header \\(row 1\\); "
     "a distance matrix is square: the last row is row 3"),
    (GOOD + "d,1.0,1.0,1.0\n", "4 rows of distances for the 3 sounds .* row 5 is one too many"),
    (GOOD.replace("b,1.0,0.0,3.0", "b,1.0,0.0"), "row 3 has 3 cells but the header \\(row 1\\) has 4"),
    (GOOD.replace("\nb,", "\nB,"), "row 3 names 'B' in column 1 where the header \\(row 1, column 3\\) names 'b'"),
    (GOOD.replace("\nb,1.0,0.0,3.0\nc,2.0,3.0,0.0", "\nc,2.0,3.0,0.0\nb,1.0,0.0,3.0"),
     "row 3 names 'c' in column 1 where the header \\(row 1, column 3\\) names 'b'"),
    (GOOD.replace("sound,a,b,c", "sound,a,a,c"), "sound name a appears twice in row 1 \\(columns 2 and 3\\)"),
    (GOOD.replace("sound,a,b,c", "sound,a,,c"), "row 1, column 3 has no sound name"),
    (GOOD.replace("c,2.0,3.0,0.0", "c,2.0,far,0.0"), "row 4, column 3 \\('c', 'b'\\): 'far' is not a number"),
    (GOOD.replace("c,2.0,3.0,0.0", "c,2.0,nan,0.0"), "row 4, column 3 \\('c', 'b'\\): nan is not a distance"),
    (GOOD.replace("a,0.0,1.0,2.0", "a,0.0,-1.0,2.0"), "row 2, column 3 \\('a', 'b'\\): -1.0 is not a distance"),
    (GOOD.replace("b,1.0,0.0,3.0", "b,1.0,0.5,3.0"), "row 3, column 3 \\(b, b\\): 0.5 is not 0"),
    (GOOD.replace("c,2.0,3.0,0.0", "c,2.0,3.0000000000000004,0.0"),
     "row 3, column 4 \\(b, c\\) holds 3.0 but row 4, column 3 \\(c, b\\) holds 3.0000000000000004; a distance "
     "matrix is symmetric"),
    ("sound\n", "row 1 names no sounds"),
])
def test_bad_files_are_one_line_errors_naming_the_file_and_row(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as e:
        read_distances(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_bytes_that_are_not_utf8_are_a_data_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("sound,é\né,0\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot read the distance file"):
        read_distances(path)


@pytest.mark.parametrize("names, matrix, message", [
    (["a", "b"], [[0, 1], [2, 0]], "not a distance matrix"),
    (["a", "b"], [[1, 1], [1, 0]], "not a distance matrix"),
    (["a", "b"], [[0, -1], [-1, 0]], "not a distance matrix"),
    (["a", "b"], [[0, np.nan], [np.nan, 0]], "not a distance matrix"),
    (["a", "b", "c"], [[0, 1], [1, 0]], r"must be \(3, 3\)"),
    (["a", "a"], [[0, 1], [1, 0]], "appears twice"),
    (["a", " b"], [[0, 1], [1, 0]], "padded with spaces"),
])
def test_the_writer_refuses_what_would_not_read_back(tmp_path, names, matrix, message):
    with pytest.raises(DataError, match=message):
        write_distances(tmp_path / "x.csv", names, matrix)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("stem", [("../up",), ("Grey1977", "a/b"), (".hidden",), ("",)])
def test_names_never_write_outside_the_folder(tmp_path, stem):
    with pytest.raises(UsageError, match="invalid dataset or representation name"):
        distance_file(tmp_path, stem, "learned")
    assert distance_file(tmp_path, ("Grey1977", "stft"), "learned") == tmp_path / "Grey1977.stft.learned.csv"
    with pytest.raises(UsageError, match="unknown kind of distance"):
        distance_file(tmp_path, ("Grey1977",), "cosine")


def test_evaluate_checks_the_names_it_writes_under(tmp_path):
    sd = evaluate.StudyDistances("../rep", "A", ("a", "b"), np.ones(1), 0.5,
                                 {k: np.array([[0.0, 1.0], [1.0, 0.0]]) for k in KINDS}, {})
    with pytest.raises(UsageError, match="invalid representation name '../rep'"):
        evaluate.write_distances(sd, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- references written out

def learned_loop(F, w):
    """d_w(i, j) = sqrt(sum_k (F_ik - F_jk)^2 / w_k^2), pair by pair."""
    l = len(F)
    out = np.zeros((l, l))
    for i in range(l):
        for j in range(l):
            out[i, j] = np.sqrt(sum((F[i, k] - F[j, k]) ** 2 / w[k] ** 2 for k in range(F.shape[1])))
    return out


def assert_round_trip(path, fs, reference):
    """The file at ``path`` names ``fs``'s sounds in order and holds ``reference`` (l, l) to 1e-12 (relative)."""
    sounds, M = read_distances(path)
    assert sounds == fs.sounds
    np.testing.assert_allclose(M, reference, rtol=1e-12, atol=0)
    return M


# ----------------------------------------------------------------------------- learn --distances

def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@needs_mirror
def test_learn_writes_distances_that_the_saved_weights_recompute(tmp_path, capsys):
    out, folder = tmp_path / "w.npz", tmp_path / "dist"
    argv = ["--quiet", "learn", "--dataset", "Grey1977", "--representation", "stft", "--out", str(out),
            "--distances", str(folder)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    paths = [folder / f"Grey1977.stft.{kind}.csv" for kind in KINDS]
    assert sorted(folder.iterdir()) == sorted(paths)
    assert all(f"distances -> {p}" in printed for p in paths)
    fs = datasets.load("Grey1977", "stft")
    with np.load(out, allow_pickle=False) as z:
        w = z["weights"]
    learned = assert_round_trip(paths[0], fs, learned_loop(fs.features, w))
    assert_round_trip(paths[1], fs, cdist(fs.features, fs.features))
    assert np.max(np.abs(learned - learned_distance_matrix(fs.features, w))) <= 1e-12
    # learn never replaces a file: refused before any fit, the files untouched
    before = {p: p.read_bytes() for p in paths}
    assert cli.main(argv[:-4] + ["--distances", str(folder)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"--distances {paths[0]}: exists; learn never replaces a file" in err
    assert {p: p.read_bytes() for p in paths} == before


@needs_mirror
def test_one_metric_across_datasets_gives_each_its_distances(tmp_path):
    out, folder = tmp_path / "w.npz", tmp_path / "dist"
    assert cli.main(["--quiet", "learn", "--datasets", "Grey1977,Grey1978", "--representation", "stft",
                     "--out", str(out), "--distances", str(folder)]) == 0
    with np.load(out, allow_pickle=False) as z:
        w = z["weights"]
    for d in ("Grey1977", "Grey1978"):
        fs = datasets.load(d, "stft")
        assert_round_trip(folder / f"{d}.stft.learned.csv", fs, learned_loop(fs.features, w))
        assert_round_trip(folder / f"{d}.stft.unweighted.csv", fs, cdist(fs.features, fs.features))


# ----------------------------------------------------------------------------- evaluate --distances

@needs_mirror
def test_evaluate_writes_the_distances_and_weights_behind_ev_exact(tmp_path, capsys):
    out = tmp_path / "ev"
    argv = ["--quiet", "evaluate", "--representations", "stft", "--datasets", "Grey1977", "--permutations", "2",
            "--bootstrap", "0", "--out", str(out)]
    assert cli.main(argv) == 0 and not (out / "distances").exists()
    # --distances is not a setting: the finished run resumes from its saved fits and adds the files
    assert cli.main(argv + ["--distances"]) == 0
    folder = out / "distances" / "stft"
    assert sorted(p.name for p in folder.iterdir()) == ["Grey1977.learned.csv", "Grey1977.unweighted.csv",
                                                        "Grey1977.weights.npz"]
    assert f"wrote {folder / 'Grey1977.weights.npz'}" in capsys.readouterr().out
    fs = datasets.load("Grey1977", "stft")
    with np.load(folder / "Grey1977.weights.npz", allow_pickle=False) as z:
        w, ev, meta = z["weights"], float(z["explained_variance"]), json.loads(str(z["metadata"]))
    assert_round_trip(folder / "Grey1977.learned.csv", fs, learned_loop(fs.features, w))
    assert_round_trip(folder / "Grey1977.unweighted.csv", fs, cdist(fs.features, fs.features))
    (row,) = rows_of(out / "evaluate.csv")
    best = learn_metric(fs.features, fs.ratings, solver=Exact())
    assert abs(ev - best.explained_variance) <= 1e-12 and abs(ev - float(row["ev_exact"])) <= 5e-7
    assert meta["solver"] == "exact" and meta["certified"] is True and meta["datasets"] == ["Grey1977"]
    assert meta["representation"] == "stft" and meta["source"] == "upstream" and meta["sounds"] == list(fs.sounds)


# ----------------------------------------------------------------------------- a frame-aligned representation

def aligned_toy(l=7, n=3, seed=0):
    """Sequences of different lengths, their aligned pairs (the shorter zero-padded) and
    ratings from a hidden weighting."""
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(int(rng.integers(2, 6)), n)) for _ in range(l)]

    def padded(s, T):
        return np.vstack([s, np.zeros((T - len(s), n))])

    rows = [(*aligned.compare(padded(seqs[i], T), padded(seqs[j], T)), T)
            for i, j in zip(*pair_indices(l)) for T in [max(len(seqs[i]), len(seqs[j]))]]
    values = aligned.from_pairs(rows, l)
    d = values.squares @ np.array([1.0, 0.3, 2.0]) + rng.normal(scale=0.3, size=len(rows))
    R = np.full((l, l), np.nan)
    i, j = pair_indices(l)
    R[i, j] = R[j, i] = (d - d.min()) / np.ptp(d)
    fs = FeatureSet("Toy", "toy-aligned", values, R, tuple(f"s{k}" for k in range(l)), {"source": "extracted"})
    return fs, seqs, padded


def aligned_loop(seqs, padded, w):
    """sqrt(sum over frames t and dims k of (a_tk - b_tk)^2 / w_k^2), the shorter sequence zero-padded."""
    l = len(seqs)
    out = np.zeros((l, l))
    for i in range(l):
        for j in range(l):
            T = max(len(seqs[i]), len(seqs[j]))
            a, b = padded(seqs[i], T), padded(seqs[j], T)
            out[i, j] = np.sqrt(sum((a[t, k] - b[t, k]) ** 2 / w[k] ** 2 for t in range(T) for k in range(len(w))))
    return out


def test_aligned_distances_of_evaluate_and_learn(tmp_path, monkeypatch):
    fs, seqs, padded = aligned_toy()
    ((row, w),) = evaluate.evaluate_fits([fs], permutations=2, samples=0, progress=False)
    paths = evaluate.write_distances(evaluate.study_distances(fs, row, w), tmp_path / "ev")
    assert_round_trip(paths[0], fs, aligned_loop(seqs, padded, w))
    assert_round_trip(paths[1], fs, aligned_loop(seqs, padded, np.ones(3)))
    with np.load(paths[2], allow_pickle=False) as z:
        assert z["weights"].tobytes() == w.tobytes() and float(z["explained_variance"]) == row.ev_exact

    monkeypatch.setattr(datasets, "load", lambda d, r, s, progress=True: fs)  # learn's loading, the toy instead
    result = single.run("toy-aligned", ["Toy"], source="extracted", progress=False)
    assert result.fit.explained_variance == pytest.approx(row.ev_exact, abs=1e-12)
    written = single.write_distances(result, tmp_path / "learn")
    assert written == single.distance_paths(tmp_path / "learn", "toy-aligned", ["Toy"])
    assert_round_trip(written[0], fs, aligned_loop(seqs, padded, result.fit.weights))
    assert_round_trip(written[1], fs, aligned_loop(seqs, padded, np.ones(3)))
