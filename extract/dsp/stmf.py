"""``stmf``: spectro-temporal modulation features of the cortical model (30976 values).

The auditory spectrogram of :mod:`timbre_jax_extract.dsp.cochlea` (250 frames/s, 128 channels at 24 per
octave) is filtered by the 2-D cortical filters of Chi, Ru & Shamma (2005), at the
scales and rates used by Patil et al. (2012) and Thoret et al. (2021):

- scales ``Omega`` (cycles/octave): 0.25, 0.35, 0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8;
- rates ``omega`` (Hz): -128, -90.5, -64, -45.3, -32, -22.6, -16, -11.3, -8, -5.7, -4,
  4, 5.7, 8, 11.3, 16, 22.6, 32, 45.3, 64, 90.5, 128.

Each filter is separable in the 2-D Fourier domain of the auditory spectrogram:

- temporal (rate) filter: the Fourier transform of the causal gammatone-like seed
  ``h(t) = (w t)**2 exp(-3.5 w t) sin(2 pi w t)`` (``w = |rate|``, mean removed), scaled to
  unit peak magnitude and kept on positive temporal frequencies only for a positive rate,
  on negative ones (complex-conjugate mirror) for a negative rate;
- spectral (scale) filter: ``R**2 exp(1 - R**2)``, ``R = Omega_k / Omega`` (zero phase,
  unit peak at ``Omega``), kept on positive spectral frequencies only.

Both are one-sided, so each output is complex (analytic) and its modulus is the local
modulation energy; the spectrogram is zero-padded to twice the next power of two in both
axes before filtering (no circular wrap).  Sign convention: a ripple
``cos(2 pi (omega t + Omega x))`` (``x`` in octaves) lies in the quadrant of positive
rate and positive scale; its peaks move towards lower frequencies over time, so
**positive rates are downward-moving ripples, negative rates upward-moving ones**
(NSL's convention).

The feature is the time average of the modulus, shape (128 frequency channels,
11 scales, 22 rates), flattened in C order: ``index = (f * 11 + s) * 22 + r`` with ``f``
the cochlear channel, ``s`` the scale index and ``r`` the rate index in the orders above.
"""

from __future__ import annotations

import numpy as np

from timbre_jax_extract.base import Extractor
from timbre_jax_extract.dsp.cochlea import CHANNELS_PER_OCTAVE, N_CHANNELS, Cochlea

SCALES = (0.25, 0.35, 0.50, 0.71, 1.0, 1.41, 2.00, 2.83, 4.00, 5.66, 8.00)
RATES = (-128, -90.5, -64, -45.3, -32, -22.6, -16, -11.3, -8, -5.70, -4,
         4, 5.70, 8, 11.3, 16, 22.6, 32, 45.3, 64, 90.5, 128)


def _next_pow2(n: int) -> int:
    return 1 << (max(int(n), 1) - 1).bit_length()


def rate_filters(nfft: int, frame_rate: float, rates=RATES) -> np.ndarray:
    """(n_rates, nfft) complex frequency responses of the one-sided temporal filters."""
    out = np.zeros((len(rates), nfft), dtype=np.complex128)
    half = nfft // 2
    for i, rate in enumerate(rates):
        t = np.arange(half) / frame_rate * abs(rate)
        h = np.sin(2 * np.pi * t) * t**2 * np.exp(-3.5 * t)
        h = h - h.mean()
        spec = np.fft.fft(h, nfft)
        spec = spec / np.max(np.abs(spec[:half]))
        if rate > 0:
            out[i, 1:half] = spec[1:half]
        else:
            out[i, nfft - half + 1:] = np.conj(spec[1:half][::-1])
    return out


def scale_filters(nfft: int, channels_per_octave: float = CHANNELS_PER_OCTAVE, scales=SCALES) -> np.ndarray:
    """(n_scales, nfft) real frequency responses of the one-sided spectral filters."""
    half = nfft // 2
    omega = np.arange(half) / nfft * channels_per_octave  # cycles / octave
    out = np.zeros((len(scales), nfft))
    for i, scale in enumerate(scales):
        r = omega / scale
        out[i, :half] = r**2 * np.exp(1 - r**2)
    return out


def cortical_energy(aud: np.ndarray, frame_rate: float, scales=SCALES, rates=RATES) -> np.ndarray:
    """Time-averaged modulus of the cortical filter outputs: (channels, scales, rates)."""
    import torch  # lazy: torch loads when a sound is analysed, not with the package

    aud = np.asarray(aud, dtype=np.float64)
    n_t, n_f = aud.shape
    nfft_t, nfft_f = 2 * _next_pow2(n_t), 2 * _next_pow2(n_f)
    hs = torch.as_tensor(scale_filters(nfft_f, scales=scales))
    hr = torch.as_tensor(rate_filters(nfft_t, frame_rate, rates=rates))
    a = torch.as_tensor(aud)
    # Spectral (scale) filtering first: (scales, T, F) complex, cropped to the F channels.
    spec_f = torch.fft.fft(a, n=nfft_f, dim=1)
    by_scale = torch.fft.ifft(spec_f[None] * hs[:, None, :], dim=2)[:, :, :n_f]
    out = np.empty((n_f, len(scales), len(rates)))
    for s in range(len(scales)):
        spec_t = torch.fft.fft(by_scale[s], n=nfft_t, dim=0)  # (nfft_t, F)
        y = torch.fft.ifft(spec_t[None] * hr[:, :, None], dim=1)[:, :n_t, :]  # (rates, T, F)
        out[:, s, :] = y.abs().mean(dim=1).T.numpy()
    return out


class Stmf(Extractor):
    name = "stmf"
    sample_rate = 16000
    version = "1"
    n_features = N_CHANNELS * len(SCALES) * len(RATES)
    layout = ("(128 cochlear channels, 11 scales, 22 rates) flattened in C order: "
              "index = (f * 11 + s) * 22 + r; scales " + ",".join(map(str, SCALES))
              + " cyc/oct; rates " + ",".join(map(str, RATES)) + " Hz (positive = downward)")
    libraries = ("numpy", "scipy", "torch")

    def __init__(self, **cochlea_kwargs):
        self.cochlea = Cochlea(**cochlea_kwargs)

    def parameters(self) -> dict:
        return {"cochlea": self.cochlea.parameters(), "cochlea_version": self.cochlea.version,
                "scales_cyc_per_oct": list(SCALES), "rates_hz": list(RATES),
                "rate_filter": "FT of (wt)^2 exp(-3.5wt) sin(2 pi wt), one-sided",
                "scale_filter": "R^2 exp(1-R^2), one-sided", "padding": "2 * next_pow2 per axis",
                "pooling": "mean over frames of |output|", "order": "frequency, scale, rate"}

    def features(self, x: np.ndarray) -> np.ndarray:
        aud = self.cochlea.spectrogram(x)
        frame_rate = 1000.0 / self.cochlea.frame_ms
        return cortical_energy(aud, frame_rate).reshape(-1)
