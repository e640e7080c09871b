"""Features computed elsewhere, as files: what ``timbre-jax data import`` reads.

Four layouts, chosen by the suffix; any number of features:

- ``.pkl``: the upstream layout, a dict with ``representations`` (n_features, l_sounds),
  optionally ``sounds`` (l,) and ``dissimilarities`` (l, l, upper triangle); read with
  the restricted unpickler (:mod:`timbre_jax.data.safepickle`), never with ``pickle.load``;
- ``.npy``: one (l_sounds, n_features) array, rows in the dataset's sound order;
- ``.npz``: ``features`` (l_sounds, n_features) and optionally ``sounds`` (l,) names and
  ``dimension_names`` (n,);
- ``.csv``: one row per sound, the sound name in the first column, then the features;
  a first row whose feature cells are not numbers is a header, and its cells name the
  features (the store keeps them as ``dimension_names``).

Where sound names are given, rows are matched to the dataset's sounds by name.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.data import safepickle
from timbre_jax.errors import DataError

SUFFIXES = (".pkl", ".npy", ".npz", ".csv")


@dataclass(frozen=True)
class FeatureFile:
    """Rows (l, n), one per sound; ``sounds`` (l,) names or None (rows in the dataset's order);
    ``extras``: the pickle's other entries (``dissimilarities``, ``audio_args``, ...);
    ``dimensions`` (n,): the features' names, or None."""

    features: np.ndarray
    sounds: tuple[str, ...] | None
    extras: dict = field(default_factory=dict)
    dimensions: tuple[str, ...] | None = None


def _dimensions(values, path: Path, n: int) -> tuple[str, ...]:
    """The n feature names of a header or array: distinct and not empty, else DataError."""
    names = tuple(str(s).strip() for s in np.asarray(values).ravel())
    if len(names) != n:
        raise DataError(f"{path}: {len(names)} feature names for {n} feature columns")
    empty = [k + 1 for k, name in enumerate(names) if not name]
    if empty:
        raise DataError(f"{path}: feature column {empty[0]} has an empty name")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DataError(f"{path}: feature name {twice[0]!r} appears twice")
    return names


def _names(values, path: Path, l: int) -> tuple[str, ...]:
    names = tuple(str(s) for s in np.asarray(values).ravel())
    if len(names) != l:
        raise DataError(f"{path}: {len(names)} sound names for {l} rows of features")
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}: sound {name!r} appears twice")
        seen.add(name)
    return names


def _matrix(values, path: Path, what: str) -> np.ndarray:
    try:
        m = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: {what} is not numeric ({e})") from None
    if m.ndim != 2 or 0 in m.shape:
        raise DataError(f"{path}: {what} has shape {m.shape}, expected (sounds, features)")
    return m


def _read_csv(path: Path) -> FeatureFile:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    header = None
    if rows:
        try:
            [float(c) for c in rows[0][1:]]
        except ValueError:
            header, rows = rows[0][1:], rows[1:]  # a header: the features' names
    if not rows:
        raise DataError(f"{path}: no rows of features")
    width = len(rows[0])
    values = []
    for row in rows:
        if len(row) != width:
            raise DataError(f"{path}: row of {row[0]!r} has {len(row) - 1} features, the first row {width - 1}")
        try:
            values.append([float(c) for c in row[1:]])
        except ValueError as e:
            raise DataError(f"{path}: row of sound {row[0]!r}: {e}") from None
    features = _matrix(values, path, "the feature columns")
    dimensions = None if header is None else _dimensions(header, path, features.shape[1])
    return FeatureFile(features, _names([r[0].strip() for r in rows], path, len(rows)), dimensions=dimensions)


def read(path: Path) -> FeatureFile:
    """The features of a file in one of the four layouts (see the module)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown feature file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".pkl":
        obj = safepickle.load(path)
        if not isinstance(obj, dict) or "representations" not in obj:
            raise DataError(f"{path}: expected a dict with 'representations' (n_features x l_sounds)")
        features = _matrix(obj["representations"], path, "'representations'").T
        sounds = _names(obj["sounds"], path, len(features)) if "sounds" in obj else None
        return FeatureFile(features, sounds, {k: v for k, v in obj.items() if k not in ("representations", "sounds")})
    try:
        if suffix == ".npy":
            return FeatureFile(_matrix(np.load(path, allow_pickle=False), path, "the array"), None)
        with np.load(path, allow_pickle=False) as z:
            if "features" not in z.files:
                raise DataError(f"{path}: no 'features' array (it holds {', '.join(z.files) or 'nothing'})")
            features = _matrix(z["features"], path, "'features'")
            sounds = _names(z["sounds"], path, len(features)) if "sounds" in z.files else None
            dimensions = (_dimensions(z["dimension_names"], path, features.shape[1])
                          if "dimension_names" in z.files else None)
            return FeatureFile(features, sounds, dimensions=dimensions)
    except DataError:
        raise
    except Exception as e:  # a damaged or pickled file: np.load fails in many ways
        raise DataError(f"{path}: not a readable {suffix} file ({type(e).__name__}: {e})") from None


def in_order(feature_file: FeatureFile, sounds, path: Path) -> np.ndarray:
    """The rows (l, n) in the order of ``sounds``: matched by name where the file has
    names, else taken as they are (their number must be l)."""
    features, names = feature_file.features, feature_file.sounds
    if names is None:
        if len(features) != len(sounds):
            raise DataError(f"{path}: {len(features)} rows of features for {len(sounds)} sounds")
        return features
    unknown = [n for n in names if n not in set(sounds)]
    missing = [s for s in sounds if s not in set(names)]
    if unknown or missing:
        parts = ([f"name(s) {', '.join(unknown)} match no sound of the dataset"] if unknown else []) + \
                ([f"sound(s) {', '.join(missing)} have no row"] if missing else [])
        raise DataError(f"{path}: {'; '.join(parts)}")
    row = {n: k for k, n in enumerate(names)}
    return features[[row[s] for s in sounds]]
