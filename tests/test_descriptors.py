"""The ``descriptors`` representation: each descriptor against a hand computation or a
frame loop written out here, the neutral values of unpitched sounds, finiteness on odd
signals, named dimensions (also a user's embedder's and the MFCC's) and one real study."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import needs_mirror
from timbre_jax.errors import DataError, UsageError
from timbre_jax_extract.dsp import descriptors as D
from timbre_jax_extract.dsp.mfcc import Mfcc, MfccAligned
from timbre_jax_extract.models.embedder import Embedder

SR = 44100
T = np.arange(SR) / SR
GAMMA = 0.5772156649015329  # Euler's constant: E[log X] = log E[X] - gamma for exponential X


def value(x, name):
    return D.descriptors(x)[D.NAMES.index(name)]


def reference_frames(x, sr=SR):
    """Per-frame descriptors written out frame by frame from the Timbre Toolbox formulas
    (central moments taken directly, crossings counted)."""
    n, hop = 2048, 512
    padded = np.concatenate([np.zeros(n // 2), x, np.zeros(n // 2)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    f = np.arange(n // 2 + 1) * sr / n
    frames = [padded[t * hop:t * hop + n] for t in range(1 + len(x) // hop)]
    powers = [np.abs(np.fft.rfft(fr * hann)) ** 2 for fr in frames]
    loudest = max(P.sum() for P in powers)
    kept = [t for t, P in enumerate(powers) if P.sum() >= loudest * 1e-6]  # within 60 dB
    out = {name: [] for name, _ in D.FRAME_DESCRIPTORS}
    for t in kept:
        P, frame = powers[t], frames[t]
        a = np.sqrt(P)
        p = a / a.sum()
        mu = np.sum(f * p)
        sd = np.sqrt(np.sum((f - mu) ** 2 * p))
        floored = np.maximum(P, 1e-10 * P.mean())
        row = {"spectral centroid": mu, "spectral spread": sd,
               "spectral skewness": np.sum((f - mu) ** 3 * p) / sd ** 3,
               "spectral kurtosis": np.sum((f - mu) ** 4 * p) / sd ** 4,
               "spectral decrease": sum((a[k] - a[0]) / k for k in range(1, len(a))) / a[1:].sum(),
               "spectral rolloff": f[np.searchsorted(np.cumsum(P), 0.95 * P.sum())],
               "spectral flatness": 10 * np.log10(np.exp(np.mean(np.log(floored))) / P.mean()),
               "spectral crest": P.max() / P.mean(),
               "RMS energy": 20 * np.log10(np.sqrt(np.mean(frame ** 2))),
               "zero-crossing rate": np.count_nonzero((frame[:-1] >= 0) != (frame[1:] >= 0)) * sr / n}
        for name, v in row.items():
            out[name].append(v)
    for t0, t1 in zip(kept[:-1], kept[1:]):
        if t1 == t0 + 1:
            a0, a1 = np.sqrt(powers[t0]), np.sqrt(powers[t1])
            out["spectral flux"].append(1 - a0 @ a1 / (np.linalg.norm(a0) * np.linalg.norm(a1)))
    return {k: np.array(v) for k, v in out.items()}


def tone(f0, amplitudes, seconds=1.0, partial=lambda h, f0: h * f0):
    t = np.arange(int(seconds * SR)) / SR
    phases = np.random.default_rng(7).uniform(0, 2 * np.pi, len(amplitudes))
    return sum(a * np.sin(2 * np.pi * partial(h, f0) * t + ph)
               for h, (a, ph) in enumerate(zip(amplitudes, phases), start=1)) / np.sum(amplitudes)


def test_names_units_and_the_extractor():
    ex = D.Descriptors()
    assert (ex.name, ex.sample_rate, ex.rescale, ex.standardize, ex.cacheable) == ("descriptors", 44100, False,
                                                                                   True, True)
    assert len(set(D.NAMES)) == len(D.NAMES) == len(D.UNITS) == ex.n_features == 31
    assert ex.dimension_names == D.NAMES and ex.dimension_units == D.UNITS
    assert ex.features(0.3 * np.sin(2 * np.pi * 440 * T)).shape == (31,)
    assert not any("f0" in n or "fundamental" in n or "pitch" in n for n in D.NAMES)  # pitch is not timbre
    p = ex.parameters()
    assert (p["n_fft"], p["hop_length"], p["rolloff"], p["n_harmonics"]) == (2048, 512, 0.95, 20)
    from timbre_jax_extract import pipeline

    assert isinstance(pipeline.make_extractor("descriptors"), D.Descriptors)
    assert pipeline.named_dimensions(ex, 31)["dimension_units"][0] == "Hz"


def test_frame_descriptors_equal_a_frame_loop_written_out():
    # a noisy tone, a silent gap, then a tail 100 dB down: the tail's frames do not count
    rng = np.random.default_rng(1)
    x = np.concatenate([tone(330.0, [1, 0.6, 0.3, 0.2])[:int(0.3 * SR)] + 0.05 * rng.standard_normal(int(0.3 * SR)),
                        np.zeros(int(0.15 * SR)), 1e-5 * rng.standard_normal(int(0.05 * SR))])
    ours, ref = D.spectral_frames(x), reference_frames(x)
    assert len(ref["spectral centroid"]) < 1 + len(x) // 512  # some frames were silent
    for name, _ in D.FRAME_DESCRIPTORS:
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # the summaries: median and IQR over the frames of the sound high-passed at 20 Hz (zero-phase,
    # mirrored over 0.15 s at each end), scaled to peak 1 but for the RMS energy
    highpass = scipy.signal.butter(2, 20.0, "highpass", fs=SR, output="sos")
    audible = scipy.signal.sosfiltfilt(highpass, x, padtype="even", padlen=int(0.15 * SR))
    ref = reference_frames(audible / np.max(np.abs(audible)))
    ref["RMS energy"] = reference_frames(audible)["RMS energy"]
    got = D.descriptors(x)
    for name, _ in D.FRAME_DESCRIPTORS:
        q25, q50, q75 = np.percentile(ref[name], [25, 50, 75])
        assert got[D.NAMES.index(f"{name} (median)")] == pytest.approx(q50, rel=1e-9, abs=1e-12), name
        assert got[D.NAMES.index(f"{name} (IQR)")] == pytest.approx(q75 - q25, rel=1e-7, abs=1e-9), name


@pytest.mark.parametrize("f", [440.0, 1000.0, 3150.7])
def test_a_sines_centroid_is_its_frequency_and_its_crossings_twice_it(f):
    # The Hann main lobe (+-2 bins) is symmetric about f; only the far leakage and the
    # negative-frequency image pull the centroid, by far less than half a bin (10.8 Hz).
    x = 0.5 * np.sin(2 * np.pi * f * T)
    assert abs(value(x, "spectral centroid (median)") - f) < 0.5 * SR / 2048
    # 2 f crossings a second; a frame counts whole crossings: +-1 per frame, SR / 2048 per second
    assert abs(value(x, "zero-crossing rate (median)") - 2 * f) <= SR / 2048
    assert value(x, "RMS energy (median)") == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)


@pytest.mark.parametrize("ramp", [0.1, 0.3, 1.0])
def test_a_linear_ramps_attack_time_temporal_centroid_and_effective_duration(ramp):
    # By hand: amplitude t / T up to T, then 1 for S s.  It reaches 10% at 0.1 T and 90% at
    # 0.9 T: log attack time log10(0.8 T).  At or above 40% from 0.4 T to the end: 0.6 T + S.
    sustain, lead = 0.5, 0.05
    t = np.arange(int((ramp + sustain) * SR)) / SR
    x = np.concatenate([np.zeros(int(lead * SR)), np.minimum(t / ramp, 1.0) * np.sin(2 * np.pi * 440 * t)])
    got = D.envelope_descriptors(x)
    assert got["log attack time"] == pytest.approx(np.log10(0.8 * ramp), abs=0.01)  # 2% in time
    assert got["effective duration"] == pytest.approx(0.6 * ramp + sustain, abs=0.005)
    # the temporal centroid from the first time at 15%: sum (t - t0) A / sum A over a fine grid
    grid = np.linspace(0.15 * ramp, ramp + sustain, 200001)
    amplitude = np.minimum(grid / ramp, 1.0)
    expected = np.sum((grid - grid[0]) * amplitude) / np.sum(amplitude)
    assert got["temporal centroid"] == pytest.approx(expected, rel=0.01)


def test_an_instant_onset_reads_as_the_envelopes_own_rise_time():
    floor = D.attack_floor()
    assert 0.01 < floor < 0.025  # a 30 Hz zero-phase low-pass rises 10-90% in about 16 ms
    for f in (220.0, 700.0, 3000.0):  # an onset after silence, whatever the frequency
        step = np.concatenate([np.zeros(SR // 4), np.sin(2 * np.pi * f * T)])
        assert value(step, "log attack time") == pytest.approx(np.log10(floor), abs=0.02)
    # a sound at full level from its first sample: no rise measured, the floor
    assert value(np.sin(2 * np.pi * 700 * T), "log attack time") == np.log10(floor)


def test_white_noises_flatness_is_its_power_spectrums_geometric_over_arithmetic_mean():
    x = np.random.default_rng(0).standard_normal(SR)
    by_hand = []  # per frame, 10 log10(geometric mean / arithmetic mean) of |rfft(hann frame)|^2
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
    padded = np.concatenate([np.zeros(1024), x, np.zeros(1024)])
    for t in range(1 + SR // 512):
        P = np.abs(np.fft.rfft(padded[t * 512:t * 512 + 2048] * hann)) ** 2
        by_hand.append(10 * np.log10(np.exp(np.mean(np.log(P))) / np.mean(P)))
    assert np.median(D.spectral_frames(x)["spectral flatness"]) == pytest.approx(np.median(by_hand), abs=1e-9)
    # bins of white noise are exponential: E log P = log E P - gamma, i.e. -2.507 dB (the
    # descriptor: the same after the 20 Hz high-pass, which empties the lowest of 1025 bins)
    assert value(x, "spectral flatness (median)") == pytest.approx(-10 * np.log10(np.e) * GAMMA, abs=0.1)
    assert value(0.3 * np.sin(2 * np.pi * 440 * T), "spectral flatness (median)") < -60  # a line: far from flat


@pytest.mark.parametrize("signal", ["noise", "click"])
def test_unpitched_sounds_get_the_neutral_harmonic_values(signal):
    x = np.random.default_rng(2).standard_normal(SR) if signal == "noise" else np.where(np.arange(SR) == 9000, 1., 0.)
    got = dict(zip(D.NAMES, D.descriptors(x)))
    assert got["periodicity"] < 0.3
    assert {k: got[k] for k in D.NEUTRAL} == D.NEUTRAL
    assert D.NEUTRAL == {"inharmonicity": 0.0, "odd-to-even ratio": 0.0, "tristimulus 1": 1 / 3,
                         "tristimulus 2": 1 / 3, "tristimulus 3": 1 / 3}


@pytest.mark.parametrize("f0", [110.0, 261.63, 987.0])
def test_a_harmonic_tones_tristimulus_and_odd_to_even_are_those_of_its_amplitudes(f0):
    a = np.array([1.0, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.08, 0.05])
    got = dict(zip(D.NAMES, D.descriptors(tone(f0, a))))
    assert got["periodicity"] > 0.99
    assert got["tristimulus 1"] == pytest.approx(a[0] / a.sum(), abs=1e-3)
    assert got["tristimulus 2"] == pytest.approx(a[1:4].sum() / a.sum(), abs=1e-3)
    assert got["tristimulus 3"] == pytest.approx(a[4:].sum() / a.sum(), abs=1e-3)
    odd_even = 10 * np.log10(np.sum(a[0::2] ** 2) / np.sum(a[1::2] ** 2))  # harmonics 1, 3, ... over 2, 4, ...
    assert got["odd-to-even ratio"] == pytest.approx(odd_even, abs=0.02)
    assert got["inharmonicity"] < 1e-3


def test_stretched_partials_give_the_inharmonicity_of_their_frequencies():
    a = np.array([1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
    h = np.arange(1, 9)
    f = 200.0 * h + 0.4 * h ** 2  # stretched like a stiff string, each within f0 / 4 of h f0
    got = value(tone(200.0, a, partial=lambda k, f0: f0 * k + 0.4 * k * k), "inharmonicity")
    fit = np.sum(a ** 2 * h * f) / np.sum(a ** 2 * h ** 2)  # the best harmonic series through them
    expected = 2 / fit * np.sum(np.abs(f - h * fit) * a ** 2) / np.sum(a ** 2)
    assert expected > 0.005 and got == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("signal", ["quiet", "click", "dc offset", "constant", "short", "dc step", "one sample"])
def test_every_value_is_finite_on_odd_signals(signal):
    x = {"quiet": 1e-7 * np.sin(2 * np.pi * 440 * T), "click": np.where(np.arange(SR) == 3, 1.0, 0.0),
         "dc offset": 0.5 + 0.01 * np.sin(2 * np.pi * 440 * T), "constant": np.full(SR, 0.3),
         "short": np.random.default_rng(0).standard_normal(10), "dc step": np.where(T > 0.5, 0.3, 0.0),
         "one sample": np.array([0.5])}[signal]
    with np.errstate(divide="raise", invalid="raise", over="raise"):  # no 0/0, no log 0 on the way either
        assert np.all(np.isfinite(D.descriptors(x)))


def test_a_dc_offset_changes_nothing():
    x = 0.3 * tone(220.0, [1, 0.5, 0.3])
    moved = D.descriptors(x + 0.2)
    np.testing.assert_allclose(moved, D.descriptors(x), rtol=1e-6, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6000), st.integers(0, 2 ** 32 - 1), st.floats(1e-6, 1.0))
def test_finite_for_any_non_silent_signal(n, seed, scale):
    rng = np.random.default_rng(seed)
    x = scale * rng.standard_normal(n) * (rng.random(n) < rng.uniform(0.001, 1.0))
    x[rng.integers(n)] = scale  # non-silent
    assert np.all(np.isfinite(D.descriptors(x)))


def test_the_mfcc_coefficients_are_named():
    for ex in (Mfcc(), MfccAligned()):
        assert ex.dimension_names == tuple(f"mfcc {c}" for c in range(40)) and ex.dimension_units == ("dB (DCT)",) * 40


def bands(audio, sample_rate):
    """Energies of 3 frequency bands, (3,)."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    hz = np.fft.rfftfreq(len(audio), 1 / sample_rate)
    return np.array([power[(hz >= lo) & (hz < hi)].sum() for lo, hi in ((0, 500), (500, 1500), (1500, 1e9))])


def test_a_users_function_names_its_dimensions(fake_data):
    from timbre_jax_extract import pipeline

    fake_data("Patil2012_A3")

    def named(audio, sample_rate):
        return bands(audio, sample_rate)

    named.dimension_names = ["low", "mid", "high"]
    named.dimension_units = ["", "", ""]
    ex = Embedder(named, "bands3")
    assert ex.dimension_names == ("low", "mid", "high")
    (path,) = pipeline.run(None, ["Patil2012_A3"], extractor=ex, progress=False)
    from timbre_jax.data import datasets

    fs = datasets.load("Patil2012_A3", "bands3", "extracted")
    assert fs.dimension_names == ("low", "mid", "high") and fs.dimension_units == ("", "", "")
    named.dimension_names = ["low", "high"]  # two names for three dimensions: refused when stored
    del named.dimension_units
    with pytest.raises(DataError, match="bands2: 2 dimension names .2 distinct. for 3 dimensions"):
        pipeline.run(None, ["Patil2012_A3"], extractor=Embedder(named, "bands2"), progress=False)


@pytest.mark.parametrize("names, message", [
    ("low", "dimension_names must be a sequence of strings"),
    (["a", 3], "dimension_names must be non-empty strings, got 3"),
    (["a", "a"], "dimension_names names 'a' twice"),
    ([], "dimension_names is empty"),
])
def test_bad_dimension_names_are_one_line_naming_the_embedder(names, message):
    def f(audio, sample_rate):
        return audio[:2]

    f.dimension_names = names
    with pytest.raises(UsageError, match=f"embedder '.*:.*f': {message}"):
        Embedder(f, "x")


@needs_mirror
def test_one_real_study_extracted_stored_and_loaded_back(fresh_home):
    import timbre_jax_extract
    from timbre_jax.data import audio, datasets
    from timbre_jax.data.sounds import stimuli

    (path,) = timbre_jax_extract.run("descriptors", ["Patil2012_A3"], progress=False)
    fs = datasets.load("Patil2012_A3", "descriptors", "extracted")
    assert fs.features.shape == (11, 31) and np.all(np.isfinite(fs.features))
    assert fs.dimension_names == D.NAMES and fs.dimension_units == D.UNITS
    raw = np.array(fs.metadata["raw_features"])
    study = stimuli("Patil2012_A3", progress=False)
    for k in (0, 7):  # the raw values are the sounds' descriptors
        np.testing.assert_allclose(raw[k], D.descriptors(audio.load(study.files[k])[0]), rtol=1e-12, atol=1e-15)
    sd = raw.std(axis=0)
    varying = sd > 1e-12 * np.abs(raw).max(axis=0)
    np.testing.assert_allclose(fs.features.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(fs.features.std(axis=0), varying.astype(float), atol=1e-12)
    z = (raw[:, varying] - raw[:, varying].mean(axis=0)) / sd[varying]
    np.testing.assert_allclose(fs.features[:, varying], z, rtol=1e-10, atol=1e-12)


@needs_mirror
@pytest.mark.slow  # three fresh processes that import the package: about 20 s
def test_the_benchmark_script_times_and_spans_the_extraction(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "benchmarks" / "descriptors.py"), "--datasets", "Patil2012_A3",
                    "--out", str(tmp_path)], check=True, cwd=root, capture_output=True, text=True)
    res = json.loads((tmp_path / "descriptors.json").read_text())
    assert (res["datasets"], res["sounds"], res["bound_s"]) == (1, 11, 60.0)
    assert 0 < res["studies_s"] < res["extract_s"] and res["machine"] and res["date"]
    assert res["studies"]["Patil2012_A3"]["finite"] and list(res["ranges"]) == list(D.NAMES)
    assert all(r["min"] <= r["max"] and r["min_study"] == "Patil2012_A3" for r in res["ranges"].values())
    assert res["ranges"]["spectral centroid (median)"]["unit"] == "Hz"


def test_the_toolbox_slope_left_out_is_an_affine_function_of_the_centroid():
    """Why there is no spectral slope: per frame, np.polyfit's slope of the normalized
    amplitudes on frequency equals (centroid - mean f) / sum (f - mean f)^2."""
    rng = np.random.default_rng(7)
    f = np.arange(1025) * SR / 2048
    for _ in range(5):
        a = rng.exponential(size=1025) * np.exp(-f / rng.uniform(500, 5000))
        p = a / a.sum()
        slope = np.polyfit(f, p, 1)[0]
        assert slope == pytest.approx((np.sum(f * p) - f.mean()) / np.sum((f - f.mean()) ** 2), rel=1e-9)
    assert not any("slope" in name for name in D.NAMES)
