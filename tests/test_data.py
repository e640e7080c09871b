"""Downloads, verification, safe pickles, the feature store and dataset loading."""

from __future__ import annotations

import csv
import functools
import http.server
import io
import os
import pickle
import re
import stat
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

from conftest import MIRROR_DIR, needs_mirror
from timbre_jax import cli
from timbre_jax.data import datasets, download, imported, registry, safepickle, store
from timbre_jax.errors import DataError
from timbre_jax.plots import tables

RATINGS = registry.files("ratings")
GREY = registry.get_dataset("Grey1977")


def run_cli(*argv, capsys):
    code = cli.main([*argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- registry

@needs_mirror
def test_registry_matches_mirror_and_paper():
    # the paper's 17 (Table I, in its order) are built in, and the benchmark's 4 besides (test_benchmark_studies)
    assert len(registry.PAPER) == 17 and len(registry.DATASETS) == 21
    paper = {row["dataset"]: int(row["m_subjects"])
             for row in csv.DictReader(open(MIRROR_DIR / "paper" / "table1_explained_variance.csv"))}
    assert {d: ds.m_subjects for d, ds in registry.PAPER.items()} == paper
    assert list(registry.PAPER) == list(paper)
    for d, ds in registry.PAPER.items():
        on_disk = sorted(p.stem for p in (MIRROR_DIR / registry.THORET.prefix / "ext/python/sounds" / d).glob("*.aiff"))
        assert list(ds.sounds) == on_disk
        assert len(ds.sounds) == ds.n_sounds
    assert sum(ds.n_sounds for ds in registry.PAPER.values()) == 257
    # every pinned hash was computed from real bytes: spot-check a few
    for rel in RATINGS[:3] + [GREY.audio_paths[0]]:
        assert store.sha256_file(MIRROR_DIR / rel) == registry.SHA256[rel][0]


def test_parse_list_names_unknown_items():
    assert registry.parse_list("all", registry.REPRESENTATIONS, "x") == list(registry.REPRESENTATIONS)
    with pytest.raises(ValueError, match="strf"):
        registry.parse_list("stft,strf", registry.REPRESENTATIONS, "representation(s)")


# ----------------------------------------------------------------------------- fetch

@needs_mirror
def test_fetch_then_rerun_skips(fresh_home, mirror_url):
    rep = download.fetch(RATINGS, mirror_url=mirror_url, progress=False)
    assert len(rep.fetched) == 24 and rep.ok  # the 21 built-in studies' ratings and Lakatos's 3 raw files
    again = download.fetch(RATINGS, mirror_url=mirror_url, progress=False)
    assert again.fetched == [] and len(again.skipped) == 24
    assert (fresh_home / "upstream" / RATINGS[0]).read_bytes() == (MIRROR_DIR / RATINGS[0]).read_bytes()


@needs_mirror
def test_missing_upstream_files_are_named_and_the_rest_continues(fresh_home, mirror_url):
    rep = download.fetch(registry.files("features", ["stmf"]), mirror_url=mirror_url, progress=False)
    assert len(rep.fetched) == 8 and len(rep.missing) == 9 and not rep.failed
    assert any(m.endswith("strf/Grey1977.pkl") for m in rep.missing)


@needs_mirror
def test_checksum_mismatch_keeps_nothing(fresh_home, tmp_path):
    bad_mirror = tmp_path / "mirror"
    target = bad_mirror / RATINGS[0]
    target.parent.mkdir(parents=True)
    target.write_bytes((MIRROR_DIR / RATINGS[0]).read_bytes().replace(b"0.8", b"0.9", 1))
    rep = download.fetch(RATINGS[:1], mirror_url=bad_mirror.as_uri(), progress=False)
    assert len(rep.failed) == 1 and RATINGS[0] in rep.failed[0][1] and "sha256" in rep.failed[0][1]
    cached = fresh_home / "upstream" / RATINGS[0]
    assert not cached.exists()
    assert list(cached.parent.glob("*")) == []  # no temporary file left either


@needs_mirror
def test_interrupted_fetch_leaves_no_partial_file(fresh_home, mirror_url, monkeypatch):
    real = urllib.request.urlopen

    class Dying(io.RawIOBase):
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def read(self, n=-1):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt  # the user pressed Ctrl-C mid-download
            return self.inner.read(100)

        def __exit__(self, *a):
            self.inner.close()

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Dying(real(url)))
    rel = GREY.feature_path("mertcat")
    with pytest.raises(KeyboardInterrupt):
        download.fetch([rel], mirror_url=mirror_url, progress=False)
    folder = fresh_home / "upstream" / rel.rsplit("/", 1)[0]
    assert not (fresh_home / "upstream" / rel).exists()
    assert not folder.exists() or list(folder.iterdir()) == []


def test_no_network_is_a_clear_message(fresh_home, capsys):
    code, out, err = run_cli("data", "fetch", "--what", "ratings", "--mirror", "http://127.0.0.1:9", capsys=capsys)
    assert code == 1
    assert "cannot reach http://127.0.0.1:9" in err and "Traceback" not in err + out


@needs_mirror
def test_fetch_over_loopback_http(fresh_home):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(MIRROR_DIR))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        rep = download.fetch(RATINGS[:2] + list(GREY.audio_paths[:2]), mirror_url=url, progress=False)
        assert len(rep.fetched) == 4 and rep.ok
        rep = download.fetch([GREY.feature_path("stmf")], mirror_url=url, progress=False)
        assert rep.missing == [GREY.feature_path("stmf")]  # HTTP 404 is "missing", not a crash
    finally:
        server.shutdown()


@needs_mirror
def test_verify_catches_a_corrupted_cached_file(fresh_home, mirror_url, capsys):
    download.fetch(RATINGS, mirror_url=mirror_url, progress=False)
    victim = fresh_home / "upstream" / RATINGS[3]
    victim.write_bytes(victim.read_bytes()[:-5] + b"99999")
    code, out, _ = run_cli("data", "verify", capsys=capsys)
    assert code == 1
    assert "1 corrupted" in out and str(victim) in out
    # and a re-fetch replaces it
    assert download.fetch(RATINGS, mirror_url=mirror_url, progress=False).fetched == [RATINGS[3]]


@needs_mirror
def test_cli_fetch_and_list_reports_every_dataset(fresh_home, mirror_url, capsys):
    code, out, _ = run_cli("--quiet", "data", "fetch", "--mirror", mirror_url, capsys=capsys)
    assert code == 0
    assert "missing upstream 9" in out
    code, out, _ = run_cli("data", "list", capsys=capsys)
    assert code == 0
    assert "stmf: features for 8/17 datasets" in out
    for r in registry.REPRESENTATIONS:
        if r != "stmf":
            assert f"{r}: features for 17/17 datasets" in out
    assert out.count("16/16") >= 5  # audio complete for the 16-sound datasets
    assert "missing upstream features: 9 files (stmf: 9 datasets); " in out  # one line, not a list


# ----------------------------------------------------------------------------- pickles

class Payload:
    """Pickles to a call of os.system that would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"representations": Payload(marker), "dissimilarities": np.zeros((16, 16))}))
    code, out, err = run_cli("data", "import", str(evil), "--dataset", "Grey1977", "--representation", "stft",
                             capsys=capsys)
    assert code != 0
    assert "refusing to load" in err and "system" in err and "Traceback" not in err
    assert not marker.exists()
    # the same file with a bare pickle.load would have run the payload: prove the test can fail
    pickle.loads(evil.read_bytes())
    assert marker.exists()


def test_safe_unpickler_reads_numpy_arrays(tmp_path):
    obj = {"representations": np.arange(6.0).reshape(2, 3), "n": [1, 2.5, "x"], "f32": np.float32(2)}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=5))
    back = safepickle.load(path)
    np.testing.assert_array_equal(back["representations"], obj["representations"])
    assert back["n"] == [1, 2.5, "x"] and back["f32"] == 2


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.ones(100)})[:50])
    with pytest.raises(safepickle.UnsafePickleError, match="cut.pkl"):
        safepickle.load(path)


@needs_mirror
def test_import_upstream_pickle_roundtrip(tmp_path, capsys):
    src = MIRROR_DIR / GREY.feature_path("encodec")
    code, out, _ = run_cli("data", "import", str(src), "--dataset", "Grey1977", "--representation", "encodec",
                           capsys=capsys)
    assert code == 0
    fs = datasets.load("Grey1977", "encodec", "imported")
    raw = pickle.loads(src.read_bytes())  # trusted mirror file, independent reference reader
    np.testing.assert_array_equal(fs.features, raw["representations"].T.astype(np.float64))
    assert fs.metadata["source"] == "imported" and fs.metadata["representation"] == "encodec"
    assert fs.metadata["sha256"] == registry.SHA256[GREY.feature_path("encodec")][0]


# ----------------------------------------------------------------------------- store

def test_store_roundtrip_and_never_unpickles(tmp_path):
    rec = store.StoredFeatures(np.random.default_rng(0).random((4, 3)), ("a", "b", "c", "d"),
                               np.full((4, 4), 0.5), {"source": "extracted", "k": [1, 2]})
    path = store.save(tmp_path / "x.npz", rec)
    back = store.load(path)
    np.testing.assert_array_equal(back.features, rec.features)
    assert back.sounds == rec.sounds and back.metadata == rec.metadata
    evil = tmp_path / "evil.npz"
    np.savez(evil, features=np.array([Payload(tmp_path / "m")], dtype=object), sounds=np.array(["a"]),
             ratings=np.zeros((1, 1)), metadata=np.asarray("{}"))
    with pytest.raises(ValueError, match="allow_pickle"):
        store.load(evil)
    with pytest.raises(ValueError, match="ratings have shape"):
        store.save(tmp_path / "bad.npz", store.StoredFeatures(np.ones((3, 2)), ("a", "b", "c"), np.ones((2, 2))))


# ----------------------------------------------------------------------------- loading

@needs_mirror
def test_load_gives_aligned_features_and_ratings():
    fs = datasets.load("Lakatos2000_Comb", "cochlea")
    assert fs.features.shape == (20, 128) and fs.ratings.shape == (20, 20)
    assert fs.sounds[0] == "01_ClarinetBb" and list(fs.sounds) == sorted(fs.sounds)
    assert np.isnan(np.diag(fs.ratings)).all()
    np.testing.assert_array_equal(fs.ratings, fs.ratings.T)
    upper = np.loadtxt(MIRROR_DIR / registry.get_dataset("Lakatos2000_Comb").ratings_path)
    assert fs.pairs.shape == (190,)
    assert fs.pairs[0] == upper[0, 1] and fs.pairs[-1] == upper[18, 19]
    assert fs.ratings[5, 2] == upper[2, 5]
    # upstream scaling: each sound's vector peaks near 1 on average
    assert np.mean(np.abs(fs.features).max(axis=1)) == pytest.approx(1.0, abs=1e-6)


@needs_mirror
def test_missing_extracted_features_say_how_to_make_them():
    with pytest.raises(FileNotFoundError, match="timbre-jax extract --representation stft --datasets Grey1977"):
        datasets.load("Grey1977", "stft", source="extracted")


@pytest.mark.parametrize("bad, message", [
    (dict(sounds=("a", "b")), "2 sounds"),
    (dict(features=np.array([[1.0, np.nan], [0, 1], [1, 1]])), "non-finite features for sound\\(s\\) a"),
    (dict(ratings=np.array([[np.nan, 1.5, 0], [1.5, np.nan, 0], [0, 0, np.nan]])), "pair \\(a, b\\)"),
    (dict(features=np.ones((4, 2))), "expected \\(3, n_features\\)"),
    (dict(features=np.ones((3, 0))), "n = 0"),
])
def test_validation_names_dataset_and_sound(bad, message):
    args = dict(features=np.eye(3), ratings=np.full((3, 3), 0.5), sounds=("a", "b", "c"))
    args.update(bad)
    if "sounds" in bad:
        args["features"], args["ratings"] = np.eye(2), np.full((2, 2), 0.5)
    with pytest.raises(DataError, match=message) as e:
        datasets.validate("Toy", "stft", args["features"], args["ratings"], args["sounds"])
    assert "Toy/stft" in str(e.value)


def test_core_never_imports_torch():
    code = ("import sys, timbre_jax, timbre_jax.cli, timbre_jax.fit.learn, timbre_jax.data.datasets; "
            "timbre_jax.cli.build_parser(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- imports never touch upstream (#14.2)

def learn_ev(capsys, *extra, dataset="Grey1977", representation="encodec"):
    """Explained variance printed by `timbre-jax learn --solver exact` (deterministic)."""
    code, out, err = run_cli("learn", "--dataset", dataset, "--representation", representation,
                             "--solver", "exact", *extra, capsys=capsys)
    assert code == 0, err
    return float(re.search(r"explained variance ([0-9.]+)", out).group(1))


def modified_grey_pickle(folder: Path) -> tuple[Path, np.ndarray]:
    """Grey1977/encodec with its sounds permuted and scaled: same shapes, different fit."""
    raw = pickle.loads((MIRROR_DIR / GREY.feature_path("encodec")).read_bytes())  # trusted mirror file
    reps = raw["representations"][:, np.random.default_rng(0).permutation(16)] * 3.0
    path = folder / "mine.pkl"
    path.write_bytes(pickle.dumps(dict(raw, representations=reps)))
    return path, reps.T.astype(np.float64)


@needs_mirror
def test_import_never_replaces_the_upstream_features(fresh_home, tmp_path, capsys):
    before = learn_ev(capsys)
    upstream_file = store.feature_file("upstream", "encodec", "Grey1977")
    original = upstream_file.read_bytes()
    mine, features = modified_grey_pickle(tmp_path)
    code, out, err = run_cli("data", "import", str(mine), "--dataset", "Grey1977", "--representation", "encodec",
                             capsys=capsys)
    assert code == 0, err
    assert upstream_file.read_bytes() == original, "data import rewrote the published upstream features"
    assert learn_ev(capsys) == before
    imported = learn_ev(capsys, "--source", "imported")
    assert imported != before
    fs = datasets.load("Grey1977", "encodec", "imported")
    np.testing.assert_array_equal(fs.features, features)
    assert fs.source == "imported" and fs.sounds == GREY.sounds



def toy_study(folder: Path, *, dissimilarities: bool, sounds=None, n_features: int = 128):
    """A 7-sound study that is not built in: encodec-sized features and random ratings."""
    rng = np.random.default_rng(7)
    ratings = rng.random((7, 7))
    ratings = (ratings + ratings.T) / 2
    ratings[1, 4] = ratings[4, 1] = np.nan  # one unrated pair
    obj = {"representations": rng.random((n_features, 7))}
    if dissimilarities:
        obj["dissimilarities"] = np.triu(ratings, 1)  # upstream layout, nan kept
    if sounds is not None:
        obj["sounds"] = sounds
    path = folder / "study.pkl"
    path.write_bytes(pickle.dumps(obj))
    np.fill_diagonal(ratings, np.nan)
    return path, obj["representations"].T, ratings


def nnls_ev(features: np.ndarray, ratings: np.ndarray) -> float:
    """max_w P^2 computed by scipy: R^2 of an NNLS of the rated pairs on the squared feature
    differences with a free intercept (a +1 and a -1 column)."""
    i, j = np.triu_indices(len(features), 1)
    s = ratings[i, j]
    rated = np.isfinite(s)
    D, s = ((features[i] - features[j]) ** 2)[rated], s[rated]
    A = np.hstack([D, np.ones((len(s), 1)), -np.ones((len(s), 1))])
    x, _ = scipy.optimize.nnls(A, s, maxiter=50 * A.shape[1])
    return float(1 - np.sum((A @ x - s) ** 2) / np.sum((s - s.mean()) ** 2))


def test_import_ratings_on_a_scale_say_how_to_give_the_scale(fresh_home, tmp_path, capsys):
    """`data import --ratings` takes [0, 1]: a 1-9 file is refused naming the range and the
    route that has --scale (data add), and nothing is imported."""
    path, _, ratings = toy_study(tmp_path, dissimilarities=False, n_features=10)
    text = tmp_path / "ratings.txt"
    np.savetxt(text, np.triu(1 + 8 * np.nan_to_num(ratings, nan=0.5), 1))
    code, _, err = run_cli("data", "import", str(path), "--dataset", "MyStudy", "--representation", "encodec",
                           "--source", "lab", "--ratings", str(text), capsys=capsys)
    assert code == 1 and "outside [0, 1]" in err and "has no --scale" in err and "data add MyStudy" in err
    assert not store.feature_file("lab", "encodec", "MyStudy").exists()


@needs_mirror
def test_import_a_new_dataset_with_a_ratings_file_and_fit_it(fresh_home, tmp_path, capsys):
    # 10 features for 20 rated pairs: the optimum (EV 0.0931) depends on which rating goes
    # with which pair of sounds; with more weights than pairs any ratings would give EV 1.
    path, features, ratings = toy_study(tmp_path, dissimilarities=False, n_features=10)
    text = tmp_path / "ratings.txt"
    np.savetxt(text, np.triu(ratings, 1))  # the upstream layout: zeros below, nan = unrated
    code, out, err = run_cli("data", "import", str(path), "--dataset", "MyStudy", "--representation", "encodec",
                             "--source", "lab", "--ratings", str(text), capsys=capsys)
    assert code == 0, err
    assert store.feature_file("lab", "encodec", "MyStudy").exists()
    assert not (fresh_home / "features" / "upstream").exists()
    fs = datasets.load("MyStudy", "encodec", "lab")
    np.testing.assert_array_equal(fs.features, features)
    np.testing.assert_array_equal(fs.ratings, ratings)
    assert fs.sounds == tuple(f"sound{k:02d}" for k in range(1, 8))
    ev = nnls_ev(features, ratings)
    assert ev == pytest.approx(0.0931, abs=5e-5)
    assert learn_ev(capsys, "--source", "lab", dataset="MyStudy") == pytest.approx(ev, abs=5e-5)  # printed to 4 places
    code, out, err = run_cli("table", "--source", "lab", "--representations", "encodec", "--solver", "exact",
                             "--out", str(tmp_path / "results"), capsys=capsys)
    assert code == 0, err
    assert "MyStudy" in (tmp_path / "results" / "table1.csv").read_text()
    code, out, _ = run_cli("data", "list", "--representation", "encodec", capsys=capsys)
    assert "lab encodec: MyStudy" in out
    # unknown sources are a usage error that lists the ones there are
    with pytest.raises(SystemExit) as e:
        cli.main(["learn", "--dataset", "MyStudy", "--representation", "encodec", "--source", "lba"])
    assert e.value.code == 2
    assert "unknown feature source 'lba'; choose from auto, upstream, extracted, lab" in capsys.readouterr().err
    # the upstream source only has the built-in datasets, and says where this one is
    code, out, err = run_cli("learn", "--dataset", "MyStudy", "--representation", "encodec", capsys=capsys)
    assert code == 2 and "unknown dataset(s) MyStudy" in err and "found in source lab: pass --source" in err


def test_import_takes_any_width_under_any_name(fresh_home, tmp_path):
    path, features, _ = toy_study(tmp_path, dissimilarities=True, n_features=100)
    imported.import_features(path, "MyStudy", "encodec")
    imported.import_features(path, "MyStudy", "my-embedding")
    for r in ("encodec", "my-embedding"):
        np.testing.assert_array_equal(datasets.load("MyStudy", r, "imported").features, features)


def test_import_takes_ratings_and_sounds_from_the_pickle(fresh_home, tmp_path):
    names = [f"s{k}" for k in range(7)]
    path, features, ratings = toy_study(tmp_path, dissimilarities=True, sounds=names)
    imported.import_features(path, "Other.v2", "encodec")
    fs = datasets.load("Other.v2", "encodec", "imported")
    np.testing.assert_array_equal(fs.ratings, ratings)
    assert fs.sounds == tuple(names) and fs.source == "imported"


@pytest.mark.parametrize("kwargs, message", [
    (dict(dissimilarities=False), "the file has no ratings; give them with --ratings FILE"),
    (dict(dissimilarities=True, sounds=["a"] * 7), "sound 'a' appears twice"),
])
def test_import_of_a_new_dataset_checks_its_input(fresh_home, tmp_path, kwargs, message):
    path, _, _ = toy_study(tmp_path, **kwargs)
    with pytest.raises(DataError, match=message):
        imported.import_features(path, "MyStudy", "encodec")
    assert not (fresh_home / "features").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--source", "upstream", "cannot import into the 'upstream' source"),
    ("--source", "extracted", "cannot import into the 'extracted' source"),
    ("--source", "../../outside", "invalid feature source name"),
    ("--source", ".hidden", "invalid feature source name"),
    ("--dataset", "../outside", "invalid dataset name"),
    ("--dataset", "a/b", "invalid dataset name"),
    ("--dataset", "..", "invalid dataset name"),
])
def test_import_refuses_reserved_sources_and_unsafe_names(fresh_home, tmp_path, capsys, option, value, message):
    (tmp_path / "in").mkdir()
    path, _, _ = toy_study(tmp_path / "in", dissimilarities=True)
    args = {"--dataset": "MyStudy", "--source": "imported", option: value}
    code, out, err = run_cli("data", "import", str(path), "--representation", "encodec",
                             "--dataset", args["--dataset"], "--source", args["--source"], capsys=capsys)
    assert code == 2 and message in err and "Traceback" not in err  # usage errors
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert written == []


@needs_mirror
def test_a_damaged_imported_file_says_how_to_redo_it(fresh_home, tmp_path, capsys):
    mine, _ = modified_grey_pickle(tmp_path)
    target = imported.import_features(mine, "Grey1977", "encodec")
    flip_middle_byte(target)
    with pytest.raises(DataError, match=re.escape(str(target)) + ".*timbre-jax data import FILE --dataset Grey1977 "
                                        "--representation encodec --source imported"):
        datasets.load("Grey1977", "encodec", "imported")
    code, out, _ = run_cli("data", "verify", capsys=capsys)
    assert code == 1 and f"CORRUPTED: {target}" in out


@needs_mirror
def test_a_stale_upstream_store_file_is_reported_and_rebuilt(fresh_home, tmp_path, capsys):
    """What `data import` used to do: upstream features replaced by another pickle."""
    before = learn_ev(capsys)
    mine, _ = modified_grey_pickle(tmp_path)
    path = store.feature_file("upstream", "encodec", "Grey1977")
    rec = imported.imported_record(mine, "Grey1977", "encodec", "imported")
    store.save(path, store.StoredFeatures(rec.features, rec.sounds, rec.ratings, dict(rec.metadata, source="upstream")))
    code, out, _ = run_cli("data", "verify", capsys=capsys)
    assert code == 1 and str(path) in out and "stale or replaced" in out
    assert learn_ev(capsys) == before  # rebuilt from the verified download on load
    assert run_cli("data", "verify", capsys=capsys)[0] == 0

# ----------------------------------------------------------------------------- the store is verified (#14.3)

def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@needs_mirror
def test_corrupted_store_file_is_reported_and_fetch_repairs_it(fresh_home, mirror_url, capsys):
    before = learn_ev(capsys)
    path = store.feature_file("upstream", "encodec", "Grey1977")
    flip_middle_byte(path)
    code, out, err = run_cli("data", "verify", capsys=capsys)
    assert code == 1, out
    assert str(path) in out and "CORRUPTED" in out
    code, out, err = run_cli("--quiet", "data", "fetch", "--what", "features", "--representation", "encodec",
                             "--mirror", mirror_url, capsys=capsys)
    assert code == 0, err
    store.load(path)  # readable again
    code, out, _ = run_cli("data", "verify", capsys=capsys)
    assert code == 0, out
    assert learn_ev(capsys) == before


@needs_mirror
def test_unreadable_upstream_store_file_is_rebuilt_on_load(fresh_home, capsys):
    before = learn_ev(capsys)
    path = store.feature_file("upstream", "encodec", "Grey1977")
    flip_middle_byte(path)
    assert learn_ev(capsys) == before  # the upstream store is a cache of verified downloads
    store.load(path)


# ----------------------------------------------------------------------------- file modes (#14.8)

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    rec = store.StoredFeatures(np.eye(3), ("a", "b", "c"), np.full((3, 3), 0.5), {"source": "extracted"})
    old = os.umask(mask)
    try:
        assert store.current_umask() == mask
        written = [store.save(tmp_path / "x.npz", rec), tables.write_csv(tmp_path / "t.csv", ["a"], [[1.0]])]
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


# ----------------------------------------------------------------------------- the mirror (#14.9)

@pytest.fixture
def no_mirror_env(monkeypatch):
    """No $TIMBRE_JAX_MIRROR, and a default mirror that cannot be reached."""
    monkeypatch.delenv("TIMBRE_JAX_MIRROR", raising=False)
    monkeypatch.setattr(download, "DEFAULT_MIRROR", "http://127.0.0.1:9")


@needs_mirror
def test_the_mirror_that_filled_the_cache_is_remembered(fresh_home, mirror_url, no_mirror_env, monkeypatch, capsys):
    code, out, err = run_cli("--quiet", "data", "fetch", "--what", "ratings", "--mirror", mirror_url, capsys=capsys)
    assert code == 0, err
    assert (fresh_home / "mirror.txt").read_text().strip() == mirror_url
    assert download.mirror() == mirror_url
    # the next command finds the features there without any environment variable
    assert learn_ev(capsys) > 0
    # order: explicit argument, $TIMBRE_JAX_MIRROR, the remembered one, the default
    monkeypatch.setenv("TIMBRE_JAX_MIRROR", "http://example.invalid/env")
    assert download.mirror() == "http://example.invalid/env"
    assert download.mirror("http://example.invalid/arg") == "http://example.invalid/arg"
    monkeypatch.delenv("TIMBRE_JAX_MIRROR")
    (fresh_home / "mirror.txt").unlink()
    assert download.mirror() == "http://127.0.0.1:9"


@needs_mirror
@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_a_bare_path_is_a_mirror_folder(fresh_home, no_mirror_env, monkeypatch, capsys, relative):
    monkeypatch.chdir(MIRROR_DIR.parent)
    where = MIRROR_DIR.name if relative else str(MIRROR_DIR)
    code, out, err = run_cli("--quiet", "data", "fetch", "--what", "ratings", "--mirror", where, capsys=capsys)
    assert code == 0, err
    assert "fetched 24" in out  # the 21 built-in studies' ratings and Lakatos's 3 raw files
    assert (fresh_home / "mirror.txt").read_text().strip() == MIRROR_DIR.resolve().as_uri()


@pytest.mark.parametrize("as_uri", [True, False], ids=["file-url", "path"])
def test_a_mirror_that_does_not_exist_is_an_error(fresh_home, tmp_path, capsys, as_uri):
    missing = tmp_path / "no-such-mirror"
    code, out, err = run_cli("data", "fetch", "--what", "ratings", "--mirror",
                             missing.as_uri() if as_uri else str(missing), capsys=capsys)
    assert code == 1, out
    assert f"mirror {missing} does not exist" in err and "Traceback" not in err
    assert "fetched 0" not in out and "fetching" not in out + err
    assert not (fresh_home / "mirror.txt").exists()


def test_no_progress_bar_before_a_network_error(fresh_home, capsys):
    code, out, err = run_cli("data", "fetch", "--what", "ratings", "--mirror", "http://127.0.0.1:9", capsys=capsys)
    assert code == 1 and "cannot reach" in err
    assert "fetching" not in out + err


def test_sweeps_take_an_imported_dataset(fresh_home, tmp_path, capsys):
    """robustness, null and crossval read --source and the datasets imported there."""
    path, _, _ = toy_study(tmp_path, dissimilarities=True)
    imported.import_features(path, "MyStudy", "encodec", source="lab")
    common = ["--source", "lab", "--representations", "encodec", "--solver", "exact"]
    for command, extra, output in [("robustness", ["--levels", "2", "--realizations", "1"], "robustness.csv"),
                                   ("null", ["--permutations", "2"], "null.csv"),
                                   ("crossval", [], "crossval.csv")]:
        code, out, err = run_cli("--quiet", command, *common, *extra, "--out", str(tmp_path / command), capsys=capsys)
        assert code == 0, (command, err)
        assert "MyStudy" in (tmp_path / command / output).read_text(), command
