"""Reading and resampling the stimuli.

Every extractor receives a mono float64 waveform at its own sample rate.  Audio files are
read with ``soundfile`` (libsndfile: AIFF, WAV, FLAC, ...), multi-channel files are
averaged to mono, and the result is checked: a file that cannot be read, holds no
samples, holds NaN/inf, or is digitally silent raises :class:`AudioError` naming the file.

Resampling uses :func:`scipy.signal.resample_poly` (polyphase FIR, Kaiser window, the
ratio reduced by its gcd: 44.1 kHz -> 16 kHz is up 160 / down 441, 44.1 kHz -> 24 kHz is
up 80 / down 147, 44.1 kHz -> 48 kHz is up 160 / down 147).  It is deterministic,
anti-aliased and needs neither torchaudio nor librosa's optional backends.
"""

from __future__ import annotations

import hashlib
from math import gcd
from pathlib import Path

import numpy as np

from timbre_jax.errors import DataError

SILENCE_THRESHOLD = 1e-8
"""A file whose peak |sample| is below this (full scale = 1) counts as silent."""


class AudioError(DataError):
    """A stimulus that cannot be used: the message names the file."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float64 in [-1, 1]; raise :class:`AudioError` naming it if unusable."""
    import soundfile as sf

    path = Path(path)
    try:
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, OSError...
        raise AudioError(f"{path}: cannot read audio ({type(e).__name__}: {e})") from None
    x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    check(x, path)
    return np.ascontiguousarray(x), int(sr)


def check(x: np.ndarray, name) -> None:
    """Raise :class:`AudioError` if ``x`` is empty, non-finite or silent."""
    if x.size == 0:
        raise AudioError(f"{name}: the file holds no audio samples")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{name}: the audio holds NaN or infinite samples")
    peak = float(np.max(np.abs(x)))
    if peak < SILENCE_THRESHOLD:
        raise AudioError(f"{name}: the audio is silent (peak |sample| = {peak:.3g})")


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling from ``sr_in`` to ``sr_out`` Hz (identity when equal)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float64)
    from scipy.signal import resample_poly

    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g)
