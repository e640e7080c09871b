"""Check and repair the feature store: the ``upstream`` files are a cache of the verified
downloads, rebuilt here when they are unreadable or stale.

:func:`store_file_problem` says why one store file (any source) is unusable;
:func:`repair_upstream_store` rebuilds every bad ``upstream`` file from its download
(:func:`timbre_jax.data.datasets.rebuild_upstream`, which loading also uses on first use);
:func:`inventory` says what the cache holds (``data list``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.core import aligned
from timbre_jax.data import datasets, download, safepickle, store
from timbre_jax.data.registry import BENCHMARK, N_FEATURES, PAPER
from timbre_jax.errors import DataError, DownloadError


def store_file_problem(path: Path) -> str | None:
    """Why the store file at ``path`` is unusable (the message names it), or None.

    Checks that every array loads with consistent shapes, that the metadata matches the
    file's place in the store, that the data passes
    :func:`~timbre_jax.data.datasets.validate`, and, for ``upstream`` files,
    :func:`~timbre_jax.data.datasets.upstream_problem`.
    """
    path = Path(path)
    source, representation, dataset = store.parts(path)
    try:
        rec = store.load(path)
    except store.StoreError as e:
        return str(e)
    if source == "upstream":
        if representation not in N_FEATURES:
            return f"{path}: {representation!r} is not one of the paper's representations"
        if dataset not in PAPER:
            return f"{path}: {dataset!r} is not one of the paper's datasets (the only ones with published features)"
        why = datasets.upstream_problem(rec, dataset, representation)
        if why:
            return f"{path}: {why}"
    else:
        said = (rec.metadata.get("source"), rec.metadata.get("representation"), rec.metadata.get("dataset"))
        if said != (source, representation, dataset):
            return f"{path}: its metadata says {'/'.join(map(str, said))}, not {source}/{representation}/{dataset}"
    try:
        features = rec.features if aligned.is_aligned(rec.features) else np.asarray(rec.features, dtype=np.float64)
        datasets.validate(dataset, representation, features, rec.ratings, rec.sounds)
    except DataError as e:
        return f"{path}: {e}"
    return None


def repair_upstream_store(*, mirror_url: str | None = None, progress: bool = False):
    """Rebuild every ``upstream`` store file that is unreadable or stale.

    Returns ``(rebuilt, failed)``: the paths rebuilt, and (path, reason) of those that
    could not be (no network, not a built-in dataset, ...).
    """
    rebuilt, failed = [], []
    for path in store.stored_files("upstream"):
        problem = store_file_problem(path)
        if problem is None:
            continue
        _, representation, dataset = store.parts(path)
        if dataset not in PAPER or representation not in N_FEATURES:
            failed.append((path, f"{problem}; it cannot be rebuilt, delete it"))
            continue
        try:
            datasets.rebuild_upstream(dataset, representation, mirror_url=mirror_url, progress=progress)
            rebuilt.append(path)
        except (DownloadError, DataError, safepickle.UnsafePickleError) as e:
            failed.append((path, f"{problem}; rebuilding failed: {e}"))
    return rebuilt, failed


def inventory(representations) -> tuple[list[str], list[list[str]], list[str]]:
    """What the cache holds for the built-in datasets: a header, one row per dataset
    (name, sounds, ratings yes/no, audio files cached/total, then yes/no per
    representation: downloaded or in the upstream store; "-" for the benchmark's 4
    studies, which have no published features) and the missing "representation/dataset"
    features."""
    header = ["dataset", "sounds", "ratings", "audio", *representations]
    rows, missing = [], []
    for name, ds in BENCHMARK.items():
        audio = sum(download.local_path(p).exists() for p in ds.audio_paths)
        row = [name, str(ds.n_sounds), "yes" if download.local_path(ds.ratings_path).exists() else "no",
               f"{audio}/{ds.n_sounds}"]
        for r in representations:
            if name not in PAPER:
                row.append("-")
                continue
            have = download.local_path(ds.feature_path(r)).exists() or store.feature_file("upstream", r, name).exists()
            row.append("yes" if have else "no")
            if not have:
                missing.append(f"{r}/{name}")
        rows.append(row)
    return header, rows, missing
