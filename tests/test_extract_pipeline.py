"""Extraction driver: store files, per-dataset scaling, per-sound cache, bad audio, real data."""

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="feature extraction needs torch (pip install torch, then .[extract])")
sf = pytest.importorskip("soundfile")

import timbre_jax_extract as tje  # noqa: E402
from conftest import SR_FILE, write_tone  # noqa: E402
from timbre_jax.data import audio, store  # noqa: E402
from timbre_jax.data.registry import DATASETS  # noqa: E402
from timbre_jax_extract.dsp.cochlea import Cochlea  # noqa: E402
from timbre_jax_extract.dsp.stft import Stft  # noqa: E402


def test_public_api():
    assert tje.REPRESENTATIONS == ("stft", "cochlea", "scattering", "stmf", "clap", "encodec", "mertav", "mertcat")
    from timbre_jax.data.registry import REPRESENTATIONS

    assert set(tje.REPRESENTATIONS) == set(REPRESENTATIONS)
    with pytest.raises(ValueError, match="unknown representation 'lpc'.*choose from stft"):
        tje.run("lpc", ["Grey1977"], progress=False)
    with pytest.raises(ValueError, match="unknown dataset"):
        tje.run("stft", ["Grey1900"], progress=False)
    with pytest.raises(ValueError, match="takes no checkpoint"):
        tje.run("stft", ["Grey1977"], checkpoint="x", progress=False)


def test_scaling_law():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(7, 30)) * rng.uniform(0.1, 10, size=(7, 1))
    scaled, divisor = tje.scale_features(f)
    assert np.mean(np.max(np.abs(scaled), axis=1)) == pytest.approx(1.0)
    np.testing.assert_allclose(scaled * divisor, f)
    with pytest.raises(ValueError):
        tje.scale_features(np.zeros((3, 4)))


def test_run_writes_scaled_store_file(fake_data):
    fake_data("Patil2012_A3")
    (path,) = tje.run("stft", ["Patil2012_A3"], progress=False)
    assert path == store.feature_file("extracted", "stft", "Patil2012_A3")
    s = store.load(path)
    ds = DATASETS["Patil2012_A3"]
    assert s.features.shape == (11, 513)
    assert s.sounds == ds.sounds
    assert np.mean(np.max(np.abs(s.features), axis=1)) == pytest.approx(1.0)
    assert np.isnan(np.diag(s.ratings)).all()
    m = s.metadata
    assert m["source"] == "extracted" and m["representation"] == "stft" and m["dataset"] == "Patil2012_A3"
    assert m["checkpoint"] is None and m["random_weights"] is False
    assert m["parameters"]["n_fft"] == 1024 and m["sample_rate"] == 16000
    assert m["versions"]["torch"] and m["versions"]["numpy"] and m["extractor_version"] == "1"
    assert set(m["sounds"]) == set(ds.sounds)
    assert all(len(v["audio_sha256"]) == 64 and len(v["cache_key"]) == 64 for v in m["sounds"].values())
    assert m["scale_divisor"] > 0
    # Each tone peaks at its bin: 220 Hz * 2**(i/4) at 15.625 Hz per bin.
    expected = np.round(220.0 * 2 ** (np.arange(11) / 4 + 10 / 96) / 15.625)
    assert np.all(np.abs(np.argmax(s.features, axis=1) - expected) <= 1)


def test_cache_skips_extracted_sounds(fake_data, monkeypatch):
    fake_data("Patil2012_A3")
    calls = []
    original = Stft.features
    monkeypatch.setattr(Stft, "features", lambda self, x: calls.append(len(x)) or original(self, x))
    tje.run("stft", ["Patil2012_A3"], progress=False)
    assert len(calls) == 11
    first = store.load(store.feature_file("extracted", "stft", "Patil2012_A3")).features
    tje.run("stft", ["Patil2012_A3"], progress=False)
    assert len(calls) == 11  # everything came from the cache
    np.testing.assert_array_equal(store.load(store.feature_file("extracted", "stft", "Patil2012_A3")).features, first)
    # New audio for one sound: only that sound is recomputed.
    write_tone(fake_data.root / DATASETS["Patil2012_A3"].audio_paths[3], 1234.0)
    tje.run("stft", ["Patil2012_A3"], progress=False)
    assert len(calls) == 12
    cache_files = list((Path(os.environ["TIMBRE_JAX_HOME"]) / "extract-cache" / "stft").rglob("*.npy"))
    assert len(cache_files) == 12


def test_cache_key_depends_on_audio_parameters_and_version():
    a, b = Cochlea(), Cochlea(fac=0.1)
    assert tje.cache_key("0" * 64, a) == tje.cache_key("0" * 64, Cochlea())
    assert tje.cache_key("0" * 64, a) != tje.cache_key("1" * 64, a)
    assert tje.cache_key("0" * 64, a) != tje.cache_key("0" * 64, b)
    c = Cochlea()
    c.version = "2"
    assert tje.cache_key("0" * 64, a) != tje.cache_key("0" * 64, c)


def _bad_file(path: Path, kind: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "garbage":
        path.write_bytes(b"this is not audio" * 10)
    elif kind == "empty":
        sf.write(str(path), np.zeros(0), SR_FILE, format="AIFF", subtype="PCM_16")
    elif kind == "silent":
        sf.write(str(path), np.zeros(4410), SR_FILE, format="AIFF", subtype="PCM_16")
    elif kind == "nan":
        x = np.full(4410, 0.1, dtype=np.float32)
        x[100] = np.nan
        sf.write(str(path), x, SR_FILE, format="WAV", subtype="FLOAT")


@pytest.mark.parametrize("kind,message", [("garbage", "cannot read audio"), ("empty", "no audio samples"),
                                          ("silent", "silent"), ("nan", "NaN")])
def test_bad_audio_is_named(tmp_path, kind, message):
    path = tmp_path / f"bad_{kind}.aiff"
    _bad_file(path, kind)
    with pytest.raises(audio.AudioError, match=message) as err:
        audio.load(path)
    assert str(path) in str(err.value)


def test_bad_sound_keeps_the_rest(fake_data):
    fake_data("Patil2012_A3")
    fake_data("Patil2012_DX4")
    bad_rel = DATASETS["Patil2012_A3"].audio_paths[5]
    _bad_file(fake_data.root / bad_rel, "silent")
    with pytest.raises(tje.ExtractionError) as err:
        tje.run("stft", ["Patil2012_A3", "Patil2012_DX4"], progress=False)
    e = err.value
    assert str(fake_data.root / bad_rel) in str(e) and "silent" in str(e)
    assert list(e.failures) == ["Patil2012_A3"] and len(e.failures["Patil2012_A3"]) == 1
    assert e.written == [store.feature_file("extracted", "stft", "Patil2012_DX4")]
    assert e.written[0].exists()
    assert not store.feature_file("extracted", "stft", "Patil2012_A3").exists()
    # The 10 good sounds of Patil2012_A3 are cached (plus the 11 of DX4).
    cache_files = list((Path(os.environ["TIMBRE_JAX_HOME"]) / "extract-cache" / "stft").rglob("*.npy"))
    assert len(cache_files) == 21
    # Fixing the file completes the dataset, computing only the missing sound.
    write_tone(fake_data.root / bad_rel, 700.0)
    written = tje.run("stft", ["Patil2012_A3"], progress=False)
    assert written == [store.feature_file("extracted", "stft", "Patil2012_A3")]


def test_resampling_to_the_extractor_rate(fake_data):
    fake_data("Patil2012_A3")
    ex = tje.make_extractor("stft")
    seen = []
    original = ex.features
    ex.features = lambda x: seen.append(len(x)) or original(x)
    tje.extract_dataset(ex, "Patil2012_A3", progress=False)
    assert seen == [4000] * 11  # 0.25 s at 44.1 kHz -> 16 kHz
    t = np.arange(44100) / 44100
    y = audio.resample(np.sin(2 * np.pi * 1000 * t), 44100, 16000)
    assert len(y) == 16000
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == 1000


def test_real_grey1977_stft_peaks_at_bin_20(tmp_path, monkeypatch, mirror_url):
    """The upstream stft features of the 311 Hz Grey (1977) tones peak at bin 20 (16 kHz)."""
    monkeypatch.setenv("TIMBRE_JAX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIMBRE_JAX_MIRROR", mirror_url)
    (path,) = tje.run("stft", ["Grey1977"], progress=False)
    s = store.load(path)
    peaks = np.argmax(s.features, axis=1)
    assert s.features.shape == (16, 513)
    assert np.sum(peaks == 20) >= 8  # the fundamental dominates most tones
    assert set(peaks) <= {20, 40, 59, 60, 80, 100}  # harmonics of 311 Hz
