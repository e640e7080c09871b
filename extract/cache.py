"""The per-sound cache: one vector per (audio, representation, parameters, code version),
``$TIMBRE_JAX_HOME/extract-cache/<representation>/<kk>/<key>.npy``.

:func:`cache_key` hashes the audio's sha256, the extractor's name, version and
:meth:`~timbre_jax_extract.base.Extractor.parameters` and the package's version, so a
re-run computes only the sounds whose audio, parameters or code changed, and identical
audio shared between datasets is computed once.  An entry that cannot be read, or that is
not a finite vector of the expected width, counts as absent (it is recomputed); entries
are written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from timbre_jax.data.store import atomic_write_bytes, home
from timbre_jax_extract.base import EXTRACTOR_PACKAGE_VERSION, Extractor


def cache_root() -> Path:
    """The folder of the cache, ``$TIMBRE_JAX_HOME/extract-cache``."""
    return home() / "extract-cache"


def cache_key(audio_sha256: str, extractor: Extractor) -> str:
    """The sha256 naming one sound's vector: of its audio, the extractor (name, version,
    parameters) and the package version."""
    spec = {"audio_sha256": audio_sha256, "representation": extractor.name,
            "extractor_version": extractor.version, "package_version": EXTRACTOR_PACKAGE_VERSION,
            "parameters": extractor.parameters()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(key: str, representation: str) -> Path:
    """Where the vector of ``key`` lives."""
    return cache_root() / representation / key[:2] / f"{key}.npy"


def cache_load(key: str, representation: str, n_features: int | None = None) -> np.ndarray | None:
    """The cached vector of ``key``, or None when there is none, it is damaged, or it is not
    a finite vector (of ``n_features`` values, when given)."""
    path = cache_path(key, representation)
    if not path.exists():
        return None
    try:
        v = np.load(path, allow_pickle=False)
    except Exception:
        return None  # a damaged entry is recomputed
    if v.ndim != 1 or (n_features is not None and v.shape[0] != n_features) or not np.all(np.isfinite(v)):
        return None
    return v


def cache_save(key: str, representation: str, vector: np.ndarray) -> None:
    """Write ``vector`` (as float64) under ``key``, atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(vector, dtype=np.float64), allow_pickle=False)
    atomic_write_bytes(cache_path(key, representation), lambda fh: fh.write(buf.getvalue()))
