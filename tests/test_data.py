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

from conftest import MIRROR_DIR, needs_mirror
from timbre_jax import cli, datasets, download, registry, report, safepickle, store
from timbre_jax.datasets import DataError

RATINGS = registry.files("ratings")
GREY = registry.get_dataset("Grey1977")


def run_cli(*argv, capsys):
    code = cli.main([*argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- registry

@needs_mirror
def test_registry_matches_mirror_and_paper():
    assert len(registry.DATASETS) == 17
    paper = {row["dataset"]: int(row["m_subjects"])
             for row in csv.DictReader(open(MIRROR_DIR / "paper" / "table1_explained_variance.csv"))}
    assert {d: ds.m_subjects for d, ds in registry.DATASETS.items()} == paper
    for d, ds in registry.DATASETS.items():
        on_disk = sorted(p.stem for p in (MIRROR_DIR / registry.THORET.prefix / "ext/python/sounds" / d).glob("*.aiff"))
        assert list(ds.sounds) == on_disk
        assert len(ds.sounds) == ds.n_sounds
    assert sum(ds.n_sounds for ds in registry.DATASETS.values()) == 257
    # every pinned hash was computed from real bytes: spot-check a few
    for rel in RATINGS[:3] + [GREY.audio_paths[0]]:
        assert download.sha256_file(MIRROR_DIR / rel) == registry.SHA256[rel][0]


def test_parse_list_names_unknown_items():
    assert registry.parse_list("all", registry.REPRESENTATIONS, "x") == list(registry.REPRESENTATIONS)
    with pytest.raises(ValueError, match="strf"):
        registry.parse_list("stft,strf", registry.REPRESENTATIONS, "representation(s)")


# ----------------------------------------------------------------------------- fetch

@needs_mirror
def test_fetch_then_rerun_skips(fresh_home, mirror_url):
    rep = download.fetch(RATINGS, mirror_url=mirror_url, progress=False)
    assert len(rep.fetched) == 17 and rep.ok
    again = download.fetch(RATINGS, mirror_url=mirror_url, progress=False)
    assert again.fetched == [] and len(again.skipped) == 17
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
    assert "stmf/Grey1977" in out


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
    fs = datasets.load("Grey1977", "encodec")
    raw = pickle.loads(src.read_bytes())  # trusted mirror file, independent reference reader
    np.testing.assert_array_equal(fs.features, raw["representations"].T.astype(np.float64))
    assert fs.metadata["source"] == "upstream" and fs.metadata["representation"] == "encodec"


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
    with pytest.raises(FileNotFoundError, match="timbre-jax extract --representation stft --dataset Grey1977"):
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
    code = ("import sys, timbre_jax, timbre_jax.cli, timbre_jax.learn, timbre_jax.datasets; "
            "timbre_jax.cli.build_parser(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------- file modes (#14.8)

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    rec = store.StoredFeatures(np.eye(3), ("a", "b", "c"), np.full((3, 3), 0.5), {"source": "extracted"})
    old = os.umask(mask)
    try:
        assert store.current_umask() == mask
        written = [store.save(tmp_path / "x.npz", rec), report.write_csv(tmp_path / "t.csv", ["a"], [[1.0]])]
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
