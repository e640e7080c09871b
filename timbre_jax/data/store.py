"""The feature store: one ``.npz`` file per (source, representation, dataset).

Files are written with ``allow_pickle=False`` and read the same way, so nothing in the
store can execute code.  Each file holds

- ``features``: float64 (l_sounds, n_features), one row per sound, in ``sounds`` order;
  or, for a frame-aligned representation (:mod:`timbre_jax.core.aligned`), no ``features``
  but ``aligned_squares`` (p, n_features), ``aligned_products`` (p,), ``aligned_energies``
  (p, 2) and ``aligned_frames`` (p,), one row per pair of sounds (i < j, row-major);
- ``sounds``: unicode (l_sounds,), sorted audio file stems;
- ``ratings``: float64 (l_sounds, l_sounds), symmetric, NaN on the diagonal and for
  unrated pairs;
- ``metadata``: a JSON string (source, representation, dataset, parameters,
  versions, ...).

Layout: ``<home>/features/<source>/<representation>/<dataset>.npz`` where ``home`` is
``$TIMBRE_JAX_HOME`` (default ``~/.cache/timbre-jax``).  Sources: ``upstream`` (the
published features, a cache rebuilt from verified downloads), ``extracted`` (what
``timbre-jax extract`` computed) and any name given to ``timbre-jax data import
--source`` (default ``imported``).  Every name that becomes part of a path passes
:func:`check_name`, so none can point outside the store.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.errors import DataError, MissingFeatures, UsageError, WriteError

SOURCES = ("upstream", "extracted")
"""The built-in sources; imported sources are any other name :func:`check_name` accepts."""
DEFAULT_IMPORT_SOURCE = "imported"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


class StoreError(DataError):
    """A store file that cannot be read or is inconsistent; the message names the file."""


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it is safe as one path component of the store, else raise.

    Accepted: 1 to 100 letters, digits, ``_ . + -``, starting with a letter or digit,
    no ``..`` (so no path separators, no hidden files, no parent folders).

    Raises
    ------
    UsageError
        Naming ``what`` (dataset, source, ...) and the rejected name.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise UsageError(f"invalid {what} name {name!r}: use 1-100 letters, digits, '_', '.', '+' or '-', "
                         "starting with a letter or digit")
    return name


def home() -> Path:
    """Root of the cache: ``$TIMBRE_JAX_HOME`` or ``~/.cache/timbre-jax``."""
    return Path(os.environ.get("TIMBRE_JAX_HOME", Path.home() / ".cache" / "timbre-jax")).expanduser()


def features_root(root: Path | None = None) -> Path:
    return (root or home()) / "features"


def feature_file(source: str, representation: str, dataset: str, root: Path | None = None) -> Path:
    """``<home>/features/<source>/<representation>/<dataset>.npz``, every part checked."""
    check_name(source, "feature source")
    check_name(representation, "representation")
    check_name(dataset, "dataset")
    return features_root(root) / source / representation / f"{dataset}.npz"


def stored_sources(root: Path | None = None) -> list[str]:
    """Sources with at least one store file, sorted."""
    base = features_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _NAME.fullmatch(p.name) and any(p.glob("*/*.npz")))


def stored_files(source: str | None = None, root: Path | None = None) -> list[Path]:
    """Every store file (of one source), sorted; temporary ``.part`` files are not listed."""
    base = features_root(root)
    pattern = f"{check_name(source, 'feature source')}/*/*.npz" if source else "*/*/*.npz"
    return sorted(p for p in base.glob(pattern) if not p.name.startswith("."))


def stored_datasets(source: str, representation: str | None = None, root: Path | None = None) -> list[str]:
    """Datasets with a store file for ``source`` (and ``representation``), sorted."""
    names = {p.stem for p in stored_files(source, root) if representation in (None, p.parent.name)}
    return sorted(n for n in names if _NAME.fullmatch(n))


def stored_representations(source: str | None = None, root: Path | None = None) -> list[str]:
    """Representations with a store file (of ``source``), sorted."""
    return sorted({p.parent.name for p in stored_files(source, root) if _NAME.fullmatch(p.parent.name)})


def parts(path: Path, root: Path | None = None) -> tuple[str, str, str]:
    """(source, representation, dataset) of a store file path."""
    rel = Path(path).relative_to(features_root(root))
    return rel.parts[0], rel.parts[1], Path(rel.parts[2]).stem


@dataclass(frozen=True)
class StoredFeatures:
    """One store file: ``features`` (l, n) or an :class:`~timbre_jax.core.aligned.AlignedPairs`."""

    features: np.ndarray | aligned.AlignedPairs
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


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, as 64 hex digits (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it into place.

    A crash or Ctrl-C leaves either the old file or none, never a partial one.  The file
    gets the mode of an ordinary new file, ``0o666 & ~umask`` (``mkstemp`` alone would
    leave it ``0o600``).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise WriteError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        # Disk full, permissions, read-only disk: the user's to fix, so no traceback.  Other
        # OSErrors (a network read inside ``write``) are not about this file: pass them on.
        if e.errno in _WRITE_ERRNOS:
            raise WriteError(f"{path}: cannot write ({e.strerror or e})") from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: Path, stored: StoredFeatures) -> Path:
    """Write one store file atomically after checking its shapes."""
    ratings = np.asarray(stored.ratings, dtype=np.float64)
    sounds = np.asarray(list(stored.sounds), dtype=np.str_)
    l = len(sounds)
    if aligned.is_aligned(stored.features):
        values = aligned.check(stored.features, path.name, tuple(stored.sounds))
        arrays = {f"aligned_{name}": np.asarray(getattr(values, name)) for name in aligned.FIELDS}
    else:
        features = np.asarray(stored.features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != l:
            raise DataError(f"{path.name}: features have shape {features.shape}, expected ({l}, n_features)")
        arrays = {"features": features}
    if ratings.shape != (l, l):
        raise DataError(f"{path.name}: ratings have shape {ratings.shape}, expected ({l}, {l})")
    meta = json.dumps(stored.metadata, sort_keys=True)
    atomic_write_bytes(
        Path(path),
        lambda fh: np.savez(fh, **arrays, sounds=sounds, ratings=ratings, metadata=np.asarray(meta)),
    )
    return Path(path)


def load(path: Path) -> StoredFeatures:
    """Read one store file (never unpickling anything) and check its shapes.

    Every array is read in full, so a damaged file (a flipped byte fails the zip CRC,
    a truncated one its directory) is caught here, not in a later fit.

    Raises
    ------
    MissingFeatures
        If ``path`` does not exist (a FileNotFoundError).
    StoreError
        Naming ``path``, for an unreadable file, a missing array, inconsistent shapes or
        metadata that is not a JSON object.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFeatures(f"{path}: no such store file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "aligned_squares" in z.files:
                features = aligned.AlignedPairs(*(z[f"aligned_{name}"] for name in aligned.FIELDS))
            else:
                features = z["features"]
            rec = StoredFeatures(
                features=features,
                sounds=tuple(str(s) for s in z["sounds"]),
                ratings=z["ratings"],
                metadata=json.loads(str(z["metadata"])),
            )
    # Why so broad: a damaged zip or .npy header fails in many ways (BadZipFile, OSError,
    # ValueError, KeyError, EOFError, SyntaxError from the header parser, ...).
    except Exception as e:
        raise StoreError(f"{path}: not a readable store file ({type(e).__name__}: {e})") from None
    l = len(rec.sounds)
    if aligned.is_aligned(rec.features):
        try:
            aligned.check(rec.features, str(path), rec.sounds)
        except DataError as e:
            raise StoreError(str(e)) from None
    elif rec.features.ndim != 2 or rec.features.shape[0] != l or not np.issubdtype(rec.features.dtype, np.floating):
        raise StoreError(f"{path}: features have shape {rec.features.shape} ({rec.features.dtype}), "
                         f"expected ({l}, n_features) floats for {l} sounds")
    if rec.ratings.shape != (l, l):
        raise StoreError(f"{path}: ratings have shape {rec.ratings.shape}, expected ({l}, {l})")
    if not isinstance(rec.metadata, dict):
        raise StoreError(f"{path}: metadata is not a JSON object")
    return rec


def save_weights(path: Path, weights: np.ndarray, explained_variance: float, metadata: dict) -> Path:
    """``learn --out``: one ``.npz`` with ``weights`` (n,), ``explained_variance`` and a
    JSON ``metadata`` string (representation, datasets, solver, ...), written atomically
    and readable with ``allow_pickle=False``."""
    meta = json.dumps(metadata, sort_keys=True)
    atomic_write_bytes(Path(path), lambda fh: np.savez(
        fh, weights=np.asarray(weights, dtype=np.float64), explained_variance=np.float64(explained_variance),
        metadata=np.asarray(meta)))
    return Path(path)
