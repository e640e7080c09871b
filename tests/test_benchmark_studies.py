"""The timbre benchmark's 4 studies beyond the paper's 17: pinned, verified, read, selected.

The benchmark (timbremetrics, arXiv 2507.07764) counts 21 studies, 334 sounds and 2,614
rated pairs: the independent totals checked here.  Its 4 extra studies come from the
repository tiianhk/timbremetrics at commit c611b3a6a41872e5037a9e14099d15a70407c124.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import MIRROR_DIR, needs_mirror
from timbre_jax import cli
from timbre_jax import datasets as public_datasets
from timbre_jax.cli import names
from timbre_jax.data import datasets, download, rating_files, registry
from timbre_jax.errors import DataError, MissingFeatures

COMMIT = "c611b3a6a41872e5037a9e14099d15a70407c124"
FOUR = {"Saitis2020_e2set1_general": 14, "Vahidi2020": 15, "Zacharakis2014_english": 24, "Zacharakis2014_greek": 24}
BENCH = MIRROR_DIR / "tiianhk" / "timbremetrics" / COMMIT / "timbremetrics"
SAITIS_USER_COPY = MIRROR_DIR.parent / "studies" / "Saitis2020_e2set1_general"


def run_cli(capsys, *argv):
    code = cli.main([*argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- registry

def test_21_studies_334_sounds_2614_pairs_the_paper_first():
    assert list(registry.PAPER) == list(registry.BENCHMARK)[:17]
    assert list(registry.BENCHMARK)[17:] == list(FOUR)
    assert set(registry.DATASETS) == set(registry.BENCHMARK) and len(registry.DATASETS) == 21
    assert {d: registry.DATASETS[d].n_sounds for d in FOUR} == FOUR
    # the benchmark's published totals (2,614 pairwise ratings on 334 audio samples)
    assert sum(ds.n_sounds for ds in registry.BENCHMARK.values()) == 334
    assert sum(ds.n_sounds * (ds.n_sounds - 1) // 2 for ds in registry.BENCHMARK.values()) == 2614
    assert public_datasets.PAPER is registry.PAPER and public_datasets.BENCHMARK is registry.BENCHMARK
    for d in FOUR:
        ds = registry.DATASETS[d]
        assert ds.m_subjects is None and np.isnan(ds.typical_noise)  # not in the benchmark's files
    assert registry.DATASETS["Grey1977"].typical_noise == pytest.approx(0.1 * np.sqrt(22))


def test_pinned_paths_are_the_benchmark_urls_and_the_17_keep_theirs(monkeypatch, fresh_home):
    vahidi = registry.get_dataset("Vahidi2020")
    assert vahidi.ratings_path == (f"tiianhk/timbremetrics/{COMMIT}/timbremetrics/true_dissim/"
                                   "Vahidi2020_dissimilarity_matrix.txt")
    assert vahidi.audio_paths[0] == f"tiianhk/timbremetrics/{COMMIT}/timbremetrics/sounds/Vahidi2020/01.aiff"
    grey = registry.get_dataset("Grey1977")  # unchanged, byte for byte
    assert grey.ratings_path == ("bpascal-fr/timbre-metric-learning/c9cfa0c2940dee7e3151785c93a2b9e3b60af5ff/"
                                 "data/similarity/Grey1977.txt")
    assert grey.audio_paths[0] == ("EtienneTho/musical-timbre-studies/0a34e76101a192ad0e5945f22193ef9d60c8065a/"
                                   "ext/python/sounds/Grey1977/BN.aiff")
    # with no mirror configured the downloader asks GitHub for exactly this URL
    monkeypatch.delenv("TIMBRE_JAX_MIRROR", raising=False)
    asked = []

    def offline(url, timeout=None):
        asked.append(url)
        raise urllib.error.HTTPError(url, 404, "not here", None, None)

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    report = download.fetch([vahidi.ratings_path, registry.get_dataset("Zacharakis2014_greek").audio_paths[-1]],
                            progress=False)
    assert asked == [
        f"https://raw.githubusercontent.com/tiianhk/timbremetrics/{COMMIT}/timbremetrics/true_dissim/"
        "Vahidi2020_dissimilarity_matrix.txt",
        f"https://raw.githubusercontent.com/tiianhk/timbremetrics/{COMMIT}/timbremetrics/sounds/"
        "Zacharakis2014_greek/24_Gibson_A3_MDS.aiff",
    ]
    assert len(report.missing) == 2


@needs_mirror
def test_sounds_are_the_sorted_files_and_every_file_is_pinned_by_its_bytes():
    pinned = {k: v for k, v in registry.SHA256.items() if k.startswith(f"tiianhk/timbremetrics/{COMMIT}/")}
    on_disk = sorted(p for p in BENCH.rglob("*") if p.is_file())
    assert len(pinned) == len(on_disk) == 81  # 77 sounds, 4 matrices
    for path in on_disk:
        data = path.read_bytes()
        assert pinned[str(path.relative_to(MIRROR_DIR))] == (hashlib.sha256(data).hexdigest(), len(data))
    for d, l in FOUR.items():
        stems = sorted(p.stem for p in (BENCH / "sounds" / d).glob("*.aiff"))
        assert list(registry.DATASETS[d].sounds) == stems and len(stems) == l
    zach = registry.DATASETS["Zacharakis2014_english"].sounds
    assert [s[:2] for s in zach] == [f"{k:02d}" for k in range(1, 25)]  # numbered files: sorted = numbered


def test_no_published_features_for_the_4():
    for d in FOUR:
        assert registry.published_source("stft", d) == "extracted"
        with pytest.raises(MissingFeatures, match=f"no upstream stft features for {d}.*extract"):
            registry.DATASETS[d].feature_path("stft")
    assert registry.published_source("mertcat", "Grey1977") == "upstream"
    assert registry.published_source("crepe", "Grey1977") == "extracted"
    features = registry.files("features")
    assert len(features) == 8 * 17 and not any("timbremetrics" in p for p in features)
    assert len(registry.files("ratings")) == 21 + 3 and len(registry.files("audio")) == 334  # + Lakatos raw files


@needs_mirror
def test_upstream_source_skips_the_4_saying_why():
    sets, skipped = datasets.load_available("encodec", ["Grey1977", "Vahidi2020"], source="upstream")
    assert [fs.dataset for fs in sets] == ["Grey1977"]
    ((rep, d, why),) = skipped
    assert (rep, d) == ("encodec", "Vahidi2020") and "extract" in why


# ----------------------------------------------------------------------------- fetch

@needs_mirror
def test_the_4_fetch_verified_and_a_corrupted_copy_is_refused(fresh_home, mirror_url, tmp_path):
    paths = [p for d in FOUR for p in (registry.DATASETS[d].ratings_path, *registry.DATASETS[d].audio_paths)]
    report = download.fetch(paths, mirror_url=mirror_url, progress=False)
    assert report.ok and len(report.fetched) == 81
    assert download.verify(paths) == (paths, [], [])
    # a mirror whose Vahidi2020 ratings differ by one digit: refused, nothing kept
    rel = registry.DATASETS["Vahidi2020"].ratings_path
    bad = tmp_path / "bad-mirror"
    (bad / rel).parent.mkdir(parents=True)
    original = (MIRROR_DIR / rel).read_bytes()
    (bad / rel).write_bytes(original.replace(b"0.", b"1.", 1))
    (fresh_home / "upstream" / rel).unlink()
    report = download.fetch([rel], mirror_url=bad.as_uri(), progress=False)
    assert len(report.failed) == 1 and "sha256" in report.failed[0][1] and rel in report.failed[0][1]
    assert not (fresh_home / "upstream" / rel).exists()


@needs_mirror
def test_cli_fetch_and_list_show_the_21(fresh_home, mirror_url, capsys):
    code, out, _ = run_cli(capsys, "--quiet", "data", "fetch", "--what", "ratings,audio", "--mirror", mirror_url)
    assert code == 0
    assert "21 built-in datasets" in out
    assert "fetched 358, already verified 0, missing upstream 0, failed 0" in out  # 21 + 3 raw + 334
    code, out, _ = run_cli(capsys, "data", "list", "--representation", "stft,clap")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.split() and line.split()[0] in registry.DATASETS}
    assert len(rows) == 21
    assert rows["Zacharakis2014_greek"] == ["24", "yes", "24/24", "-", "-"]
    assert rows["Grey1977"] == ["16", "yes", "16/16", "no", "no"]
    assert "missing upstream features: 34 files (stft: 17 datasets, clap: 17 datasets)" in out
    assert "stft: features for 0/17 datasets" in out


# ----------------------------------------------------------------------------- ratings

def upper_mirrored(path, l):
    """The file's strict upper triangle, mirrored, NaN on the diagonal: written out as a loop."""
    rows = [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) == l and all(len(r) == l for r in rows)
    full = np.full((l, l), np.nan)
    for i in range(l):
        for j in range(i + 1, l):
            full[i, j] = full[j, i] = rows[i][j]
    return full, rows


@needs_mirror
@pytest.mark.parametrize("study", list(FOUR))
def test_ratings_of_the_4_are_the_files_upper_triangle(study):
    l = FOUR[study]
    ratings = datasets.load_ratings(study)
    expected, rows = upper_mirrored(BENCH / "true_dissim" / f"{study}_dissimilarity_matrix.txt", l)
    assert ratings.shape == (l, l)
    assert np.isnan(np.diag(ratings)).all()
    off = ~np.eye(l, dtype=bool)
    assert np.isfinite(ratings[off]).all() and (ratings[off] >= 0).all() and (ratings[off] <= 1).all()
    np.testing.assert_array_equal(ratings, ratings.T)
    np.testing.assert_array_equal(ratings, expected)
    assert all(rows[i][j] == 0 for i in range(l) for j in range(i))  # the file is upper-triangular


@needs_mirror
def test_saitis2020_diagonal_is_ignored_and_equals_the_user_copy():
    path = BENCH / "true_dissim" / "Saitis2020_e2set1_general_dissimilarity_matrix.txt"
    diagonal = np.diag(np.loadtxt(path))
    assert diagonal[0] == pytest.approx(0.01625865) and (diagonal > 0).sum() >= 1  # self pairs, not pairs
    ratings = datasets.load_ratings("Saitis2020_e2set1_general")
    assert np.isnan(np.diag(ratings)).all()
    assert ratings[0, 1] == pytest.approx(0.334292325)
    if SAITIS_USER_COPY.is_dir():  # the same study as a user would add it: same numbers through data add's reader
        sounds = registry.DATASETS["Saitis2020_e2set1_general"].sounds
        np.testing.assert_array_equal(rating_files.read_ratings(SAITIS_USER_COPY / "ratings.txt", sounds), ratings)


@pytest.mark.parametrize("damage, message", [
    (lambda m: m.__setitem__((3, 1), 0.5), r"neither symmetric nor upper-triangular with zeros below"),
    (lambda m: m.__setitem__((0, 2), 1.5), r"row 1, column 3: 1.5 is above 1"),
])
def test_a_damaged_matrix_of_the_4_is_an_error_naming_the_file(tmp_path, monkeypatch, damage, message):
    l = FOUR["Vahidi2020"]
    m = np.triu(np.random.default_rng(0).uniform(size=(l, l)), 1)
    damage(m)
    path = tmp_path / "Vahidi2020_dissimilarity_matrix.txt"
    np.savetxt(path, m)
    monkeypatch.setattr(download, "ensure", lambda relpaths, **kw: [path])
    with pytest.raises(DataError, match=message) as caught:
        datasets.load_ratings("Vahidi2020")
    assert str(path) in str(caught.value)


# ----------------------------------------------------------------------------- selections

def test_dataset_selections_at_the_command_line():
    assert names.datasets(None) == names.datasets("all") == names.datasets("paper") == list(registry.PAPER)
    assert len(names.datasets(None)) == 17
    assert names.datasets("benchmark") == list(registry.BENCHMARK) and len(names.datasets("benchmark")) == 21
    assert names.datasets("Vahidi2020,Grey1977") == ["Vahidi2020", "Grey1977"]
    parser = cli.build_parser()
    args = parser.parse_args(["table", "--datasets", "benchmark", "--out", "x"])
    assert len(names.datasets(args.datasets)) == 21
    args = parser.parse_args(["table", "--out", "x"])
    assert names.datasets(args.datasets) == list(registry.PAPER)


@pytest.mark.skipif(not SAITIS_USER_COPY.is_dir(), reason=f"{SAITIS_USER_COPY} is absent")
@pytest.mark.parametrize("name, said", [("Saitis2020_e2set1_general", "is a built-in dataset"),
                                        ("benchmark", "selects built-in datasets")])
def test_a_study_named_like_a_built_in_one_is_refused(fresh_home, capsys, name, said):
    code, out, err = run_cli(capsys, "data", "add", name, "--audio", str(SAITIS_USER_COPY / "audio"),
                             "--ratings", str(SAITIS_USER_COPY / "ratings.txt"))
    assert code == 2 and said in err and name in err
    assert not (fresh_home / "studies" / name).exists()
