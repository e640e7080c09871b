"""``mfcc`` and ``mfcc-aligned``: the timbre benchmark's MFCC baselines, computed with librosa.

The benchmark (timbremetrics, tiianhk/timbremetrics) scores MFCC twice: averaged over
frames (its ``time-avg_mfcc``) and compared frame by frame (its ``mfcc``, its best
baseline).  Both use the MFCC of :data:`PARAMETERS`, at each file's own rate (44.1 kHz for
the benchmark's 21 studies; no resampling): 40 coefficients, ``n_fft`` 2048, hop 512, a
periodic Hann window, centred frames padded by *reflection* (librosa's default is zero
padding, the benchmark's torchaudio reflects), the power spectrum mapped on 128 HTK mel
bands without normalisation from 0 Hz to half the rate, ``10 log10(max(1e-10, power))``
(reference 1), clipped 80 dB below the maximum of the sound's whole mel spectrogram, and
the orthonormal DCT-II over the mel axis.  The mel filterbank is kept in float64 (librosa
rounds it to float32 by default), so the coefficients are those of the exact formula.

- :class:`Mfcc` (``mfcc``): the mean over the sound's frames, 40 numbers, stored as they
  are (no per-dataset scaling).
- :class:`MfccAligned` (``mfcc-aligned``): per pair, the shorter sound's audio is padded
  with zeros to the longer one's length and each waveform gets its own MFCC
  (:mod:`timbre_jax_extract.aligned`).  The padded MFCC is not recomputed from scratch
  (:func:`padded_mfcc`): its frames whose window ends inside the sound's audio are the
  sound's own; the few frames whose window reaches the end of the audio (where the own
  MFCC reflects and the padded one sees zeros, or the reflection of the padded end) are
  computed; every later frame is all zeros, mel power 0, i.e. the 1e-10 floor.  The 80 dB
  clip then uses the maximum over the padded spectrogram (own prefix, computed frames and
  the floor), as a full computation would.

Both run their matrix products (at most 1025 frequencies x 128 bands x a few hundred
frames) with BLAS on one thread (:func:`serial_blas`): at that size threads cost more in
synchronisation than they give, and far more on a loaded machine (the 21 studies on 2
shared cores: 34 s with OpenBLAS's default threads, 16 s with one; benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from timbre_jax.core.aligned import AlignedPairs
from timbre_jax.errors import UsageError
from timbre_jax_extract.aligned import aligned_pairs
from timbre_jax_extract.base import Extractor

PARAMETERS = {
    "sample_rate": "each file's own (no resampling)", "n_mfcc": 40, "n_fft": 2048, "hop_length": 512,
    "window": "hann (periodic)", "center": True, "pad_mode": "reflect", "power": 2.0,
    "n_mels": 128, "htk": True, "mel_norm": None, "fmin": 0.0, "fmax": "sample_rate / 2", "mel_dtype": "float64",
    "amin": 1e-10, "ref": 1.0, "top_db": 80.0, "dct_type": 2, "dct_norm": "ortho",
}
"""Everything that sets the coefficients (recorded in each store file's metadata)."""

N_MFCC, N_FFT, HOP, N_MELS = PARAMETERS["n_mfcc"], PARAMETERS["n_fft"], PARAMETERS["hop_length"], PARAMETERS["n_mels"]
HALF = N_FFT // 2
"""Samples of padding at each end of a centred analysis."""


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController  # lazy: with librosa (a dependency of its scikit-learn)

    return ThreadpoolController()


def serial_blas():
    """A context in which the BLAS libraries loaded so far run on one thread."""
    return _controller().limit(limits=1, user_api="blas")


@lru_cache(maxsize=8)
def filterbank(sample_rate: int) -> np.ndarray:
    """The HTK mel filterbank (128, 1025), float64, 0 Hz to ``sample_rate / 2``, unnormalised."""
    import librosa  # lazy: librosa (and numba) load only when a sound is analysed

    return librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=sample_rate / 2,
                               htk=True, norm=None, dtype=np.float64)


@lru_cache(maxsize=1)
def window() -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples (librosa's ``get_window``)."""
    import librosa  # lazy: as above

    return librosa.filters.get_window("hann", N_FFT, fftbins=True).astype(np.float64)


def mel_power(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The mel power spectrogram of ``wave`` (samples,), frames first: (1 + samples // 512, 128)."""
    import librosa  # lazy: as above

    m = librosa.feature.melspectrogram(
        y=np.asarray(wave, dtype=np.float64), sr=sample_rate, n_fft=N_FFT, hop_length=HOP, window="hann",
        center=True, pad_mode="reflect", power=2.0, n_mels=N_MELS, fmin=0.0, fmax=sample_rate / 2, htk=True,
        norm=None, dtype=np.float64)
    return np.ascontiguousarray(m.T)


def decibels(power: np.ndarray) -> np.ndarray:
    """``10 log10(max(amin, power)) - 10 log10(max(amin, ref))`` (librosa's ``power_to_db`` before its clip)."""
    return 10.0 * np.log10(np.maximum(PARAMETERS["amin"], power)) - 10.0 * np.log10(
        max(PARAMETERS["amin"], PARAMETERS["ref"]))


def cepstra(db: np.ndarray, peak: float) -> np.ndarray:
    """The MFCC (frames, 40) of mel decibels ``db`` (frames, 128) clipped ``top_db`` below ``peak``."""
    clipped = np.maximum(db, peak - PARAMETERS["top_db"])
    return scipy.fft.dct(clipped, type=2, norm="ortho", axis=-1)[:, :N_MFCC]


def mfcc(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The MFCC of one sound, frames first: (1 + samples // 512, 40)."""
    db = decibels(mel_power(wave, sample_rate))
    return cepstra(db, float(db.max()))


@dataclass(frozen=True)
class Spectrum:
    """One sound's own analysis, what its padded versions reuse: ``wave`` (samples,),
    ``db`` (T, 128) unclipped mel decibels, ``running_peak`` (T + 1,) the maximum of ``db``
    over the frames before t (-inf at t = 0), ``mfcc`` (T, 40)."""

    wave: np.ndarray
    db: np.ndarray
    running_peak: np.ndarray
    mfcc: np.ndarray


def spectrum(wave: np.ndarray, sample_rate: int) -> Spectrum:
    """The :class:`Spectrum` of one sound: its own MFCC and what :func:`padded_mfcc` reuses."""
    wave = np.asarray(wave, dtype=np.float64)
    db = decibels(mel_power(wave, sample_rate))
    running = np.concatenate([[-np.inf], np.maximum.accumulate(db.max(axis=1))])
    return Spectrum(wave, db, running, cepstra(db, float(running[-1])))


def shared_frames(samples: int) -> int:
    """How many leading frames a sound of ``samples`` shares with any zero-padded version of
    it: those whose window ends inside the audio (t * hop + n_fft / 2 <= samples), when the
    reflected start is the same (samples > n_fft / 2; otherwise none)."""
    if samples <= HALF:
        return 0
    return min(1 + samples // HOP, (samples - HALF) // HOP + 1)


def padded_mfcc(own: Spectrum, length: int, sample_rate: int) -> np.ndarray:
    """The MFCC (1 + length // 512, 40) of ``own.wave`` zero-padded to ``length`` samples,
    equal to :func:`mfcc` of the padded wave (module docstring)."""
    n = len(own.wave)
    if length <= n:
        raise ValueError(f"padding {n} samples to {length}: the padded length must be longer")
    if n <= HALF:  # a reflection of the start that differs from the own one: nothing to share
        z = np.zeros(length)
        z[:n] = own.wave
        return mfcc(z, sample_rate)
    frames = 1 + length // HOP
    shared = shared_frames(n)
    t = np.arange(shared, frames)
    start = t * HOP  # window [start, start + n_fft) in the centred (padded by HALF) signal
    # nonzero samples of the centred padded signal: [0, HALF + n) (the reflected start and the
    # audio) and the reflection of the padded end that reaches back into the audio,
    # [HALF + 2 length - 1 - n, length + n_fft)
    tail = HALF + 2 * length - 1 - n
    live = (start < HALF + n) | (start + N_FFT > tail)
    computed, silent = t[live], t[~live]
    db = np.empty((frames, N_MELS))
    db[:shared] = own.db[:shared]
    peak = own.running_peak[shared]
    if len(computed):
        o = computed[:, None] * HOP + np.arange(N_FFT)[None, :] - HALF  # sample index in the padded wave
        o = np.where(o < 0, -o, o)  # single reflections: length > n > HALF
        o = np.where(o >= length, 2 * (length - 1) - o, o)
        x = np.where(o < n, own.wave[np.minimum(o, n - 1)], 0.0)
        power = np.abs(scipy.fft.rfft(x * window(), axis=-1)) ** 2
        db[computed] = decibels(power @ filterbank(sample_rate).T)
        peak = max(peak, float(db[computed].max()))
    if len(silent):
        db[silent] = decibels(np.zeros(N_MELS))
        peak = max(peak, float(db[silent[0]].max()))
    return cepstra(db, peak)


class Mfcc(Extractor):
    """``mfcc``: the benchmark's time-averaged MFCC, 40 coefficients (module docstring)."""

    name = "mfcc"
    sample_rate = None
    rescale = False
    version = "1"
    n_features = N_MFCC
    layout = ("MFCC coefficient c = 0..39 (orthonormal DCT-II of 128 HTK mel bands in dB, 0 Hz to half the rate), "
              "mean over frames")
    libraries = ("numpy", "scipy", "librosa")
    dimension_names = tuple(f"mfcc {c}" for c in range(N_MFCC))
    dimension_units = ("dB (DCT)",) * N_MFCC
    """A coefficient is an orthonormal DCT of mel-band decibels: a weighted sum of dB."""

    def parameters(self) -> dict:
        return {**PARAMETERS, "pooling": "mean over frames"}

    def embed(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """(40,): the mean over frames of the sound's MFCC at its own ``sample_rate``."""
        with serial_blas():
            return mfcc(x, sample_rate).mean(axis=0)

    def features(self, x: np.ndarray) -> np.ndarray:
        raise UsageError("mfcc takes each file at its own rate: call embed(x, sample_rate)")


class MfccAligned(Mfcc):
    """``mfcc-aligned``: the benchmark's frame-aligned MFCC; :meth:`pairs` gives a study's
    :class:`AlignedPairs` (40 dims), never cached per sound (a pair's frames depend on the pair)."""

    name = "mfcc-aligned"
    aligned = True
    cacheable = False
    layout = ("MFCC coefficient c = 0..39 (orthonormal DCT-II of 128 HTK mel bands in dB), frame by frame; "
              "per pair the shorter sound's audio zero-padded to the longer one's length")

    def parameters(self) -> dict:
        return {**PARAMETERS, "pooling": "none: frame-aligned pairs (the shorter sound's audio zero-padded)"}

    def pairs(self, waves: list[np.ndarray], sample_rate: int, sounds=None) -> AlignedPairs:
        """The aligned pairs of ``waves`` (the study's sounds in order, at ``sample_rate``):
        equal, pair by pair, to padding, two full MFCCs and
        :func:`timbre_jax.core.aligned.compare`."""
        sounds = list(sounds) if sounds is not None else [str(i) for i in range(len(waves))]
        with serial_blas():
            own = [spectrum(w, sample_rate) for w in waves]
            return aligned_pairs([s.mfcc for s in own], [len(w) for w in waves],
                                 lambda i, length: padded_mfcc(own[i], length, sample_rate), sounds)
