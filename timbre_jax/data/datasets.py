"""Load a dataset's features and ratings: the input of every fit.

:func:`load` returns a :class:`FeatureSet` read from the feature store, importing the
upstream pickle on first use (fetching it if needed).  Ratings come as the full
symmetric (l, l) matrix with NaN on the diagonal and for unrated pairs, and as the
condensed pair vector (i < j, row-major).

The store's other jobs sit beside this module: checking and repairing the ``upstream``
store in :mod:`timbre_jax.data.upstream`, importing a user's features in
:mod:`timbre_jax.data.imported`.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.core.pearson import condensed
from timbre_jax.core.ratings import asymmetry, ratings_from_upper
from timbre_jax.data import download, rating_files, safepickle, store, studies
from timbre_jax.data.participants import Participants, from_lower_blocks
from timbre_jax.data.registry import BENCHMARK as BENCHMARK  # public: timbre_jax.datasets.BENCHMARK
from timbre_jax.data.registry import (
    DATASETS,
    EXTRACTED_ONLY,
    N_FEATURES,
    UPSTREAM_FOLDER,
    get_dataset,
    published_source,
)
from timbre_jax.data.registry import PAPER as PAPER  # public: timbre_jax.datasets.PAPER
from timbre_jax.errors import DataError, MissingFeatures, UsageError


@dataclass(frozen=True)
class FeatureSet:
    """Features (l, n) and ratings (l, l) of one dataset in one representation.

    For a frame-aligned representation ``features`` is an
    :class:`~timbre_jax.core.aligned.AlignedPairs` (per pair, not per sound): every fit and
    distance takes either (:mod:`timbre_jax.core.aligned`)."""

    dataset: str
    representation: str
    features: np.ndarray | aligned.AlignedPairs
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

    @property
    def aligned(self) -> bool:
        """Whether the representation is frame-aligned (compared per pair, frame by frame)."""
        return aligned.is_aligned(self.features)

    @property
    def dims(self) -> int:
        """The number of dimensions n: one weight each in a learned metric."""
        return aligned.dims_of(self.features)

    @property
    def dimension_names(self) -> tuple[str, ...] | None:
        """The name of each of the n dimensions (descriptors, mfcc coefficients, a user's
        named features), or None where the representation has none."""
        names = self.metadata.get("dimension_names")
        return None if names is None else tuple(names)

    @property
    def dimension_units(self) -> tuple[str, ...] | None:
        """The unit of each named dimension ("" for a ratio), or None."""
        units = self.metadata.get("dimension_units")
        return None if units is None else tuple(units)


def load_ratings(dataset: str, *, progress: bool = False) -> np.ndarray:
    """Human ratings of ``dataset``: (l, l) symmetric, NaN diagonal, values in [0, 1].

    The benchmark's 4 studies are read as a user's matrix is
    (:func:`~timbre_jax.data.rating_files.read_matrix`): upper-triangular with zeros below,
    values in [0, 1], the diagonal ignored (Saitis2020's holds small self-pair ratings)."""
    ds = get_dataset(dataset)
    (path,) = download.ensure([ds.ratings_path], progress=progress)
    if ds.in_paper:
        ratings = ratings_from_upper(np.loadtxt(path))
    else:
        ratings = rating_files.read_matrix(path, ds.n_sounds)
    validate(dataset, "ratings", np.zeros((len(ratings), 1)), ratings, ds.sounds)
    return ratings


def participants(dataset: str, *, progress: bool = False) -> Participants | None:
    """Per-participant ratings of ``dataset``, or None where only mean ratings exist
    (:func:`no_participants_reason` says why).

    Built in: Lakatos2000_Comb and _Harm, from Thoret et al.'s raw files, whose mean is
    checked against the study's mean ratings (equal to 1e-12, else DataError);
    Lakatos2000_Perc's raw file does not give its shipped ratings and is not used.  An
    added study: those given to ``data add``."""
    if dataset in DATASETS:
        ds = get_dataset(dataset)
        if not ds.raw_path or not ds.raw_matches:
            return None
        found, _, largest = raw_agreement(dataset, progress=progress)
        if largest > 1e-12:
            raise DataError(f"{ds.raw_path}: the participants' mean differs from the ratings of {dataset} "
                            f"by up to {largest:.3g}")
        return found
    return studies.load(dataset).participants if studies.is_added(dataset) else None


def raw_agreement(dataset: str, *, progress: bool = False) -> tuple[Participants, float, float]:
    """A built-in study's raw per-participant file read, with the Pearson correlation and
    the largest absolute difference between its mean and the study's mean ratings."""
    ds = get_dataset(dataset)
    if not ds.raw_path:
        raise UsageError(f"{dataset} has no per-participant file; those that do: "
                         f"{', '.join(d for d, x in DATASETS.items() if x.raw_path)}")
    (path,) = download.ensure([ds.raw_path], progress=progress)
    found = from_lower_blocks(np.loadtxt(path), ds.n_sounds, str(path))
    mean, shipped = condensed(found.mean()), condensed(load_ratings(dataset, progress=progress))
    return found, float(np.corrcoef(mean, shipped)[0, 1]), float(np.max(np.abs(mean - shipped)))


def no_participants_reason(dataset: str) -> str:
    """Why ``dataset`` has no per-participant ratings (one line, for a skipped study)."""
    if dataset in DATASETS and not get_dataset(dataset).raw_matches:
        return (f"{dataset}: its per-participant file does not give its published mean ratings (Pearson 0.40; "
                "docs/data.md), so only the mean is used")
    if dataset in DATASETS:
        return f"{dataset}: only its mean ratings were published (per-participant data: Lakatos2000_Comb, _Harm)"
    return (f"{dataset}: added with mean ratings only; add it with per-participant ratings (docs/data.md) for "
            "reliability and noise ceilings")


def validate(dataset: str, representation: str, features, ratings: np.ndarray, sounds) -> None:
    """Raise :class:`DataError` naming the dataset and sound for input no fit can use;
    ``features`` (l, n) or an :class:`~timbre_jax.core.aligned.AlignedPairs`."""
    where = f"{dataset}/{representation}"
    l = len(sounds)
    if l < 3:
        raise DataError(f"{where}: {l} sounds; a metric needs at least 3 sounds (3 pairs)")
    if aligned.is_aligned(features):
        aligned.check(features, where, tuple(sounds))
    elif features.ndim != 2 or features.shape[0] != l:
        raise DataError(f"{where}: features have shape {features.shape}, expected ({l}, n_features) for {l} sounds")
    elif features.shape[1] == 0:
        raise DataError(f"{where}: features have no columns (n = 0)")
    if ratings.shape != (l, l):
        raise DataError(f"{where}: ratings have shape {ratings.shape}, expected ({l}, {l})")
    bad = np.zeros(l, dtype=bool) if aligned.is_aligned(features) else ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise DataError(f"{where}: non-finite features for sound(s) {', '.join(np.asarray(sounds)[bad])}")
    off = ~np.eye(l, dtype=bool)
    r = ratings[off]
    if np.any((r < 0) | (r > 1)):
        i, j = np.argwhere(off & ((ratings < 0) | (ratings > 1)))[0]
        raise DataError(f"{where}: rating {ratings[i, j]} of pair ({sounds[i]}, {sounds[j]}) is outside [0, 1]")
    why = asymmetry(ratings, sounds)
    if why:
        raise DataError(f"{where}: {why}")


def pickle_features(path: Path, dataset: str, representation: str, n_sounds: int | None = None):
    """Features (l, n) and the whole object of an upstream-format pickle (read safely).

    The pickle is a dict with ``representations`` (n_features, l_sounds); n_features
    must be that of ``representation`` (:data:`~timbre_jax.data.registry.N_FEATURES`) and
    l_sounds ``n_sounds`` when given.
    """
    obj = safepickle.load(path)
    if not isinstance(obj, dict) or "representations" not in obj:
        raise DataError(f"{path}: expected a dict with 'representations' (n_features x l_sounds)")
    reps = np.asarray(obj["representations"], dtype=np.float64)
    want = n_sounds if n_sounds is not None else "l_sounds"
    if reps.ndim != 2 or (n_sounds is not None and reps.shape[1] != n_sounds):
        raise DataError(f"{path}: 'representations' has shape {reps.shape}, "
                        f"expected (n_features, {want}) for {dataset}")
    if reps.shape[0] != N_FEATURES[representation]:
        raise DataError(f"{path}: {reps.shape[0]} features, expected {N_FEATURES[representation]} for {representation}")
    return reps.T, obj


def embedded_ratings(obj: dict, path: Path, l: int) -> np.ndarray | None:
    """The pickle's ``dissimilarities`` (upper-triangular, upstream layout) as a full
    matrix, or None if it has none."""
    if "dissimilarities" not in obj:
        return None
    upper = np.asarray(obj["dissimilarities"], dtype=np.float64)
    if upper.shape != (l, l):
        raise DataError(f"{path}: 'dissimilarities' has shape {upper.shape}, expected ({l}, {l})")
    return ratings_from_upper(upper)


def same_ratings(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (l, l) rating matrices are equal up to rounding, NaN (unrated) matching NaN."""
    return a.shape == b.shape and np.allclose(a, b, equal_nan=True)


def from_upstream_pickle(path: Path, dataset: str, representation: str) -> store.StoredFeatures:
    """Convert a published upstream pickle (read safely) into an ``upstream`` store record."""
    path = Path(path)
    ds = get_dataset(dataset)
    features, obj = pickle_features(path, dataset, representation, ds.n_sounds)
    ratings = load_ratings(dataset)
    embedded = embedded_ratings(obj, path, ds.n_sounds)
    if embedded is not None and not same_ratings(embedded, ratings):
        raise DataError(f"{path}: its 'dissimilarities' differ from the published ratings of {dataset}")
    validate(dataset, representation, features, ratings, ds.sounds)
    meta = {
        "source": "upstream", "representation": representation, "dataset": dataset,
        "upstream_file": str(path.name), "upstream_folder": UPSTREAM_FOLDER[representation],
        "sha256": store.sha256_file(path),
        "parameters": {k: json_plain(obj[k]) for k in ("audio_args", "sigmas") if k in obj},
        "versions": {"numpy": np.__version__, "python": platform.python_version()},
    }
    return store.StoredFeatures(features=features, sounds=ds.sounds, ratings=ratings, metadata=meta)


def json_plain(value):
    """JSON-able copy of upstream metadata (numbers, strings, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): json_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def redo_command(source: str, representation: str, dataset: str) -> str:
    """The command that (re)creates a store file of ``source``."""
    if source == "upstream":
        return "timbre-jax data fetch"
    if source == "extracted":
        if representation not in N_FEATURES and representation not in EXTRACTED_ONLY:
            return f"timbre-jax extract --embedder SPEC --name {representation} --datasets {dataset}"
        return f"timbre-jax extract --representation {representation} --datasets {dataset}"
    return f"timbre-jax data import FILE --dataset {dataset} --representation {representation} --source {source}"


def upstream_problem(rec: store.StoredFeatures, dataset: str, representation: str) -> str | None:
    """Why an ``upstream`` store record is not the published features, or None.

    It must say it is upstream for this dataset and representation, hold the
    registry's sounds, and record the sha256 of the verified download it came from
    (a record built from any other pickle is stale).
    """
    ds = get_dataset(dataset)
    meta = rec.metadata
    said = (meta.get("source"), meta.get("representation"), meta.get("dataset"))
    if said != ("upstream", representation, dataset):
        return f"its metadata says {'/'.join(map(str, said))}, not upstream/{representation}/{dataset}"
    if rec.sounds != ds.sounds:
        return f"its sounds are not those of {dataset}"
    want = download.expected_sha256(ds.feature_path(representation))
    if want is not None and meta.get("sha256") != want:
        return (f"it was built from a pickle with sha256 {str(meta.get('sha256'))[:12]}..., not the published "
                f"{want[:12]}... (stale or replaced)")
    return None


def rebuild_upstream(dataset: str, representation: str, *, mirror_url: str | None = None,
                     progress: bool = False) -> store.StoredFeatures:
    """(Re)write the ``upstream`` store file of (dataset, representation) from its
    verified download, fetching the pickle and ratings if they are not cached."""
    ds = get_dataset(dataset)
    pkl, _ = download.ensure([ds.feature_path(representation), ds.ratings_path], mirror_url=mirror_url,
                             progress=progress)
    record = from_upstream_pickle(pkl, dataset, representation)
    store.save(store.feature_file("upstream", representation, dataset), record)
    return record


def _upstream_record(dataset: str, representation: str, progress: bool) -> store.StoredFeatures:
    if dataset in DATASETS and representation not in N_FEATURES:
        raise MissingFeatures(f"no upstream {representation} features for {dataset}: the paper published its 8 "
                              f"representations ({', '.join(N_FEATURES)}); use the source \"extracted\" "
                              "(features extracted with `timbre-jax extract`)")
    if studies.is_added(dataset):
        raise MissingFeatures(f"{dataset} is a study you added: the paper published no features for it; extract them "
                              f"(`{redo_command('extracted', representation, dataset)}`) and use the source "
                              "\"extracted\" (or \"auto\", the default, which picks it)")
    if dataset not in DATASETS:
        store.check_name(dataset, "dataset")
        elsewhere = [s for s in store.stored_sources() if dataset in store.stored_datasets(s, representation)]
        hint = f"; it is in source {', '.join(elsewhere)}: load it from there" if elsewhere else ""
        raise UsageError(f"unknown dataset {dataset!r}: the upstream source holds the {len(DATASETS)} built-in "
                         f"datasets ({', '.join(DATASETS)}){hint}")
    path = store.feature_file("upstream", representation, dataset)
    if path.exists():
        try:
            rec = store.load(path)
            if upstream_problem(rec, dataset, representation) is None:
                return rec
        except store.StoreError:
            pass  # a cache of verified downloads: rebuilt below
    return rebuild_upstream(dataset, representation, progress=progress)


def _stored_record(dataset: str, representation: str, source: str) -> store.StoredFeatures:
    path = store.feature_file(source, representation, dataset)
    redo = redo_command(source, representation, dataset)
    if not path.exists():
        if source == "extracted" and dataset not in DATASETS and not studies.is_added(dataset):
            # No audio to extract from: an unknown name, as for the upstream source.
            elsewhere = [s for s in store.stored_sources() if dataset in store.stored_datasets(s, representation)]
            where = f"it is in source {', '.join(elsewhere)}: load it from there" if elsewhere else (
                "add the study first (`timbre-jax data add`) or import features for it (`timbre-jax data import`)")
            raise UsageError(f"unknown dataset {dataset!r}: neither a built-in dataset nor a study you added, so "
                             f"there are no extracted features of it; {where}")
        raise MissingFeatures(f"no {source} {representation} features for {dataset}; run `{redo}`")
    try:
        return store.load(path)
    except store.StoreError as e:
        raise DataError(f"{e}; recreate it with `{redo}`") from None


def load(dataset: str, representation: str, source: str = "auto", *, progress: bool = False) -> FeatureSet:
    """Features and ratings of ``dataset`` in ``representation``.

    ``source="auto"`` (the default, as at the command line) is ``upstream`` where the
    paper published the features and ``extracted`` elsewhere
    (:func:`~timbre_jax.data.registry.published_source`).  ``source="upstream"`` uses
    the published features of a built-in dataset: the store file is a cache of the
    verified download, built on first use and rebuilt when it is unreadable or stale.
    ``source="extracted"`` uses what ``timbre-jax extract`` computed; any other source
    what ``timbre-jax data import`` stored under that source name, for a built-in dataset
    or any other (its ratings are stored with the features).  A missing or damaged
    extracted or imported file is an error that says how to redo it.
    """
    store.check_name(representation, "representation")
    if source == "auto":
        source = published_source(representation, dataset)
    store.check_name(source, "feature source")
    if source == "upstream":
        rec = _upstream_record(dataset, representation, progress)
    else:
        rec = _stored_record(dataset, representation, source)
    features = rec.features if aligned.is_aligned(rec.features) else np.asarray(rec.features, dtype=np.float64)
    validate(dataset, representation, features, rec.ratings, rec.sounds)
    check_dimension_names(f"{dataset}/{representation}", rec.metadata, aligned.dims_of(features))
    return FeatureSet(dataset, representation, features, rec.ratings, rec.sounds, rec.metadata)


def check_dimension_names(where: str, metadata: dict, n: int) -> None:
    """Raise :class:`DataError` unless the metadata's ``dimension_names`` (and units), where
    present, are n distinct strings (n strings)."""
    names, units = metadata.get("dimension_names"), metadata.get("dimension_units")
    if names is not None and (not isinstance(names, list) or len(names) != n or len(set(map(str, names))) != n):
        raise DataError(f"{where}: its store file names {len(names) if isinstance(names, list) else '?'} dimensions "
                        f"for {n} features (the names must be {n} distinct strings)")
    if units is not None and (names is None or not isinstance(units, list) or len(units) != n):
        raise DataError(f"{where}: its store file gives units for other than its {n} named dimensions")


def load_available(representation: str, names, source: str = "auto"):
    """The feature sets of ``names`` in ``representation`` that ``source`` has (``"auto"``:
    chosen per dataset, see :func:`load`), and (representation, dataset, reason) for each of
    the others.  Every multi-dataset command loads through here."""
    sets, skipped = [], []
    for d in names:
        try:
            sets.append(load(d, representation, source))
        except (download.MissingUpstreamFile, MissingFeatures) as e:
            skipped.append((representation, d, str(e)))
    return sets, skipped


def joint_problem(sets: list[FeatureSet]):
    """One problem from several datasets: features stacked (sum l_i, n) (aligned pairs
    joined, :func:`timbre_jax.core.aligned.joint`), ratings the block-diagonal (sum l_i,
    sum l_i) matrix, pairs across datasets unrated (NaN)."""
    if len(sets) == 1:
        return sets[0].features, sets[0].ratings
    if any(s.aligned for s in sets):
        if not all(s.aligned for s in sets):
            raise DataError(f"{sets[0].representation}: aligned and per-sound features cannot be fitted together")
        features = aligned.joint([s.features for s in sets])
    else:
        features = np.concatenate([s.features for s in sets])
    L = sum(len(s.sounds) for s in sets)
    ratings = np.full((L, L), np.nan)
    o = 0
    for s in sets:
        l = len(s.sounds)
        ratings[o:o + l, o:o + l] = s.ratings
        o += l
    return features, ratings
