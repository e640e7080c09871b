"""Resumable runs: results saved by what produced them, read back instead of solved.

Every command that writes a folder keeps its fits under ``OUT/chunks``: one ``.npz`` per
solved batch, named by a fingerprint of everything that determines its numbers (the
solver and each of its options, the names and the data of the problems).  A re-run with
the same folder reads back each batch it finds and solves only the others; a run with
other data or settings finds no file of its own and keeps its fits apart.  Files are
written atomically, so an interrupted run leaves only whole batches; a sweep's batch holds
a few seconds of fits on the CPU (:func:`timbre_jax.fit.sweep.plan_chunks`), so Ctrl-C
loses at most that much work.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.data.store import atomic_write_bytes


def fingerprint(settings: dict, names: Iterable[str] = (), arrays: Iterable[np.ndarray] = ()) -> str:
    """A hash (20 hex digits) of ``settings`` (JSON-serializable), then each name and
    each array (as float64 bytes), in order; aligned pairs
    (:class:`~timbre_jax.core.aligned.AlignedPairs`) count as their arrays."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name in names:
        h.update(name.encode() + b"\0")
    for a in arrays:
        for part in ([getattr(a, name) for name in aligned.FIELDS] if aligned.is_aligned(a) else [a]):
            h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    return h.hexdigest()[:20]


def path(directory: Path | None, label: str, key: str) -> Path | None:
    """Where the batch ``label``-``key`` is saved under ``directory`` (None: not saved)."""
    return None if directory is None else Path(directory) / f"{label}-{key}.npz"


def load(file: Path | None) -> dict[str, np.ndarray] | None:
    """The arrays saved in ``file``, bit for bit, or None where there is none."""
    if file is None or not file.exists():
        return None
    with np.load(file, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def save(file: Path | None, arrays: dict[str, np.ndarray]) -> None:
    """Save ``arrays`` to ``file`` atomically (no pickles); nothing when ``file`` is None."""
    if file is not None:
        atomic_write_bytes(file, lambda fh: np.savez(fh, **arrays))


def cached(file: Path | None, compute: Callable[[], dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], bool]:
    """(arrays, resumed): read back from ``file`` if saved, else ``compute()`` and save."""
    arrays = load(file)
    if arrays is not None:
        return arrays, True
    arrays = compute()
    save(file, arrays)
    return arrays, False
