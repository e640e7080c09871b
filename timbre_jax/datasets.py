"""Load a dataset's features and ratings: the input of every fit.

:func:`load` returns a :class:`FeatureSet` read from the feature store, importing the
upstream pickle on first use (fetching it if needed).  Ratings come as the full
symmetric (l, l) matrix with NaN on the diagonal and for unrated pairs, and as the
condensed pair vector (i < j, row-major).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import download, safepickle, store
from .pearson import condensed
from .ratings import first_asymmetric_pair, first_infinite_pair
from .registry import DATASETS, N_FEATURES, UPSTREAM_FOLDER, check_representation, get_dataset


class DataError(ValueError):
    """Input data that cannot be fitted: the message names the dataset and sound."""


@dataclass(frozen=True)
class FeatureSet:
    """Features (l, n) and ratings (l, l) of one dataset in one representation."""

    dataset: str
    representation: str
    features: np.ndarray
    ratings: np.ndarray
    sounds: tuple[str, ...]
    metadata: dict = field(default_factory=dict)

    @property
    def pairs(self) -> np.ndarray:
        """Condensed ratings (p,), p = l (l - 1) / 2, i < j row-major; NaN = unrated."""
        return condensed(self.ratings)

    @property
    def source(self) -> str:
        return self.metadata.get("source", "upstream")


def ratings_from_upper(upper: np.ndarray) -> np.ndarray:
    """Symmetric (l, l) ratings from an upper-triangular matrix; NaN on the diagonal.

    This is the on-disk rule of the upstream files only (the published ratings text
    files and the pickles' ``dissimilarities``): their upper triangle holds the ratings
    and whatever lies on or below the diagonal (zeros) is ignored.  Matrices given by
    users are checked instead (:func:`timbre_jax.learn.as_pairs`, :func:`read_ratings_file`).
    """
    upper = np.asarray(upper, dtype=np.float64)
    full = np.triu(upper, 1) + np.triu(upper, 1).T
    np.fill_diagonal(full, np.nan)
    return full


def read_ratings_file(path: Path, n_sounds: int | None = None) -> np.ndarray:
    """Symmetric (l, l) ratings, NaN diagonal, from a text matrix written by a user.

    The file is read with ``np.loadtxt`` (whitespace-separated numbers, ``#`` comments,
    ``nan`` for an unrated pair).  Two layouts are accepted:

    - the full symmetric matrix (an unrated pair is NaN on both sides);
    - an upper-triangular matrix with zeros everywhere below the diagonal (the layout of
      the upstream ratings files).

    The diagonal is ignored.  Anything else, a lower-triangular or a non-symmetric full
    matrix, is refused naming the first differing pair, because reading one triangle of
    it would silently drop the other; so are +inf and -inf (only NaN means unrated).

    Parameters
    ----------
    path : Path
        The text file.
    n_sounds : int, optional
        The number of sounds the matrix must cover.

    Raises
    ------
    DataError
        Naming the file, for unreadable text, a wrong shape, infinite values or asymmetry.
    """
    path = Path(path)
    try:
        m = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable ratings matrix ({e})") from None
    if m.shape[0] != m.shape[1] or (n_sounds is not None and m.shape[0] != n_sounds):
        want = f"({n_sounds}, {n_sounds})" if n_sounds is not None else "square"
        raise DataError(f"{path}: ratings matrix has shape {m.shape}, expected {want}")
    bad = first_infinite_pair(m)
    if bad is not None:
        raise DataError(f"{path}: rating of pair {bad} is {m[bad]}; use nan for an unrated pair")
    if np.all(np.tril(m, -1) == 0):  # upstream layout: the upper triangle holds everything
        return ratings_from_upper(m)
    bad = first_asymmetric_pair(m)
    if bad is not None:
        i, j = bad
        raise DataError(f"{path}: ratings matrix is neither symmetric nor upper-triangular with zeros below: "
                        f"({i}, {j}) is {m[i, j]} but ({j}, {i}) is {m[j, i]}")
    m = m.copy()
    np.fill_diagonal(m, np.nan)
    return m


def load_ratings(dataset: str, *, progress: bool = False) -> np.ndarray:
    """Human ratings of ``dataset``: (l, l) symmetric, NaN diagonal, values in [0, 1]."""
    ds = get_dataset(dataset)
    (path,) = download.ensure([ds.ratings_path], progress=progress)
    ratings = ratings_from_upper(np.loadtxt(path))
    validate(dataset, "ratings", np.zeros((len(ratings), 1)), ratings, ds.sounds)
    return ratings


def validate(dataset: str, representation: str, features: np.ndarray, ratings: np.ndarray, sounds) -> None:
    """Raise :class:`DataError` naming the dataset and sound for input no fit can use."""
    where = f"{dataset}/{representation}"
    l = len(sounds)
    if l < 3:
        raise DataError(f"{where}: {l} sounds; a metric needs at least 3 sounds (3 pairs)")
    if features.ndim != 2 or features.shape[0] != l:
        raise DataError(f"{where}: features have shape {features.shape}, expected ({l}, n_features) for {l} sounds")
    if features.shape[1] == 0:
        raise DataError(f"{where}: features have no columns (n = 0)")
    if ratings.shape != (l, l):
        raise DataError(f"{where}: ratings have shape {ratings.shape}, expected ({l}, {l})")
    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise DataError(f"{where}: non-finite features for sound(s) {', '.join(np.asarray(sounds)[bad])}")
    off = ~np.eye(l, dtype=bool)
    r = ratings[off]
    if np.any((r < 0) | (r > 1)):
        i, j = np.argwhere(off & ((ratings < 0) | (ratings > 1)))[0]
        raise DataError(f"{where}: rating {ratings[i, j]} of pair ({sounds[i]}, {sounds[j]}) is outside [0, 1]")
    bad = first_asymmetric_pair(ratings)
    if bad is not None:
        i, j = bad
        raise DataError(f"{where}: ratings matrix is not symmetric: ({sounds[i]}, {sounds[j]}) is {ratings[i, j]} "
                        f"but ({sounds[j]}, {sounds[i]}) is {ratings[j, i]}")


def from_upstream_pickle(path: Path, dataset: str, representation: str) -> store.StoredFeatures:
    """Convert an upstream-format pickle (read safely) into a store record."""
    ds = get_dataset(dataset)
    obj = safepickle.load(path)
    if not isinstance(obj, dict) or "representations" not in obj:
        raise DataError(f"{path}: expected a dict with 'representations' (n_features x l_sounds)")
    reps = np.asarray(obj["representations"], dtype=np.float64)
    if reps.ndim != 2 or reps.shape[1] != ds.n_sounds:
        raise DataError(f"{path}: 'representations' has shape {reps.shape}, expected (n_features, {ds.n_sounds}) for {dataset}")
    if reps.shape[0] != N_FEATURES[representation]:
        raise DataError(f"{path}: {reps.shape[0]} features, expected {N_FEATURES[representation]} for {representation}")
    ratings = load_ratings(dataset)
    if "dissimilarities" in obj:
        embedded = ratings_from_upper(np.asarray(obj["dissimilarities"]))
        if embedded.shape != ratings.shape or not np.allclose(embedded, ratings, equal_nan=True):
            raise DataError(f"{path}: its 'dissimilarities' differ from the published ratings of {dataset}")
    features = reps.T
    validate(dataset, representation, features, ratings, ds.sounds)
    meta = {
        "source": "upstream", "representation": representation, "dataset": dataset,
        "upstream_file": str(path.name), "upstream_folder": UPSTREAM_FOLDER[representation],
        "sha256": download.sha256_file(path),
        "parameters": {k: _plain(obj[k]) for k in ("audio_args", "sigmas") if k in obj},
        "versions": {"numpy": np.__version__, "python": platform.python_version()},
    }
    return store.StoredFeatures(features=features, sounds=ds.sounds, ratings=ratings, metadata=meta)


def _plain(value):
    """JSON-able copy of upstream metadata (numbers, strings, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def import_pickle(path: Path, dataset: str, representation: str, *, source: str = "upstream") -> Path:
    """Import an upstream-format pickle into the feature store; returns the store file."""
    check_representation(representation)
    record = from_upstream_pickle(Path(path), dataset, representation)
    return store.save(store.feature_file(source, representation, dataset), record)


def load(dataset: str, representation: str, source: str = "upstream", *, progress: bool = False) -> FeatureSet:
    """Features and ratings of ``dataset`` in ``representation``.

    ``source="upstream"`` uses the published features (fetched and imported on first
    use); ``source="extracted"`` uses what ``timbre-jax extract`` computed.
    """
    check_representation(representation)
    ds = get_dataset(dataset)
    path = store.feature_file(source, representation, dataset)
    if not path.exists():
        if source != "upstream":
            raise FileNotFoundError(
                f"no {source} {representation} features for {dataset}; run "
                f"`timbre-jax extract --representation {representation} --dataset {dataset}`"
            )
        (pkl,) = download.ensure([ds.feature_path(representation)], progress=progress)
        import_pickle(pkl, dataset, representation)
    rec = store.load(path)
    features = np.asarray(rec.features, dtype=np.float64)
    validate(dataset, representation, features, rec.ratings, rec.sounds)
    return FeatureSet(dataset, representation, features, rec.ratings, rec.sounds, rec.metadata)


def available(representation: str, source: str = "upstream") -> list[str]:
    """Datasets whose features can be loaded without a network round trip that fails:
    in the store, or (upstream) fetchable.  Used to skip the strf files the mirror lacks."""
    out = []
    for name, ds in DATASETS.items():
        if store.feature_file(source, representation, name).exists():
            out.append(name)
        elif source == "upstream" and download.local_path(ds.feature_path(representation)).exists():
            out.append(name)
    return out
