"""The timbre benchmark's MFCC (librosa): time-averaged against an independent NumPy/SciPy
computation and librosa itself, frame-aligned pairs against the naive per-pair loop."""

import numpy as np
import pytest
import scipy.fft

librosa = pytest.importorskip("librosa", reason="mfcc needs librosa (the extract extra)")

from conftest import needs_mirror  # noqa: E402
from timbre_jax.core.aligned import compare, from_pairs  # noqa: E402
from timbre_jax.data import audio  # noqa: E402
from timbre_jax.data.sounds import stimuli  # noqa: E402
from timbre_jax_extract.dsp import mfcc as M  # noqa: E402

SR = 44100


def reference_frames(y, sr):
    """MFCC frames (T, 40) written out: reflect-padded centred frames, periodic Hann, |rfft|^2,
    an HTK mel filterbank built here, 10 log10 with floor 1e-10, 80 dB clip, orthonormal DCT-II."""
    n_fft, hop = 2048, 512
    padded = np.pad(y, n_fft // 2, mode="reflect")
    frames = np.stack([padded[t * hop:t * hop + n_fft] for t in range(1 + len(y) // hop)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic: the period is n_fft
    power = np.abs(np.fft.rfft(frames * hann, axis=1)) ** 2
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731 (HTK)
    edges = 700.0 * (10.0 ** (np.linspace(mel(0.0), mel(sr / 2), 130) / 2595.0) - 1.0)
    hz = np.arange(n_fft // 2 + 1) * sr / n_fft
    bank = np.array([np.maximum(0.0, np.minimum((hz - lo) / (mid - lo), (hi - hz) / (hi - mid)))
                     for lo, mid, hi in zip(edges[:-2], edges[1:-1], edges[2:])])
    db = 10.0 * np.log10(np.maximum(1e-10, power @ bank.T))
    db = np.maximum(db, db.max() - 80.0)
    return scipy.fft.dct(db, type=2, norm="ortho", axis=1)[:, :40], db


def close(actual, expected, rtol):
    """Equal to ``rtol`` relative to the largest |expected| (coefficients pass through zero)."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


def tone(seconds=0.61, f0=440.0):
    """A decaying harmonic tone with a silent tail: its high bands fall under the 80 dB clip."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * np.exp(-6 * t)
    x[int(0.5 * SR):] = 0.0
    return 0.3 * x


def mirror_sound(dataset, k=0):
    study = stimuli(dataset)
    x, sr = audio.load(study.files[k])
    return x, sr


def librosa_mfcc(y, sr, dtype=np.float64):
    return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, n_fft=2048, hop_length=512, window="hann", center=True,
                                pad_mode="reflect", power=2.0, n_mels=128, htk=True, mel_norm=None, fmin=0.0,
                                fmax=sr / 2, dtype=dtype, dct_type=2, norm="ortho", lifter=0).T


def test_the_synthetic_tone_reaches_the_clip():
    _, db = reference_frames(tone(), SR)
    assert np.mean(db == db.max() - 80.0) > 0.2  # the clip is exercised, not only the log


@pytest.mark.parametrize("which", ["tone", pytest.param("McAdams1995", marks=needs_mirror)])
def test_mfcc_equals_an_independent_computation(which):
    y, sr = (tone(), SR) if which == "tone" else mirror_sound(which, 3)
    frames, _ = reference_frames(y, sr)
    assert frames.shape == (1 + len(y) // 512, 40)
    close(M.mfcc(y, sr), frames, 1e-8)
    extractor = M.Mfcc()
    close(extractor.embed(y, sr), frames.mean(axis=0), 1e-8)
    assert extractor.embed(y, sr).shape == (extractor.n_features,) == (40,)


@pytest.mark.parametrize("which", ["tone", pytest.param("Grey1977", marks=needs_mirror)])
def test_mfcc_equals_librosa_with_the_benchmark_parameters(which):
    y, sr = (tone(), SR) if which == "tone" else mirror_sound(which, 5)
    close(M.mfcc(y, sr), librosa_mfcc(y, sr), 1e-10)
    # librosa's default float32 filterbank moves the coefficients by rounding only
    close(M.mfcc(y, sr), librosa_mfcc(y, sr, np.float32), 1e-5)


def test_the_parameters_are_recorded():
    p = M.Mfcc().parameters()
    assert (p["n_mfcc"], p["n_fft"], p["hop_length"], p["n_mels"], p["top_db"], p["amin"]) == (40, 2048, 512, 128,
                                                                                               80.0, 1e-10)
    assert (p["pad_mode"], p["htk"], p["mel_norm"], p["dct_norm"], p["pooling"]) == ("reflect", True, None, "ortho",
                                                                                     "mean over frames")
    assert M.Mfcc.sample_rate is None and M.Mfcc.rescale is False and M.Mfcc.cacheable is True
    assert M.MfccAligned.aligned is True and M.MfccAligned.cacheable is False and M.Mfcc.aligned is False
    assert M.MfccAligned().parameters()["pooling"].startswith("none: frame-aligned")


def naive_pairs(waves, sr):
    """The benchmark's rule written out: pad the shorter audio, two full librosa MFCCs, compare."""
    rows = []
    for i, j in zip(*np.triu_indices(len(waves), 1)):
        n = max(len(waves[i]), len(waves[j]))
        a, b = (librosa_mfcc(np.pad(waves[k], (0, n - len(waves[k]))), sr) for k in (i, j))
        rows.append((*compare(a, b), len(a)))
    return from_pairs(rows, len(waves))


def assert_pairs_equal(fast, slow, rtol=1e-9):
    np.testing.assert_array_equal(fast.frames, slow.frames)
    for name in ("squares", "products", "energies"):
        close(getattr(fast, name), getattr(slow, name), rtol)


@pytest.mark.filterwarnings("ignore:n_fft=2048 is too large:UserWarning")  # librosa, on the 700-sample sound
def test_aligned_pairs_equal_the_naive_loop_on_every_kind_of_length():
    """Lengths that reach each case: shorter than half a window (nothing shared), a few
    samples apart (the padded end's reflection reaches back into the audio), a multiple of
    the hop, one window apart, far apart, and equal."""
    rng = np.random.default_rng(7)
    lengths = [700, 1025, 3000, 3001, 3003, 3584, 3584, 4608, 5100, 9000, 20000]
    waves = [tone(n / SR + 1e-9, 200.0 + 37 * k)[:n] + 0.01 * rng.standard_normal(n) for k, n in enumerate(lengths)]
    # a crescendo cut at its loudest: its own last frames (reflected) hold its peak, the padded ones do not
    waves[-2] = rng.standard_normal(lengths[-2]) * np.linspace(0.0, 1.0, lengths[-2]) ** 4
    assert [len(w) for w in waves] == lengths
    fast = M.MfccAligned().pairs(waves, SR)
    assert_pairs_equal(fast, naive_pairs(waves, SR))
    assert fast.n_dims == 40 and fast.n_sounds == len(lengths)


def test_the_padded_tail_is_the_floor():
    """Past the audio and its window, the padded MFCC is that of a constant band vector at
    max(-100 dB, peak - 80 dB): coefficient 0 is sqrt(128) times it, the others 0."""
    y = tone(0.3)
    own = M.spectrum(y, SR)
    padded = M.padded_mfcc(own, 4 * len(y), SR)
    full = M.mfcc(np.pad(y, (0, 3 * len(y))), SR)
    close(padded, full, 1e-9)
    floor = max(-100.0, float(own.db.max()) - 80.0)  # the tail adds no louder frame
    tail = padded[(len(y) + 2048) // 512 + 1:]
    np.testing.assert_allclose(tail[:, 0], np.sqrt(128) * floor, rtol=1e-12)
    np.testing.assert_allclose(tail[:, 1:], 0.0, atol=1e-10)
    # the frames whose window ends inside the audio are the sound's own
    shared = M.shared_frames(len(y))
    assert shared == (len(y) - 1024) // 512 + 1
    close(padded[:shared], M.cepstra(own.db[:shared], float(own.db.max())), 1e-12)


def subset_by_length(dataset, count):
    """``count`` sounds of ``dataset`` of distinct lengths spread over its range of durations
    (shortest and longest included); every sound when ``count`` is None."""
    study = stimuli(dataset)
    waves = [audio.load(f)[0] for f in study.files]
    if count is None:
        return waves
    by_length = {len(w): w for w in waves}  # one sound per length
    lengths = sorted(by_length)
    picked = [lengths[k] for k in np.round(np.linspace(0, len(lengths) - 1, count)).astype(int)]
    return [by_length[n] for n in picked]


@needs_mirror
@pytest.mark.parametrize("dataset, count", [("Patil2012_A3", None), ("Iverson1993_Whole", 7),
                                            ("Lakatos2000_Comb", 5)])
def test_aligned_pairs_equal_the_naive_loop_on_real_studies(dataset, count):
    """Patil2012_A3: 11 sounds of one length (no padding); Iverson1993_Whole: the widest spread
    of durations of the 21 studies (2.0 s to 4.4 s); Lakatos2000_Comb: lengths a few samples
    apart.  The benchmark (benchmarks/mfcc.py) checks all 2,614 pairs of the 21 studies."""
    waves = subset_by_length(dataset, count)
    fast = M.MfccAligned().pairs(waves, SR)
    assert_pairs_equal(fast, naive_pairs(waves, SR))
    if dataset == "Patil2012_A3":  # one length: every pair compares the two sounds' own MFCCs
        own = [M.mfcc(w, SR) for w in waves]
        np.testing.assert_allclose(fast.squares[0], ((own[0] - own[1]) ** 2).sum(axis=0), rtol=1e-12)
    else:  # lengths that differ, so that every pair takes the padded path
        assert len({len(w) for w in waves}) == count
