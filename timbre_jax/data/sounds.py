"""The stimuli of any dataset, built-in or added: the input of extraction.

:func:`stimuli` gives a :class:`~timbre_jax.data.studies.Study`: for a built-in dataset its
audio files fetched and verified (:mod:`timbre_jax.data.download`) and its published ratings
(:func:`timbre_jax.data.datasets.load_ratings`); for a study added with ``timbre-jax data
add``, what its manifest records (:func:`timbre_jax.data.studies.load`).
"""

from __future__ import annotations

from pathlib import Path

from timbre_jax.data import datasets, download, studies
from timbre_jax.data.registry import DATASETS


def stimuli(name: str, *, progress: bool = False) -> studies.Study:
    """Audio files and ratings of a built-in dataset (fetched and verified) or an added study."""
    if name not in DATASETS:
        return studies.load(name)
    ds = DATASETS[name]
    files = download.ensure(list(ds.audio_paths), progress=progress)
    return studies.Study(name, ds.sounds, tuple(Path(f) for f in files), datasets.load_ratings(name, progress=progress),
                         ds.audio_paths)
