"""timbre_jax_extract: compute the paper's representations from the audio stimuli (torch).

Public API::

    run(representation, datasets, *, checkpoint=None, device="cpu", progress=True) -> list[Path]
    REPRESENTATIONS

See extract/README.md for every representation's sample rate, dimension, layout,
checkpoint and layer.  This package imports torch; ``timbre_jax`` never imports it.
"""

from timbre_jax.data.audio import AudioError

from .pipeline import (
    DEEP,
    DSP,
    EXTRACTABLE,
    EXTRACTOR_PACKAGE_VERSION,
    REPRESENTATIONS,
    ExtractionError,
    cache_key,
    dataset_scale,
    extract_dataset,
    make_extractor,
    run,
    scale_features,
)

__version__ = EXTRACTOR_PACKAGE_VERSION

__all__ = [
    "REPRESENTATIONS", "EXTRACTABLE", "DSP", "DEEP", "run", "make_extractor", "extract_dataset", "cache_key",
    "dataset_scale", "scale_features", "AudioError", "ExtractionError", "__version__",
]
