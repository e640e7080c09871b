"""The extractor interface shared by the DSP and the deep representations."""

from __future__ import annotations

import importlib.metadata

import numpy as np

EXTRACTOR_PACKAGE_VERSION = "0.1.0"
"""Version of timbre_jax_extract; each extractor also has its own ``version``."""


class Extractor:
    """Turns one mono waveform at :attr:`sample_rate` into one time-averaged feature vector.

    Subclasses set the class attributes and implement :meth:`features`; deep embedders also
    override :meth:`features_batch`.  ``parameters()`` must list everything that changes the
    output (it enters the cache key, with :attr:`version` and :attr:`checkpoint`).

    A user's embedder (:mod:`timbre_jax_extract.models.embedder`) implements :meth:`embed`
    instead, may take each file at its own rate (``sample_rate = None``), keeps its
    features as returned (``rescale = False``) and is never cached (``cacheable = False``:
    its code can change under the same name).
    """

    name: str = ""
    sample_rate: int | None = 16000
    rescale: bool = True
    """Divide a dataset's features by :func:`~timbre_jax_extract.pipeline.dataset_scale`."""
    cacheable: bool = True
    """Keep each sound's vector in the per-sound cache."""
    aligned: bool = False
    """Frame-aligned: the extractor gives a study's pairs, ``pairs(waves, sample_rate, sounds)
    -> timbre_jax.core.aligned.AlignedPairs``, instead of one vector per sound."""
    version: str = "1"
    n_features: int = 0
    layout: str = ""
    checkpoint: str | None = None
    libraries: tuple[str, ...] = ("numpy", "scipy")
    dimension_names: tuple[str, ...] | None = None
    """The name of each dimension, in order (None: unnamed); stored with the features
    (``metadata["dimension_names"]``) and read back as ``FeatureSet.dimension_names``."""
    dimension_units: tuple[str, ...] | None = None
    """The unit of each dimension ("Hz", "s", "" for a ratio), beside the names."""
    standardize: bool = False
    """Per study, subtract each dimension's mean over the study's sounds and divide by its
    standard deviation (:func:`timbre_jax_extract.pipeline.standardize_features`), keeping the
    raw values in the metadata: for dimensions of different units (descriptors).  Replaces
    :attr:`rescale`."""

    def parameters(self) -> dict:
        return {}

    def features(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def features_batch(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        return [self.features(x) for x in xs]

    def embed(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """One sound's vector from its waveform at ``sample_rate`` (:attr:`sample_rate`
        unless that is None): :meth:`features` by default."""
        return self.features(x)

    def versions(self) -> dict:
        out = {}
        for lib in self.libraries:
            try:
                out[lib] = importlib.metadata.version(lib)
            except importlib.metadata.PackageNotFoundError:
                out[lib] = None
        return out
