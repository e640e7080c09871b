"""Signal-processing representations: shapes and known responses (torch needed)."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="feature extraction needs torch (pip install torch, then .[extract])")
pytest.importorskip("kymatio", reason="the scattering representation needs kymatio")

from timbre_jax_extract import make_extractor
from timbre_jax_extract.dsp.cochlea import Cochlea, best_frequencies, center_frequencies
from timbre_jax_extract.dsp.stmf import RATES, SCALES, cortical_energy

SR = 16000


def tone(freq, seconds=0.5, sr=SR, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def test_stft_shape_and_tone_bin():
    ex = make_extractor("stft")
    assert ex.sample_rate == 16000 and ex.n_features == 513
    for freq, k in [(312.5, 20), (1000.0, 64), (4000.0, 256)]:
        f = ex.features(tone(freq))
        assert f.shape == (513,)
        assert np.argmax(f) == k
        assert np.all(f >= 0)


def test_stft_is_linear_in_amplitude_and_time_averaged():
    ex = make_extractor("stft")
    x = tone(440.0, 1.0)
    np.testing.assert_allclose(ex.features(2 * x), 2 * ex.features(x), rtol=1e-12)
    # A twice longer steady tone has (nearly) the same time average around its peak (the
    # onset and offset frames splatter broadband energy, diluted in the longer sound).
    near = slice(27, 30)
    np.testing.assert_allclose(ex.features(tone(440.0, 2.0))[near], ex.features(x)[near], rtol=0.05)


def test_cochlea_center_frequencies():
    cf = center_frequencies()
    assert len(cf) == 129
    assert cf[0] == pytest.approx(179.73, abs=0.01) and cf[127] == pytest.approx(7040.0)
    np.testing.assert_allclose(np.diff(np.log2(cf)), 1 / 24)


@pytest.mark.parametrize("k", [10, 40, 70, 100, 120])
def test_cochlea_tone_peaks_at_its_channel(k):
    ex = Cochlea()
    bf = best_frequencies(ex.sigma_low, ex.sigma_high)
    f = ex.features(tone(bf[k]))
    assert f.shape == (128,)
    assert np.all(f >= 0)
    assert np.argmax(f) == k
    # Frequency selectivity: channels an octave away respond far less.
    assert f[k - 24] < 0.2 * f[k]
    if k + 24 < 128:
        assert f[k + 24] < 0.2 * f[k]


def test_cochlea_best_frequency_is_about_one_channel_above_nominal_cf():
    # NSL's LIN stage: channel k answers on the upper edge of filter k + 1 (the upstream
    # features show the same one-channel shift).
    ex = Cochlea()
    ratio = np.log2(best_frequencies(ex.sigma_low, ex.sigma_high) / center_frequencies()[:128]) * 24
    assert np.all((ratio >= 1) & (ratio < 2))


def test_cochlea_spectrogram_frames_and_level():
    ex = Cochlea()
    x = tone(1000.0, 1.0)
    aud = ex.spectrogram(x)
    tail = int(round(ex.tail_s * SR))
    assert aud.shape == (int(np.ceil((len(x) + tail) / 64)), 128)  # 4 ms frames at 16 kHz
    # Peak-normalised input: the level of the file does not matter.
    np.testing.assert_allclose(ex.features(0.1 * x), ex.features(x), rtol=1e-9)


def test_cochlea_compressive_hair_cell_runs():
    f = Cochlea(fac=0.1).features(tone(1000.0))
    assert f.shape == (128,) and np.all(np.isfinite(f))
    with pytest.raises(ValueError, match="hair-cell"):
        Cochlea(fac=-5).features(tone(1000.0))


@pytest.mark.parametrize("rate,scale",
                         [(8.0, 1.0), (-32.0, 4.0), (16.0, 0.5), (-4.0, 0.25), (64.0, 8.0), (-90.5, 2.83)])
def test_stmf_ripple_peaks_at_its_rate_and_scale(rate, scale):
    frames, frame_rate = 500, 250.0
    t = np.arange(frames)[:, None] / frame_rate
    x = np.arange(128)[None, :] / 24.0  # octaves
    aud = 1.0 + np.cos(2 * np.pi * (rate * t + scale * x))
    e = cortical_energy(aud, frame_rate)
    assert e.shape == (128, len(SCALES), len(RATES))
    s, r = np.unravel_index(np.argmax(e.mean(axis=0)), e.shape[1:])
    assert SCALES[s] == scale and RATES[r] == rate
    # Direction selectivity: the mirror rate responds less.
    assert e.mean(axis=0)[s, RATES.index(-rate)] < 0.5 * e.mean(axis=0)[s, r]


def test_stmf_shape_and_layout():
    ex = make_extractor("stmf")
    assert ex.n_features == 128 * 11 * 22 == 30976
    f = ex.features(tone(440.0, 0.25))
    assert f.shape == (30976,) and np.all(f >= 0)
    # Layout (frequency, scale, rate): the 440 Hz tone's energy sits around its channel.
    per_channel = f.reshape(128, 11, 22).sum(axis=(1, 2))
    bf = best_frequencies(ex.cochlea.sigma_low, ex.cochlea.sigma_high)
    assert abs(np.argmax(per_channel) - np.argmin(abs(np.log2(bf / 440.0)))) <= 2


def test_scattering_shape_and_first_order_peak():
    ex = make_extractor("scattering")
    assert (ex.n1, ex.n2, ex.n_fr, ex.n_f) == (86, 20, 7, 11)
    assert ex.n_features == 86 + 20 * 15 * 11 == 3386
    f = ex.features(tone(1000.0, 0.3))
    assert f.shape == (3386,) and np.all(np.isfinite(f)) and np.all(f >= -1e-9)
    s1 = f[: ex.n1]
    centre_hz = np.asarray(ex.xi1) * SR
    assert abs(np.log2(centre_hz[np.argmax(s1)] / 1000.0)) < 1 / 8  # Q1 = 8: within one filter


def test_scattering_amplitude_modulation_shows_in_second_order():
    ex = make_extractor("scattering")
    t = np.arange(int(0.5 * SR)) / SR
    carrier = np.sin(2 * np.pi * 1000 * t)
    steady = ex.features(0.5 * carrier)
    am = ex.features(0.5 * carrier * (1 + 0.9 * np.sin(2 * np.pi * 30 * t)) / 1.9)
    joint = lambda f: f[ex.n1:].reshape(ex.n2, ex.n_paths, ex.n_f)  # noqa: E731
    band = np.asarray(ex.xi2) * SR
    l2 = int(np.argmin(abs(np.log2(band / 30.0))))
    gain = joint(am).sum(axis=(1, 2)) / joint(steady).sum(axis=(1, 2))
    # The 30 Hz modulation adds second-order energy, most at the l2 filters nearest 30 Hz.
    assert gain[l2] > 3
    assert abs(int(np.argmax(gain)) - l2) <= 1
