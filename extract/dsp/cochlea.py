"""``cochlea``: time-averaged auditory spectrogram (128 channels).

This follows the early auditory stage of Chi, Ru & Shamma (2005), as implemented by
``wav2aud`` in the NSL toolbox and used by Thoret et al. (2021), written from the
published description (the NSL filter coefficient table ``COCHBA`` is not used):

1. **Input**: 16 kHz mono, peak-normalised to ``1 / 1.01``; ``tail_s`` seconds of
   silence are appended (upstream appended 16000 zero samples to the 44.1 kHz file,
   i.e. 0.363 s), so that the integrator's decay after the sound is captured.
2. **Cochlear filter bank**: 129 asymmetric constant-Q band-pass filters with centre
   frequencies ``CF_k = 440 * 2 ** ((k - 31) / 24)``, ``k = 0..128`` (24 per octave,
   180 Hz to 7.25 kHz).  On the log-frequency axis ``u = log2(f / CF_k)`` (octaves)
   each filter's gain is ``exp(-u**2 / (2 * sigma_low**2))`` below CF (a shallow
   low-frequency tail, ``sigma_low = 0.15`` octave) and ``exp(-u**2 / (2 * sigma_high**2))``
   above it (the steep high-frequency edge of cochlear tuning, ``sigma_high = 1/24``
   octave), i.e. the same shape for every channel, so the bank is constant-Q.  The
   filters are zero-phase and applied in the Fourier domain.  These two widths were
   chosen among a few candidates as those whose time-averaged output correlates best
   with the upstream (NSL) features (mean per-sound Pearson r 0.87-0.91 on Barthet2010,
   Grey1977, Iverson1993_Whole, Patil2012_GD4).
3. **Hair cell**: ``fac`` selects NSL's transduction non-linearity: ``-2`` linear (the
   value Thoret et al. and Pascal & Lagrange used, the default), ``-1`` half-wave
   rectifier, ``0`` hard limiter, ``> 0`` logistic compression ``1 / (1 + exp(-y / fac))``
   of the unit-variance signal (NSL's typical compressive value is 0.1), followed by the
   hair-cell membrane low-pass (0.5 ms time constant).
4. **Lateral inhibition**: difference between adjacent channels ``y_k - y_{k+1}``
   (128 outputs), half-wave rectified.
5. **Leaky integration**: first-order low-pass with an 8 ms time constant, sampled every
   4 ms (250 frames/s), as upstream (``frame_length = 1000 / 250`` ms, ``tc = 8`` ms).

The feature is the mean over frames of the 128 channels, ordered from low to high
frequency: channel ``k`` is the LIN output of filters ``k`` and ``k + 1``.  As in NSL, it
responds most to a pure tone on the steep upper edge of filter ``k + 1``, at
:func:`best_frequencies` ``~ 440 * 2 ** ((k - 30) / 24)`` Hz (185 Hz .. 7.25 kHz),
one channel above NSL's nominal ``CF_k``; the upstream features show the same shift (the
311 Hz Grey (1977) tones peak in channel 18, whose nominal CF is 302 Hz).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

from timbre_jax_extract.base import Extractor

N_CHANNELS = 128
CHANNELS_PER_OCTAVE = 24


def center_frequencies(n_filters: int = N_CHANNELS + 1) -> np.ndarray:
    """CF of the cochlear filters in Hz: ``440 * 2 ** ((k - 31) / 24)``."""
    return 440.0 * 2.0 ** ((np.arange(n_filters) - 31) / CHANNELS_PER_OCTAVE)


def _shape(u: np.ndarray, sigma_low: float, sigma_high: float) -> np.ndarray:
    """Gain of one filter at ``u`` octaves from its peak: shallow below, steep above."""
    sigma = np.where(u <= 0, sigma_low, sigma_high)
    return np.exp(-0.5 * (u / sigma) ** 2)


def lin_offset(sigma_low: float, sigma_high: float) -> float:
    """Offset u* (octaves above a filter's peak) of the tone that most excites the LIN pair.

    LIN channel ``k`` is filter ``k`` minus filter ``k + 1`` (1/24 octave higher); for a tone
    at ``u`` octaves above the peak of filter ``k + 1`` its gain is
    ``|g(u + 1/24) - g(u)|``, largest on the steep high-frequency edge.
    """
    u = np.linspace(-0.5, 0.5, 200001)
    d = np.abs(_shape(u + 1.0 / CHANNELS_PER_OCTAVE, sigma_low, sigma_high) - _shape(u, sigma_low, sigma_high))
    return float(u[np.argmax(d)])


def best_frequencies(sigma_low: float, sigma_high: float) -> np.ndarray:
    """Frequency (Hz) of the pure tone that excites each LIN channel most (128 values).

    As in NSL, LIN channel ``k`` (filter ``k`` minus filter ``k + 1``) responds most on the
    steep high-frequency edge of filter ``k + 1``: at ``CF_{k+1} * 2 ** u*``, about one
    channel above ``CF_k``.
    """
    return center_frequencies()[1:] * 2.0 ** lin_offset(sigma_low, sigma_high)


def filter_bank(n_fft: int, sample_rate: int, sigma_low: float, sigma_high: float) -> np.ndarray:
    """Gains (129, n_fft // 2 + 1) of the asymmetric constant-Q filters on the rfft grid."""
    f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    cf = center_frequencies()
    with np.errstate(divide="ignore"):
        u = np.log2(np.maximum(f, 1e-12)[None, :] / cf[:, None])
    h = _shape(u, sigma_low, sigma_high)
    h[:, 0] = 0.0
    return h


def hair_cell(y: np.ndarray, fac: float, sample_rate: int) -> np.ndarray:
    """NSL's hair-cell transduction (``sigmoid``) plus, when non-linear, the membrane low-pass."""
    if fac == -2:
        return y
    if fac == -1:
        out = np.maximum(y, 0.0)
    elif fac == 0:
        out = (y > 0).astype(y.dtype)
    elif fac > 0:
        out = 0.5 * (1.0 + np.tanh(y / (2.0 * fac)))  # = 1 / (1 + exp(-y / fac)), overflow-free
    else:
        raise ValueError(f"cochlea: unsupported hair-cell factor fac={fac}; use -2, -1, 0 or > 0")
    beta = math.exp(-1.0 / (0.5e-3 * sample_rate))  # 0.5 ms membrane time constant
    return lfilter([1.0], [1.0, -beta], out, axis=-1)


class Cochlea(Extractor):
    name = "cochlea"
    sample_rate = 16000
    version = "1"
    n_features = N_CHANNELS
    layout = ("LIN channel k = 0..127 (filters k, k+1; nominal CF_k = 440*2**((k-31)/24) Hz); "
              "best frequency ~ 440*2**((k-30)/24) Hz, 185 Hz .. 7.25 kHz")

    def __init__(self, *, frame_ms: float = 4.0, tc_ms: float = 8.0, fac: float = -2.0,
                 sigma_low: float = 0.15, sigma_high: float = 1.0 / 24, tail_s: float = 16000 / 44100,
                 peak: float = 1.0 / 1.01):
        self.frame_ms, self.tc_ms, self.fac = frame_ms, tc_ms, fac
        self.sigma_low, self.sigma_high, self.tail_s, self.peak = sigma_low, sigma_high, tail_s, peak

    def parameters(self) -> dict:
        return {"sample_rate": self.sample_rate, "frame_ms": self.frame_ms, "tc_ms": self.tc_ms,
                "fac": self.fac, "sigma_low_oct": self.sigma_low, "sigma_high_oct": self.sigma_high,
                "channels_per_octave": CHANNELS_PER_OCTAVE, "cf_formula": "440*2**((k-31)/24)",
                "tail_s": self.tail_s, "peak": self.peak, "pooling": "mean over frames"}

    def prepare(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        x = self.peak * x / (np.max(np.abs(x)) + np.finfo(float).eps)
        return np.concatenate([x, np.zeros(int(round(self.tail_s * self.sample_rate)))])

    def spectrogram(self, x: np.ndarray, *, prepared: bool = False) -> np.ndarray:
        """Auditory spectrogram (frames, 128) of a 16 kHz waveform (NSL ``wav2aud``)."""
        sr = self.sample_rate
        if not prepared:
            x = self.prepare(x)
        frame = int(round(self.frame_ms * sr / 1000))
        n_frames = math.ceil(len(x) / frame)
        x = np.concatenate([x, np.zeros(n_frames * frame - len(x))])
        if self.fac > 0:  # NSL's compression expects a unit-variance input
            x = x / (np.std(x) + np.finfo(float).eps)
        n_fft = 1 << (len(x) - 1).bit_length()
        spec = np.fft.rfft(x, n_fft)
        bank = filter_bank(n_fft, sr, self.sigma_low, self.sigma_high)
        y = np.fft.irfft(bank * spec[None, :], n_fft, axis=-1)[:, : len(x)]
        y = hair_cell(y, self.fac, sr)
        lin = np.maximum(y[:-1] - y[1:], 0.0)
        if self.tc_ms:
            alpha = math.exp(-1.0 / (self.tc_ms * sr / 1000))
            lin = lfilter([1.0], [1.0, -alpha], lin, axis=-1)
            out = lin[:, frame - 1 :: frame]
        else:
            out = lin.reshape(lin.shape[0], n_frames, frame).mean(axis=-1)
        return np.ascontiguousarray(out.T)

    def features(self, x: np.ndarray) -> np.ndarray:
        return self.spectrogram(x).mean(axis=0)
