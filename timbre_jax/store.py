"""The feature store: one ``.npz`` file per (source, representation, dataset).

Files are written with ``allow_pickle=False`` and read the same way, so nothing in the
store can execute code.  Each file holds

- ``features``: float64 (l_sounds, n_features), one row per sound, in ``sounds`` order;
- ``sounds``: unicode (l_sounds,), sorted audio file stems;
- ``ratings``: float64 (l_sounds, l_sounds), symmetric, NaN on the diagonal and for
  unrated pairs;
- ``metadata``: a JSON string (source ``upstream`` | ``extracted``, representation,
  dataset, parameters, versions, ...).

Layout: ``<home>/features/<source>/<representation>/<dataset>.npz`` where ``home`` is
``$TIMBRE_JAX_HOME`` (default ``~/.cache/timbre-jax``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOURCES = ("upstream", "extracted")


def home() -> Path:
    """Root of the cache: ``$TIMBRE_JAX_HOME`` or ``~/.cache/timbre-jax``."""
    return Path(os.environ.get("TIMBRE_JAX_HOME", Path.home() / ".cache" / "timbre-jax")).expanduser()


def feature_file(source: str, representation: str, dataset: str, root: Path | None = None) -> Path:
    if source not in SOURCES:
        raise ValueError(f"unknown feature source {source!r}; choose from {', '.join(SOURCES)}")
    return (root or home()) / "features" / source / representation / f"{dataset}.npz"


@dataclass(frozen=True)
class StoredFeatures:
    features: np.ndarray
    sounds: tuple[str, ...]
    ratings: np.ndarray
    metadata: dict = field(default_factory=dict)


def current_umask() -> int:
    """The process umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and
    restoring it (``os.umask`` has no read-only form), which is what other threads could
    briefly observe.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place.

    A crash or Ctrl-C leaves either the old file or none, never a partial one.  The file
    gets the mode of an ordinary new file, ``0o666 & ~umask`` (``mkstemp`` alone would
    leave it ``0o600``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: Path, stored: StoredFeatures) -> Path:
    """Write one store file atomically after checking its shapes."""
    features = np.asarray(stored.features, dtype=np.float64)
    ratings = np.asarray(stored.ratings, dtype=np.float64)
    sounds = np.asarray(list(stored.sounds), dtype=np.str_)
    l = len(sounds)
    if features.ndim != 2 or features.shape[0] != l:
        raise ValueError(f"{path.name}: features have shape {features.shape}, expected ({l}, n_features)")
    if ratings.shape != (l, l):
        raise ValueError(f"{path.name}: ratings have shape {ratings.shape}, expected ({l}, {l})")
    meta = json.dumps(stored.metadata, sort_keys=True)
    atomic_write_bytes(
        Path(path),
        lambda fh: np.savez(fh, features=features, sounds=sounds, ratings=ratings, metadata=np.asarray(meta)),
    )
    return Path(path)


def load(path: Path) -> StoredFeatures:
    """Read one store file (never unpickling anything)."""
    with np.load(path, allow_pickle=False) as z:
        return StoredFeatures(
            features=z["features"],
            sounds=tuple(str(s) for s in z["sounds"]),
            ratings=z["ratings"],
            metadata=json.loads(str(z["metadata"])),
        )
