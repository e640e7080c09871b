"""The extractor interface shared by the DSP and the deep representations."""

from __future__ import annotations

import numpy as np


class Extractor:
    """Turns one mono waveform at :attr:`sample_rate` into one time-averaged feature vector.

    Subclasses set the class attributes and implement :meth:`features`; deep embedders also
    override :meth:`features_batch`.  ``parameters()`` must list everything that changes the
    output (it enters the cache key, with :attr:`version` and :attr:`checkpoint`).
    """

    name: str = ""
    sample_rate: int = 16000
    version: str = "1"
    n_features: int = 0
    layout: str = ""
    checkpoint: str | None = None
    libraries: tuple[str, ...] = ("numpy", "scipy")

    def parameters(self) -> dict:
        return {}

    def features(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def features_batch(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        return [self.features(x) for x in xs]

    def versions(self) -> dict:
        from importlib.metadata import PackageNotFoundError, version

        out = {}
        for lib in self.libraries:
            try:
                out[lib] = version(lib)
            except PackageNotFoundError:
                out[lib] = None
        return out
