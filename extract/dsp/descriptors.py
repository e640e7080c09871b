"""``descriptors``: the classic audio descriptors of timbre research, each dimension named.

The definitions are those of the Timbre Toolbox (Peeters, Giordano, Susini, Misdariis &
McAdams 2011, JASA 130(5):2902-2916), written out in NumPy/SciPy (librosa's rolloff,
flatness and flux are other definitions, and its first call compiles).  One sound ``x``
(samples,) at 44.1 kHz gives 31 numbers (:data:`NAMES`, :data:`UNITS`).  The sound is first
high-passed at 20 Hz (2nd-order Butterworth, zero-phase, mirrored ends; a constant is kept): an
inaudible DC offset would move the zero-crossing rate, rolloff and decrease (McAdams1995's
stimuli carry one; Lakatos2000's ViolinMartele one that stops at its digital silence).

**Frames** (22 numbers).  Centred frames of 2048 samples, hop 512, the sound zero-padded by
1024 at each end; ``X(k)`` the rfft of the Hann-windowed frame, ``a_k = |X(k)|``, ``P_k =
a_k^2``, ``f_k = k sr / 2048`` (k = 0..1024).  Only *non-silent* frames count: those whose
windowed energy ``sum P`` is within 60 dB of the loudest frame's.  With ``p_k = a_k / sum a``:

- spectral centroid ``mu1 = sum f_k p_k`` (Hz), spread ``mu2 = sqrt(sum (f_k - mu1)^2 p_k)``
  (Hz), skewness ``sum (f_k - mu1)^3 p_k / mu2^3``, kurtosis ``sum (f_k - mu1)^4 p_k / mu2^4``;
- decrease ``sum_{k>=1} (a_k - a_0) / k / sum_{k>=1} a_k``.  The Toolbox's spectral slope
  is left out: the least-squares slope of ``p_k`` on ``f_k`` is ``(mu1 - mean f) / sum (f_k -
  mean f)^2`` (``sum p = 1``), an affine function of the centroid in every frame, so its median
  and IQR would repeat the centroid's after the per-study standardization and split its
  weight with it arbitrarily;
- rolloff: the lowest ``f_k`` with 95% of ``sum P`` at or below it (Hz);
- flatness ``10 log10(exp(mean log P) / mean P)`` (dB: 0 for a flat spectrum, -2.5 dB
  expected for white noise, whose bins are exponential; ``P`` floored at 1e-10 of its mean)
  and crest ``max P / mean P``;
- flux (the Toolbox's spectral variation) ``1 - <a_{t-1}, a_t> / (|a_{t-1}| |a_t|)`` over
  consecutive non-silent frames (0 where there is one);
- RMS energy ``20 log10 sqrt(mean x^2)`` of the unwindowed frame (dB re full scale);
- zero-crossing rate: sign changes in the frame (0 counts as positive) times sr / 2048
  (per second: a sine of f Hz gives 2 f).

Each is summarised by its median and its interquartile range (75th minus 25th percentile)
over the non-silent frames: where it sits and how much it moves.

**Envelope** (3 numbers).  ``e``: ``|x|`` averaged over blocks of 32 samples, low-passed
zero-phase (2nd-order Butterworth at 30 Hz, forwards and backwards, mirrored ends): the
amplitude envelope (``2 A(t) / pi`` for a tone of slowly changing amplitude ``A``; the
Toolbox's "energy envelope" is the analytic signal's amplitude, which it follows).  The
smoothing removes the beating of partials above about 50 Hz and shifts no time.

- log attack time ``log10(t90 - t10)``, ``t_q`` the first time ``e`` reaches ``q`` times its
  maximum (linear between values): a linear amplitude ramp of T s gives ``log10(0.8 T)``.
  The smoothing spreads an instantaneous onset over the filters' own 10-90% rise
  (:func:`attack_floor`, 16 ms): a shorter attack time reads as that floor;
- temporal centroid ``sum (t - t0) e / sum e`` (s) over the values of ``e`` at or above 15%
  of its maximum, ``t0`` the first of them (leading silence does not count);
- effective duration: the time ``e`` spends at or above 40% of its maximum (s).

**Harmonics** (6 numbers).  Frames of 4096 samples, hop 1024 (10.8 Hz bins: the partials
of a 50 Hz tone stay apart), non-silent as above.  In each, YIN (de Cheveigne & Kawahara
2002, JASA 111(4)) on a 1024-sample window: ``d(tau) = sum_j (x_j - x_{j+tau})^2``,
``d'(tau) = d(tau) tau / sum_{1..tau} d``; over periods of 50 Hz to 2 kHz, ``tau*`` the
minimum of the first dip of ``d'`` under 0.2 (else the lowest ``d'``), refined by a
parabola; the frame's f0 is ``sr / tau*``, its periodicity ``1 - d'(tau*)`` (in 0..1).

- periodicity: its median over the non-silent frames (1 for a steady tone, about 0.1 for
  white noise).  A sound of periodicity >= 0.8 (half its frames or more periodic) is
  *pitched*; its periodic frames (``d'(tau*) <= 0.2``) give the rest, each the median over
  them: harmonic h = 1..20 (below 21 kHz) is the largest peak within ``h f0 +- f0 / 4``
  (:func:`partials`: frequency ``f_h``, amplitude ``a_h``), and the frame's f0 is refitted
  to its partials, ``F = sum a_h^2 h f_h / sum a_h^2 h^2`` (so that YIN's small errors do
  not read as inharmonicity);
- inharmonicity ``2 / F * sum |f_h - h F| a_h^2 / sum a_h^2`` (0 for a harmonic sound);
- odd-to-even ratio ``10 log10(sum_{h odd} a_h^2 / sum_{h even} a_h^2)`` (dB; each sum
  floored at 1e-6 of the two together, so within +-60 dB: the "even harmonics" of a pure
  sine are window leakage, not a level);
- tristimulus (Pollard & Jansson 1982) ``a_1 / sum a``, ``(a_2 + a_3 + a_4) / sum a``,
  ``sum_{h>=5} a_h / sum a``.

An unpitched sound (noise, a click, most drums) has no partials to measure; it gets the
values that favour no side (:data:`NEUTRAL`): inharmonicity 0, odd-to-even 0 dB (ratio 1),
tristimulus 1/3 each, and its periodicity says that they were not measured.  Never NaN.

The fundamental itself is *not* a descriptor: pitch is not timbre, and a metric that could
weigh it would fit a study's pitch differences (``crepe`` is the pitch control).  Every
value is finite for any non-silent input (the pipeline refuses silence).  The pipeline
standardizes each descriptor per study (``Extractor.standardize``) and keeps these raw
values in the store's metadata.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.signal

from timbre_jax_extract.base import Extractor
from timbre_jax_extract.dsp.mfcc import serial_blas

SAMPLE_RATE = 44100
N_FFT, HOP = 2048, 512
SILENCE_DB = 60.0
HIGHPASS_HZ, HIGHPASS_ORDER, DC_LEFT = 20.0, 2, 1e-6
ROLLOFF = 0.95
POWER_FLOOR = 1e-10
ENVELOPE_CUTOFF_HZ, ENVELOPE_ORDER, ENVELOPE_BLOCK = 30.0, 2, 32
ATTACK, CENTROID_THRESHOLD, EFFECTIVE_THRESHOLD = (0.1, 0.9), 0.15, 0.4
N_HARM_FFT, HARM_HOP, YIN_WINDOW = 4096, 1024, 1024
F0_RANGE, APERIODICITY = (50.0, 2000.0), 0.2
N_HARMONICS, HARMONIC_SEARCH, HARMONIC_CEILING_HZ = 20, 0.25, 21000.0
ODD_EVEN_FLOOR = 1e-6

PARAMETERS = {
    "sample_rate": SAMPLE_RATE, "highpass": f"Butterworth order {HIGHPASS_ORDER} at {HIGHPASS_HZ} Hz, zero-phase, "
    "mirrored ends (unless nothing is left)", "n_fft": N_FFT, "hop_length": HOP, "window": "hann (periodic)",
    "center": "zero-padded by n_fft / 2",
    "silent_frames": f"windowed energy more than {SILENCE_DB} dB under the loudest frame's",
    "magnitude": "amplitude for moments, decrease, flux; power for rolloff, flatness (dB), crest",
    "rolloff": ROLLOFF, "power_floor": POWER_FLOOR, "summary": "median and IQR over the non-silent frames",
    "envelope": f"|x| averaged over blocks of {ENVELOPE_BLOCK}, Butterworth order {ENVELOPE_ORDER} low-pass at "
                f"{ENVELOPE_CUTOFF_HZ} Hz, zero-phase, mirrored ends", "attack": list(ATTACK),
    "temporal_centroid_threshold": CENTROID_THRESHOLD, "effective_duration_threshold": EFFECTIVE_THRESHOLD,
    "harmonic_n_fft": N_HARM_FFT, "harmonic_hop": HARM_HOP, "yin_window": YIN_WINDOW, "f0_range_hz": list(F0_RANGE),
    "aperiodicity_threshold": APERIODICITY, "n_harmonics": N_HARMONICS, "harmonic_search": "+- f0 / 4",
    "harmonic_ceiling_hz": HARMONIC_CEILING_HZ, "odd_even_floor": ODD_EVEN_FLOOR,
    "unpitched": "inharmonicity 0, odd-to-even 0 dB, tristimulus 1/3 each",
}
"""Everything that sets the values (recorded in each store file's metadata; in the cache key)."""

FRAME_DESCRIPTORS = (("spectral centroid", "Hz"), ("spectral spread", "Hz"), ("spectral skewness", ""),
                     ("spectral kurtosis", ""), ("spectral decrease", ""),
                     ("spectral rolloff", "Hz"), ("spectral flatness", "dB"), ("spectral crest", ""),
                     ("spectral flux", ""), ("RMS energy", "dB"), ("zero-crossing rate", "1/s"))
"""The per-frame descriptors (name, unit), each given as its median and its IQR."""
ENVELOPE_DESCRIPTORS = (("log attack time", "log10(s)"), ("temporal centroid", "s"), ("effective duration", "s"))
HARMONIC_DESCRIPTORS = (("periodicity", ""), ("inharmonicity", ""), ("odd-to-even ratio", "dB"),
                        ("tristimulus 1", ""), ("tristimulus 2", ""), ("tristimulus 3", ""))
NEUTRAL = {"inharmonicity": 0.0, "odd-to-even ratio": 0.0, **{f"tristimulus {i}": 1 / 3 for i in (1, 2, 3)}}
"""The harmonic descriptors of an unpitched sound (module docstring)."""

_SUMMARIES = tuple((f"{name} ({s})", unit) for name, unit in FRAME_DESCRIPTORS for s in ("median", "IQR"))
NAMES = tuple(n for n, _ in (*_SUMMARIES, *ENVELOPE_DESCRIPTORS, *HARMONIC_DESCRIPTORS))
UNITS = tuple(u for _, u in (*_SUMMARIES, *ENVELOPE_DESCRIPTORS, *HARMONIC_DESCRIPTORS))


def frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Centred frames (1 + samples // hop, length) of ``x`` zero-padded by length // 2 (a view)."""
    padded = np.pad(np.asarray(x, dtype=np.float64), (length // 2, length // 2))
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::hop][:1 + len(x) // hop]


def loud(energy: np.ndarray) -> np.ndarray:
    """Which frames (m,) of windowed ``energy`` (m,) are within 60 dB of the loudest one."""
    return energy >= energy.max() * 10.0 ** (-SILENCE_DB / 10.0)


def _ratio(num, den):
    """num / den, 0 where den is 0 (an undefined moment or shift reads as none)."""
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


@lru_cache(maxsize=4)
def bin_sums(sr: int) -> tuple[np.ndarray, np.ndarray]:
    """The bin frequencies f (bins,) and the weights (bins, 6) whose product with a magnitude
    spectrum gives its sums of 1, f, f^2, f^3, f^4 and 1/k (k >= 1) in one pass."""
    f = np.arange(N_FFT // 2 + 1) * sr / N_FFT
    k = np.arange(len(f))
    inverse = np.divide(1.0, k, out=np.zeros(len(f)), where=k > 0)
    return f, np.stack([np.ones_like(f), f, f ** 2, f ** 3, f ** 4, inverse], axis=1)


def spectral_frames(x: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The per-frame descriptors of ``x`` (samples,): name -> values over its non-silent frames
    (m,) (the flux: over its consecutive pairs of them, m - 1, at least 1)."""
    window = scipy.signal.windows.hann(N_FFT, sym=False)  # periodic
    power = np.abs(scipy.fft.rfft(frames(x, N_FFT, HOP) * window, axis=1)) ** 2
    keep = loud(power.sum(axis=1))
    power = power[keep]
    a = np.sqrt(power)
    f, weights = bin_sums(sr)
    sums = a @ weights  # (m, 6)
    total = sums[:, 0]
    mu1, e2, e3, e4 = (sums[:, j] / total for j in (1, 2, 3, 4))
    mu2 = np.sqrt(np.maximum(e2 - mu1 ** 2, 0.0))  # central moments from raw ones: 2e-7 at worst (a pure 20 kHz)
    m3 = e3 - 3.0 * mu1 * e2 + 2.0 * mu1 ** 3
    m4 = e4 - 4.0 * mu1 * e3 + 6.0 * mu1 ** 2 * e2 - 3.0 * mu1 ** 4
    k = len(f)
    decrease = _ratio(sums[:, 5] - a[:, 0] * weights[:, 5].sum(), total - a[:, 0])
    cum = np.cumsum(power, axis=1)
    rolloff = f[np.argmax(cum >= ROLLOFF * cum[:, -1:], axis=1)]
    mean = cum[:, -1] / k
    log = np.log(np.maximum(power, POWER_FLOOR * mean[:, None]))
    flatness = (10.0 / np.log(10.0)) * (log.mean(axis=1) - np.log(mean))  # dB
    pairs = np.flatnonzero(np.diff(np.flatnonzero(keep)) == 1)  # consecutive frames, both non-silent
    norms = np.sqrt(cum[:, -1])
    flux = 1.0 - np.einsum("ij,ij->i", a[pairs], a[pairs + 1]) / (norms[pairs] * norms[pairs + 1])
    # frame sums of x^2 and of sign changes between neighbouring samples, from running sums
    start = np.flatnonzero(keep) * HOP  # frame t covers samples [t hop - n_fft / 2, t hop + n_fft / 2)
    padded = np.pad(np.asarray(x, dtype=np.float64), (N_FFT // 2, N_FFT // 2))
    squares = np.concatenate([[0.0], np.cumsum(padded ** 2)])
    rms = np.sqrt(np.maximum(squares[start + N_FFT] - squares[start], 0.0) / N_FFT)
    changes = np.concatenate([[0], np.cumsum(np.diff(padded >= 0.0))])
    crossings = changes[start + N_FFT - 1] - changes[start]
    return {
        "spectral centroid": mu1, "spectral spread": mu2, "spectral skewness": _ratio(m3, mu2 ** 3),
        "spectral kurtosis": _ratio(m4, mu2 ** 4), "spectral decrease": decrease,
        "spectral rolloff": rolloff, "spectral flatness": flatness, "spectral crest": power.max(axis=1) / mean,
        "spectral flux": np.clip(flux, 0.0, 1.0) if len(flux) else np.zeros(1),
        "RMS energy": 20.0 * np.log10(np.maximum(rms, 1e-300)),
        "zero-crossing rate": crossings * sr / N_FFT,
    }


@lru_cache(maxsize=8)
def butterworth(order: int, hz: float, btype: str, fs: float) -> np.ndarray:
    """A Butterworth filter's second-order sections (the high-pass and the envelope's low-pass)."""
    return scipy.signal.butter(order, hz, btype=btype, fs=fs, output="sos")


def audible(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` (samples,) high-passed at 20 Hz, zero-phase, mirrored over 3 / 20 s at each end (as
    it is where nothing would be left)."""
    x = np.asarray(x, dtype=np.float64)
    sos = butterworth(HIGHPASS_ORDER, HIGHPASS_HZ, "highpass", sr)  # mirrored ends: no edge transient
    out = scipy.signal.sosfiltfilt(sos, x, padtype="even", padlen=min(len(x) - 1, int(3 * sr / HIGHPASS_HZ)))
    return out if np.max(np.abs(out)) > DC_LEFT * np.max(np.abs(x)) else x


def envelope(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The smoothed amplitude envelope e (ceil(samples / 32),) of ``x``, >= 0, one value per
    block of 32 samples (module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    blocks = -(-len(x) // ENVELOPE_BLOCK)
    sums = np.pad(np.abs(x), (0, blocks * ENVELOPE_BLOCK - len(x))).reshape(blocks, ENVELOPE_BLOCK).sum(axis=1)
    rectified = sums / np.minimum(ENVELOPE_BLOCK, len(x) - ENVELOPE_BLOCK * np.arange(blocks))  # the last: its own
    if blocks < 2:
        return rectified
    rate = sr / ENVELOPE_BLOCK  # mirrored ends: a sound cut at full level stays level, no overshoot
    sos = butterworth(ENVELOPE_ORDER, ENVELOPE_CUTOFF_HZ, "lowpass", rate)
    padlen = min(blocks - 1, int(3 * rate / ENVELOPE_CUTOFF_HZ))
    return np.maximum(scipy.signal.sosfiltfilt(sos, rectified, padtype="even", padlen=padlen), 0.0)


def _first_reach(e: np.ndarray, level: float) -> float:
    """The first time, in samples, that ``e`` reaches ``level`` (linear between samples; 0 at once)."""
    i = int(np.argmax(e >= level))
    if i == 0:
        return 0.0
    return i - 1 + (level - e[i - 1]) / (e[i] - e[i - 1])


def attack_time(e: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """Seconds from the first time the envelope ``e`` reaches 10% of its maximum to the first
    time it reaches 90% (linear between values)."""
    top = e.max()
    return (_first_reach(e, ATTACK[1] * top) - _first_reach(e, ATTACK[0] * top)) * ENVELOPE_BLOCK / sr


@lru_cache(maxsize=2)
def attack_floor(sr: int = SAMPLE_RATE) -> float:
    """The attack time (s) read from an instantaneous onset (a 1 kHz sine starting at once, high-
    passed as every sound is): the shortest the envelope can tell, and every attack time's floor."""
    t = np.arange(sr) / sr
    return attack_time(envelope(audible(np.where(t >= 0.5, np.sin(2 * np.pi * 1000.0 * t), 0.0), sr), sr), sr)


def envelope_descriptors(x: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Log attack time, temporal centroid and effective duration of ``x`` (module docstring)."""
    e = envelope(x, sr)
    step = ENVELOPE_BLOCK / sr  # seconds between envelope values
    top = e.max()
    above = np.flatnonzero(e >= CENTROID_THRESHOLD * top)
    w = e[above]
    return {"log attack time": float(np.log10(max(attack_time(e, sr), attack_floor(sr)))),
            "temporal centroid": float(((above - above[0]) * step) @ w / w.sum()),
            "effective duration": float(np.count_nonzero(e >= EFFECTIVE_THRESHOLD * top) * step)}


def yin(segments: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """YIN on ``segments`` (m, YIN_WINDOW + max period): the period's f0 (m,) Hz and the
    cumulative mean normalized difference at it, the aperiodicity (m,) in 0..1."""
    lo, hi = int(np.floor(sr / F0_RANGE[1])), int(np.ceil(sr / F0_RANGE[0]))
    w, m = YIN_WINDOW, len(segments)
    n = scipy.fft.next_fast_len(segments.shape[1], real=True)
    spec = scipy.fft.rfft(segments, n=n, axis=1)
    r = scipy.fft.irfft(np.conj(scipy.fft.rfft(segments[:, :w], n=n, axis=1)) * spec, n=n, axis=1)[:, :hi + 2]
    cs = np.concatenate([np.zeros((m, 1)), np.cumsum(segments ** 2, axis=1)], axis=1)
    tau = np.arange(hi + 2)
    energy = cs[:, tau + w] - cs[:, tau]
    d = np.maximum(energy[:, :1] + energy - 2.0 * r, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = np.divide(d[:, 1:] * tau[1:], cum, out=np.ones_like(cum), where=cum > 0)
    band = cmnd[:, lo:hi + 1]
    below = band <= APERIODICITY
    first = np.where(below.any(axis=1), np.argmax(below, axis=1), band.shape[1])
    idx = np.arange(band.shape[1])[None, :]
    after = idx >= first[:, None]
    end = np.where((after & ~below).any(axis=1), np.argmax(after & ~below, axis=1), band.shape[1])
    dip = np.where(after & (idx < end[:, None]), band, np.inf)
    best = np.where(below.any(axis=1), np.argmin(dip, axis=1), np.argmin(band, axis=1)) + lo
    rows = np.arange(m)
    left, mid, right = cmnd[rows, best - 1], cmnd[rows, best], cmnd[rows, best + 1]
    curve = left - 2.0 * mid + right
    shift = np.clip(_ratio(0.5 * (left - right), curve), -1.0, 1.0)
    return sr / (best + shift), np.clip(mid, 0.0, 1.0)


def partials(magnitude: np.ndarray, f0: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Harmonics 1..20 in each frame: ``magnitude`` (m, bins) of a Hann window of N_HARM_FFT,
    ``f0`` (m,) -> frequencies and amplitudes (m, 20), amplitude 0 above the ceiling.

    A partial is the largest bin p within ``h f0 +- f0 / 4``; its frequency is refined with
    the Hann window's exact two-bin rule (Grandke 1983: ``delta = +-(2 r - 1) / (r + 1)``,
    r the larger neighbour over the peak), its amplitude is the root of the power of bins
    p - 2..p + 2 (the window's main lobe: within 0.03% whatever the offset)."""
    df = sr / N_HARM_FFT
    bins = magnitude.shape[1]
    h = np.arange(1, N_HARMONICS + 1)
    centre = np.rint(np.outer(f0, h) / df).astype(int)
    reach = np.maximum(1, np.floor(HARMONIC_SEARCH * f0 / df).astype(int))
    offsets = np.arange(-reach.max(), reach.max() + 1)
    idx = centre[:, :, None] + offsets[None, None, :]
    valid = (np.abs(offsets)[None, None, :] <= reach[:, None, None]) & (idx >= 2) & (idx <= bins - 3)
    rows = np.arange(len(f0))[:, None]
    found = np.where(valid, magnitude[rows[:, :, None], np.clip(idx, 0, bins - 1)], -1.0)
    peak = np.clip(np.take_along_axis(idx, np.argmax(found, axis=2)[:, :, None], axis=2)[:, :, 0], 2, bins - 3)
    left, mid, right = magnitude[rows, peak - 1], magnitude[rows, peak], magnitude[rows, peak + 1]
    side = np.where(right > left, 1.0, -1.0)
    r = _ratio(np.maximum(left, right), mid)
    freq = (peak + side * np.clip((2.0 * r - 1.0) / (r + 1.0), 0.0, 0.5)) * df
    amp = np.sqrt(sum(magnitude[rows, peak + j] ** 2 for j in range(-2, 3)))
    audible = (np.outer(f0, h) <= min(HARMONIC_CEILING_HZ, sr / 2 - 3 * df)) & valid.any(axis=2)
    return freq, np.where(audible, amp, 0.0)


def harmonic_descriptors(x: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, float]:
    """Periodicity, and where the sound is pitched inharmonicity, odd-to-even ratio and
    tristimulus (else :data:`NEUTRAL`) of ``x`` (module docstring)."""
    raw = frames(x, N_HARM_FFT, HARM_HOP)
    spectrum = scipy.fft.rfft(raw * scipy.signal.windows.hann(N_HARM_FFT, sym=False), axis=1)
    keep = loud(np.sum(np.abs(spectrum) ** 2, axis=1))
    span = YIN_WINDOW + int(np.ceil(sr / F0_RANGE[0])) + 2
    start = (N_HARM_FFT - span) // 2
    f0, aperiodicity = yin(raw[keep, start:start + span], sr)
    periodicity = float(np.median(1.0 - aperiodicity))
    voiced = aperiodicity <= APERIODICITY
    if periodicity < 1.0 - APERIODICITY or not voiced.any():
        return {"periodicity": periodicity, **NEUTRAL}
    freq, amp = partials(np.abs(spectrum[keep][voiced]), f0[voiced], sr)
    h = np.arange(1, N_HARMONICS + 1)
    e = amp ** 2
    energy = e.sum(axis=1)
    fit = _ratio((e * freq) @ h, e @ h ** 2)
    inharmonicity = 2.0 * _ratio(_ratio((np.abs(freq - np.outer(fit, h)) * e).sum(axis=1), fit), energy)
    odd, even = e[:, 0::2].sum(axis=1), e[:, 1::2].sum(axis=1)
    floor = ODD_EVEN_FLOOR * energy
    total = amp.sum(axis=1)
    return {"periodicity": periodicity, "inharmonicity": float(np.median(inharmonicity)),
            "odd-to-even ratio": float(np.median(10.0 * np.log10(np.maximum(odd, floor) / np.maximum(even, floor)))),
            "tristimulus 1": float(np.median(_ratio(amp[:, 0], total))),
            "tristimulus 2": float(np.median(_ratio(amp[:, 1:4].sum(axis=1), total))),
            "tristimulus 3": float(np.median(_ratio(amp[:, 4:].sum(axis=1), total)))}


def descriptors(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The 31 descriptors (:data:`NAMES`) of one non-silent sound ``x`` (samples,), float64."""
    x = audible(x, sr)
    peak = float(np.max(np.abs(x)))
    x = x / peak  # every descriptor but the RMS energy is scale-free: no underflow for quiet sounds
    per_frame = spectral_frames(x, sr)
    per_frame["RMS energy"] = per_frame["RMS energy"] + 20.0 * np.log10(peak)
    out = {}
    for name, _ in FRAME_DESCRIPTORS:
        q25, q50, q75 = np.percentile(per_frame[name], [25.0, 50.0, 75.0])
        out[f"{name} (median)"], out[f"{name} (IQR)"] = q50, q75 - q25
    out.update(envelope_descriptors(x, sr))
    out.update(harmonic_descriptors(x, sr))
    return np.array([out[n] for n in NAMES], dtype=np.float64)


class Descriptors(Extractor):
    """``descriptors``: 31 named audio descriptors of the Timbre Toolbox (module docstring),
    standardized per study by the pipeline (raw values kept in the store's metadata)."""

    name = "descriptors"
    sample_rate = SAMPLE_RATE
    rescale = False
    standardize = True
    cacheable = True
    version = "2"
    n_features = len(NAMES)
    layout = ("audio descriptors (Timbre Toolbox definitions): 12 per-frame ones as median and IQR over the "
              "non-silent frames, 3 of the envelope, periodicity and 5 harmonic ones")
    dimension_names = NAMES
    dimension_units = UNITS

    def parameters(self) -> dict:
        return dict(PARAMETERS)

    def features(self, x: np.ndarray) -> np.ndarray:
        """(31,) float64: the descriptors of ``x`` (samples,) at 44.1 kHz, BLAS on one thread (its
        products here are small: threads would only wait on each other, see :func:`serial_blas`)."""
        with serial_blas():
            return descriptors(x, self.sample_rate)
