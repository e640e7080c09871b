"""Frame-aligned pairs from per-sound sequences: the timbre benchmark's padding rule, for any
function that gives a sound a sequence (frames, dims).

Two sounds of different lengths are compared after the shorter one's audio is padded with
zeros to the longer one's length (:func:`pad`); the longer one is used as it is.  So each
pair needs the longer sound's own sequence (computed once per sound) and the padded shorter
sound's sequence (computed once per sound and padded length: sounds of one length share
it).  :func:`aligned_pairs` is that loop over the pairs of a study, in condensed order
(i < j, row-major), each pair reduced with :func:`timbre_jax.core.aligned.compare`;
:func:`pairs_of` runs it for a user's embedder, and ``mfcc-aligned``
(:mod:`timbre_jax_extract.dsp.mfcc`) with a padded MFCC that reuses the sound's own frames.

A sequence must be a finite 2-D array with the dims of the first sound's; the two
sequences of a pair must have as many frames (the padded sound has the longer one's
samples, so a framing that depends only on the length gives them).  Anything else is a
one-line :class:`~timbre_jax.errors.DataError` naming the sound(s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from timbre_jax.core.aligned import AlignedPairs, compare, from_pairs
from timbre_jax.errors import DataError


def pad(wave: np.ndarray, length: int) -> np.ndarray:
    """``wave`` (samples,) followed by zeros up to ``length`` samples (the benchmark's padding)."""
    out = np.zeros(length, dtype=np.asarray(wave).dtype)
    out[:len(wave)] = wave
    return out


def checked_sequence(values, sound: str, what: str, dims: int | None = None) -> np.ndarray:
    """``values`` as a float64 (frames, dims) array of finite values, ``dims`` wide when given;
    a one-line DataError naming ``sound`` and ``what`` (the embedder) otherwise."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"sound {sound}: {what} returned shape {a.shape}, not (frames, dims) with frames, dims >= 1: "
                        "a frame-aligned representation needs a sequence per sound")
    if dims is not None and a.shape[1] != dims:
        raise DataError(f"sound {sound}: {what} returned {a.shape[1]} dims per frame, but {dims} for the first "
                        "sound: every sound must give the same dims")
    if not np.all(np.isfinite(a)):
        raise DataError(f"sound {sound}: {what} returned non-finite values")
    return a


def _sequence(embed, wave: np.ndarray, sample_rate: int, sound: str, what: str, dims: int | None) -> np.ndarray:
    """One checked sequence; an exception of the user's code becomes a DataError naming the sound."""
    try:
        out = embed(wave, sample_rate)
    except DataError as e:
        raise DataError(f"sound {sound}: {e}") from None
    except Exception as e:  # the user's code: named, one line
        text = str(e).strip().splitlines()
        raise DataError(f"sound {sound}: {what} failed: {type(e).__name__}" + (f": {text[0]}" if text else "")) \
            from None
    return checked_sequence(out, sound, what, dims)


def aligned_pairs(sequences: Sequence[np.ndarray], lengths: Sequence[int],
                  padded: Callable[[int, int], np.ndarray], sounds: Sequence[str]) -> AlignedPairs:
    """The :class:`AlignedPairs` of l sounds.

    ``sequences[i]`` is sound i's own sequence (T_i, n), ``lengths[i]`` its number of samples,
    ``padded(i, length)`` sound i's sequence after its audio is zero-padded to ``length``
    samples (called once per sound and length).  A pair of equal lengths compares the two own
    sequences; otherwise the longer one's own with the shorter one's padded."""
    l = len(sequences)
    cache: dict[tuple[int, int], np.ndarray] = {}

    def padded_once(i: int, length: int) -> np.ndarray:
        if (i, length) not in cache:
            cache[(i, length)] = padded(i, length)
        return cache[(i, length)]

    rows = []
    for i, j in zip(*np.triu_indices(l, 1)):
        i, j = int(i), int(j)
        a = sequences[i] if lengths[i] >= lengths[j] else padded_once(i, lengths[j])
        b = sequences[j] if lengths[j] >= lengths[i] else padded_once(j, lengths[i])
        if a.shape != b.shape:
            raise DataError(f"sounds {sounds[i]} and {sounds[j]} give sequences of shapes {a.shape} and {b.shape} "
                            f"at the common length of {max(lengths[i], lengths[j])} samples: a frame-aligned pair "
                            "needs as many frames on both sides")
        rows.append((*compare(a, b), a.shape[0]))
    return from_pairs(rows, l)


def pairs_of(embed: Callable[[np.ndarray, int], np.ndarray], waves: Sequence[np.ndarray], sample_rate: int,
             sounds: Sequence[str], what: str = "the embedder") -> AlignedPairs:
    """The aligned pairs of ``embed(wave, sample_rate) -> (frames, dims)`` over ``waves`` (the
    study's sounds, in order, at ``sample_rate``): each sound's own sequence once, the padded
    shorter sound's per pair (once per padded length), compared frame by frame."""
    if len(waves) != len(sounds):
        raise DataError(f"{len(waves)} waveforms for {len(sounds)} sounds")
    sequences: list[np.ndarray] = []
    for wave, sound in zip(waves, sounds):
        dims = sequences[0].shape[1] if sequences else None
        sequences.append(_sequence(embed, wave, sample_rate, sound, what, dims))
    dims = sequences[0].shape[1] if sequences else None

    def padded(i: int, length: int) -> np.ndarray:
        return _sequence(embed, pad(waves[i], length), sample_rate, f"{sounds[i]} (zero-padded to {length} samples)",
                         what, dims)

    return aligned_pairs(sequences, [len(w) for w in waves], padded, sounds)
