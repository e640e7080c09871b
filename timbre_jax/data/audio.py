"""Reading and resampling the stimuli.

Every extractor receives a mono float64 waveform at its own sample rate.  Audio files are
read with ``soundfile`` (libsndfile: AIFF, WAV, FLAC, OGG, ...), multi-channel files are
averaged to mono, and the result is checked: a file that cannot be read, holds no
samples, holds fewer samples than its header promises (truncated), holds NaN/inf, or is
digitally silent raises :class:`AudioError` naming the file.

Resampling uses :func:`scipy.signal.resample_poly` (polyphase FIR, Kaiser window, the
ratio reduced by its gcd: 44.1 kHz -> 16 kHz is up 160 / down 441, 44.1 kHz -> 24 kHz is
up 80 / down 147, 44.1 kHz -> 48 kHz is up 160 / down 147).  It is deterministic,
anti-aliased and needs neither torchaudio nor librosa's optional backends.
"""

from __future__ import annotations

import struct
from math import gcd
from pathlib import Path

import numpy as np

from timbre_jax.errors import DataError

SILENCE_THRESHOLD = 1e-8
"""A file whose peak |sample| is below this (full scale = 1) counts as silent."""


class AudioError(DataError):
    """A stimulus that cannot be used: the message names the file."""


def extensions() -> frozenset[str]:
    """File suffixes (lower case, with the dot) of the formats soundfile reads here."""
    import soundfile as sf  # lazy: libsndfile is loaded only when audio is read

    known = {f.lower() for f in sf.available_formats()} - {"raw"}  # headerless: anything would "read"
    aliases = {"aiff": {"aif", "aifc"}, "ogg": {"oga", "opus"}}
    return frozenset(f".{e}" for f in known for e in {f, *aliases.get(f, ())})


def promised_frames(path: Path) -> int | None:
    """The number of sample frames a WAV or AIFF header promises, or None (other formats,
    or a header this reader does not parse).

    libsndfile silently shortens a truncated WAV or AIFF file to the samples it holds; the
    header still tells how many there should be.  WAV: the ``data`` chunk's byte count
    over the ``fmt`` block size; AIFF: ``numSampleFrames`` of the ``COMM`` chunk."""
    try:
        head = Path(path).read_bytes()[:1 << 16]
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        order, at, block, size = "<", 12, None, None
        while at + 8 <= len(head):
            cid, n = head[at:at + 4], struct.unpack("<I", head[at + 4:at + 8])[0]
            if cid == b"fmt " and at + 22 <= len(head):
                block = struct.unpack(order + "H", head[at + 20:at + 22])[0]
            if cid == b"data":
                size = n
                break
            at += 8 + n + (n & 1)
        return size // block if block and size is not None else None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        at = 12
        while at + 8 <= len(head):
            cid, n = head[at:at + 4], struct.unpack(">I", head[at + 4:at + 8])[0]
            if cid == b"COMM" and at + 14 <= len(head):
                return struct.unpack(">I", head[at + 10:at + 14])[0]
            at += 8 + n + (n & 1)
    return None


def load(path: str | Path) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float64 in [-1, 1]; raise :class:`AudioError` naming it if unusable."""
    import soundfile as sf  # lazy: libsndfile is loaded only when audio is read

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise AudioError(f"{path}: the file is empty (0 bytes)")
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except AudioError:
        raise
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, OSError...
        if promised_frames(path) == 0:
            raise AudioError(f"{path}: the file holds no audio samples") from None
        promised = _frames_in_header(path)
        if promised:  # the header opened, the samples did not: a cut file (FLAC, OGG)
            raise AudioError(f"{path}: truncated: the header promises {promised} sample frames but reading "
                             f"them failed ({e})") from None
        raise AudioError(f"{path}: cannot read audio ({type(e).__name__}: {e})") from None
    promised = promised_frames(path)
    if promised is not None and promised > len(data):
        raise AudioError(f"{path}: truncated: the header promises {promised} sample frames, the file holds "
                         f"{len(data)}")
    x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    check(x, path)
    return np.ascontiguousarray(x), int(sr)


def _frames_in_header(path: Path) -> int | None:
    """The frame count soundfile reads from the header, or None where it cannot open it."""
    import soundfile as sf  # lazy: libsndfile is loaded only when audio is read

    try:
        return int(sf.info(str(path)).frames)
    except Exception:  # not audio at all
        return None


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
    from scipy.signal import resample_poly  # lazy: scipy.signal is loaded only when rates differ

    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(np.asarray(x, dtype=np.float64), sr_out // g, sr_in // g)
