"""timbre_jax_extract: compute the paper's representations from the audio stimuli (torch).

Public API::

    run(representation, datasets, *, checkpoint=None, device="cpu", progress=True) -> list[Path]
    REPRESENTATIONS

The package: ``base`` (the :class:`~timbre_jax_extract.base.Extractor` interface),
``pipeline`` (the driver), ``cache`` (the per-sound cache), ``aligned`` (frame-aligned
pairs of any per-sound sequence), ``dsp/`` (stft, cochlea, stmf, scattering, mfcc) and
``models/`` (deep, crepe, embedder).  See extract/README.md for every
representation's sample rate, dimension, layout, checkpoint and layer.  This package
imports torch; ``timbre_jax`` never imports it.
"""

from timbre_jax.data.audio import AudioError
from timbre_jax_extract.base import EXTRACTOR_PACKAGE_VERSION
from timbre_jax_extract.cache import cache_key
from timbre_jax_extract.pipeline import (
    BENCHMARK_BASELINES,
    DEEP,
    DSP,
    EXTRACTABLE,
    REPRESENTATIONS,
    ExtractionError,
    dataset_scale,
    extract_dataset,
    make_extractor,
    run,
    scale_features,
)

__version__ = EXTRACTOR_PACKAGE_VERSION

__all__ = [
    "REPRESENTATIONS", "EXTRACTABLE", "DSP", "DEEP", "BENCHMARK_BASELINES", "run", "make_extractor",
    "extract_dataset", "cache_key", "dataset_scale", "scale_features", "AudioError", "ExtractionError", "__version__",
]
