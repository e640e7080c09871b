"""Import a user's features into the store: ``timbre-jax data import``.

:func:`import_features` reads a feature file (:mod:`timbre_jax.data.feature_files`), takes
its ratings and sound names from the dataset or the file (:func:`imported_record`) and
saves it under its own source, never ``upstream`` or ``extracted``
(:func:`check_import_source`).
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from timbre_jax.data import datasets, feature_files, rating_files, store, studies
from timbre_jax.data.registry import DATASETS
from timbre_jax.errors import DataError, UsageError


def check_import_source(source: str) -> str:
    """``source`` if it can receive imports: a safe name other than the built-in sources.

    ``upstream`` holds only the published features rebuilt from verified downloads and
    ``extracted`` what ``timbre-jax extract`` computed; an import must never replace them.
    """
    store.check_name(source, "feature source")
    if source in store.SOURCES:
        raise UsageError(f"cannot import into the {source!r} source: it holds "
                        f"{'the verified published features' if source == 'upstream' else 'extracted features'}; "
                        f"import under another --source name (default {store.DEFAULT_IMPORT_SOURCE!r})")
    return source


def imported_record(path: Path, dataset: str, representation: str, source: str,
                    ratings_file: Path | None = None) -> store.StoredFeatures:
    """Store record of a user's feature file (:mod:`timbre_jax.data.feature_files`: ``.pkl`` read
    safely, ``.npy``, ``.npz``, ``.csv``), of any width.

    For a built-in dataset or a study added with ``data add``, its sounds and ratings are
    used: rows are matched to the sounds by name where the file names them (else taken in
    the sorted order of the sound names), a pickle's ``dissimilarities``, if any, must
    equal the ratings, and ``ratings_file`` is refused.  For any other dataset name the
    ratings come from ``ratings_file`` (:func:`timbre_jax.data.rating_files.read_ratings`, in
    the order of the file's rows) or else from the pickle's ``dissimilarities``
    (upper-triangular, the upstream layout); when both are given they must agree.  Sound
    names are the file's, else ``sound01``, ``sound02``, ...
    """
    path = Path(path)
    store.check_name(representation, "representation")
    store.check_name(dataset, "dataset")
    check_import_source(source)
    given = feature_files.read(path)
    l = len(given.features)
    embedded = datasets.embedded_ratings(given.extras, path, l)
    builtin = DATASETS.get(dataset)
    if builtin is not None or studies.is_added(dataset):
        if ratings_file is not None:
            raise UsageError(f"{dataset} has its ratings already ({'published' if builtin else 'added'}); to fit other "
                            "ratings, import them under a new dataset name")
        study = None if builtin else studies.load(dataset)
        sounds, ratings = (builtin.sounds, datasets.load_ratings(dataset)) if builtin else (study.sounds, study.ratings)
        features = feature_files.in_order(given, sounds, path)
        if embedded is not None and (given.sounds not in (None, sounds)
                                     or not datasets.same_ratings(embedded, ratings)):
            raise DataError(f"{path}: its 'dissimilarities' differ from the ratings of {dataset}")
    else:
        sounds = given.sounds or tuple(f"sound{k:0{max(2, len(str(l)))}d}" for k in range(1, l + 1))
        features = given.features
        if ratings_file is not None:
            try:
                ratings = rating_files.read_ratings(Path(ratings_file), sounds)
            except DataError as e:  # the scale's advice names an option of `data add`, not of `data import`
                if "--scale" not in str(e):
                    raise
                raise DataError(f"{e} (`data import --ratings` has no --scale: add the study with `timbre-jax data "
                                f"add {dataset} --audio DIR --ratings FILE --scale LOW,HIGH`, then import its "
                                "features)") from None
            if embedded is not None and not datasets.same_ratings(embedded, ratings):
                raise DataError(f"{path}: its 'dissimilarities' differ from the ratings in {ratings_file}")
        elif embedded is not None:
            ratings = embedded
        else:
            raise DataError(f"{path}: {dataset} is neither a built-in dataset nor an added study and the file has no "
                            "ratings; give them with --ratings FILE, or add the study first (`timbre-jax data add`)")
    datasets.validate(dataset, representation, features, ratings, sounds)
    meta = {
        "source": source, "representation": representation, "dataset": dataset,
        "builtin_dataset": builtin is not None,
        "imported_file": str(path.resolve()), "sha256": store.sha256_file(path),
        "parameters": {k: datasets.json_plain(given.extras[k]) for k in ("audio_args", "sigmas") if k in given.extras},
        "versions": {"numpy": np.__version__, "python": platform.python_version()},
        **({"dimension_names": list(given.dimensions)} if given.dimensions is not None else {}),
    }
    if ratings_file is not None:
        meta["ratings_file"] = str(Path(ratings_file).resolve())
        meta["ratings_sha256"] = store.sha256_file(Path(ratings_file))
    return store.StoredFeatures(features=features, sounds=sounds, ratings=ratings, metadata=meta)


def import_features(path: Path, dataset: str, representation: str, *, source: str = store.DEFAULT_IMPORT_SOURCE,
                    ratings_file: Path | None = None) -> Path:
    """Import a user's feature file into the store under ``source``.

    Never writes the ``upstream`` or ``extracted`` sources (:func:`check_import_source`);
    see :func:`imported_record` for where ratings and sound names come from.  Returns
    the store file, ``<home>/features/<source>/<representation>/<dataset>.npz``.
    """
    record = imported_record(Path(path), dataset, representation, source, ratings_file)
    return store.save(store.feature_file(source, representation, dataset), record)
