"""Your own embedder: a Python function, or a HEAR module, as an extractor.

A user's function is ``fn(audio, sample_rate)`` with ``audio`` a float32 array of shape
``(samples,)`` (mono) and ``sample_rate`` an int; it returns one vector ``(dims,)`` or a
frame matrix ``(frames, dims)`` (``frames >= 1``), which is averaged over frames, or, with
``aligned=True`` (``extract --aligned``), kept frame by frame: two sounds are compared
after the shorter one's audio is zero-padded to the longer one's length
(:mod:`timbre_jax_extract.aligned`), so the function must return ``(frames, dims)``.  A numpy
array, anything array-like, or a torch tensor (anything with ``.detach().cpu().numpy()``)
is accepted and converted to float64.  ``fn.sample_rate`` (an int attribute of the
function), when present, is the rate the audio is resampled to; without it each file is
passed at its own rate.  ``fn.dimension_names`` (a sequence of distinct strings, one per
dimension returned), when present, names the dimensions in the store (and
``fn.dimension_units`` their units, as many); a count other than the dimensions' is an
error when the study is stored.

``load_function(spec)`` finds the function: ``package.module:function`` (imported as usual)
or ``path/to/file.py:function`` (loaded from that file).  ``hear_embedder(module, name)``
wraps a module of the HEAR API (Turian et al. 2022, "HEAR: Holistic Evaluation of Audio
Representations"): ``load_model(model_file_path="")`` returns a model with an int
``sample_rate``, and ``get_scene_embeddings(audio (n_sounds, samples) torch tensor, model)``
returns ``(n_sounds, dims)``.

These extractors keep the features as returned (``rescale = False``) and are never cached
(``cacheable = False``): the code behind a name can change between runs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import itertools
import numbers
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from timbre_jax.core.aligned import AlignedPairs
from timbre_jax.data.store import check_name
from timbre_jax.errors import DataError, UsageError
from timbre_jax_extract.aligned import pairs_of
from timbre_jax_extract.base import Extractor

SPEC_FORMS = "package.module:function or path/to/file.py:function"
HEAR_API = ("a HEAR module defines load_model(model_file_path='') -> model (with an int sample_rate) and "
            "get_scene_embeddings(audio, model) -> (n_sounds, dims)")

_loaded_files = itertools.count()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def check_sample_rate(rate, what: str) -> int | None:
    """``rate`` as an int (None stays None); a non-positive or non-integer rate is a UsageError."""
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not float(rate).is_integer() or rate <= 0:
        raise UsageError(f"{what}: sample_rate must be a positive integer (Hz) or absent, got {rate!r}")
    return int(rate)


def check_dimension_labels(labels, what: str, attribute: str, distinct: bool = True) -> tuple[str, ...] | None:
    """``fn.dimension_names`` (or ``dimension_units``, ``distinct=False``) as a tuple of strings
    (None stays None); anything else (a single string, non-strings, an empty or repeated name)
    is a UsageError naming ``what``."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise UsageError(f"{what}: {attribute} must be a sequence of strings, one per dimension, "
                         f"got {type(labels).__name__}")
    labels = tuple(labels)
    if not labels:
        raise UsageError(f"{what}: {attribute} is empty: give one per dimension")
    bad = [x for x in labels if not isinstance(x, str) or (distinct and not x.strip())]
    if bad:
        raise UsageError(f"{what}: {attribute} must be {'non-empty ' if distinct else ''}strings, "
                         f"got {bad[0]!r} among them")
    if distinct and len(set(labels)) != len(labels):
        twice = next(x for x in labels if labels.count(x) > 1)
        raise UsageError(f"{what}: {attribute} names {twice!r} twice: give one distinct name per dimension")
    return tuple(str(x) for x in labels)


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def import_target(target: str, what: str):
    """The module ``target``: a dotted module name, or a ``.py`` file loaded under a unique
    module name (its folder is on ``sys.path`` only while the file runs, so that it can import
    its neighbours).  Any failure is a one-line UsageError naming ``what``."""
    if not _is_path(target):
        try:
            return importlib.import_module(target)
        except Exception as e:  # ModuleNotFoundError, or any error the module raises at import
            raise UsageError(f"{what}: cannot import module {target!r} ({_first_line(e)})") from None
    path = Path(target).expanduser()
    if not path.is_file():
        raise UsageError(f"{what}: file {str(path)!r} does not exist")
    path = path.resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"_timbre_jax_embedder_{path.stem}_{digest}_{next(_loaded_files)}"
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"not a Python source file: {path}")
        module = importlib.util.module_from_spec(spec)
    except Exception as e:
        raise UsageError(f"{what}: cannot import {str(path)!r} ({_first_line(e)})") from None
    folder = str(path.parent)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up here
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise UsageError(f"{what}: cannot import {str(path)!r} ({_first_line(e)})") from None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:  # the file removed it itself
            pass
    return module


def _attribute(module, attr: str, where: str, what: str):
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
            raise UsageError(f"{what}: {where} has no {attr!r} (its public callables: {shown or 'none'})")
        obj = getattr(obj, part)
    return obj


def load_function(spec: str) -> Callable:
    """The function named by ``spec``: ``package.module:function`` or ``path/to/file.py:function``.

    The last ``:`` splits module from function (so ``C:\\dir\\emb.py:f`` works); the function may be
    a dotted attribute (``module:Class.method``).  Raises a one-line UsageError for a spec without
    ``:``, a missing file, a failed import (with the original exception), a missing attribute or
    one that is not callable.
    """
    what = f"embedder {spec!r}"
    target, sep, attr = str(spec).rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"{what}: give {SPEC_FORMS}")
    module = import_target(target, what)
    fn = _attribute(module, attr, f"{target!r}", what)
    if not callable(fn):
        raise UsageError(f"{what}: {attr!r} is a {type(fn).__name__}, not a function fn(audio, sample_rate)")
    return fn


def as_vector(out, what: str = "the embedder") -> np.ndarray:
    """One sound's feature vector (dims,) float64 from an embedder's output: a vector (dims,) as is,
    a frame matrix (frames, dims) averaged over frames.  Anything else is a DataError naming the shape."""
    a = as_array(out, what)
    return a if a.ndim == 1 else a.mean(axis=0)


def as_array(out, what: str = "the embedder") -> np.ndarray:
    """An embedder's output as a float64 array (dims,) or (frames, dims), not empty; anything
    else (None, complex, not numeric, another number of axes) is a DataError naming it."""
    if out is None:
        raise DataError(f"{what} returned None: return (dims,) or (frames, dims)")
    if hasattr(out, "detach"):  # a torch tensor, on any device and of any float type
        out = out.detach().cpu()
        try:
            out = out.numpy()
        except TypeError:  # bfloat16 and the like have no numpy type
            out = out.double().numpy()
    try:
        a = np.asarray(out)
        if np.iscomplexobj(a):
            raise DataError(f"{what} returned complex values: return real features (e.g. their magnitude)")
        a = a.astype(np.float64)
    except (TypeError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{what} returned a {type(out).__name__} that is not a numeric array "
                        f"({_first_line(e)}): return (dims,) or (frames, dims)") from None
    if a.ndim not in (1, 2):
        raise DataError(f"{what} returned shape {a.shape}: expected (dims,) or (frames, dims)")
    if a.size == 0:
        raise DataError(f"{what} returned shape {a.shape}, which is empty: expected at least one frame and one "
                        "dimension")
    return a


class Embedder(Extractor):
    """A user's function ``fn(audio float32 (samples,), sample_rate) -> (dims,) | (frames, dims)``
    as an extractor named ``name``; :meth:`embed` gives the frame-averaged (dims,) float64 vector,
    or, with ``aligned=True``, :meth:`pairs` the study's frame-aligned pairs.

    ``spec`` records where the function came from (``parameters()["embedder"]``); by default its
    module and qualified name.  ``sample_rate`` is ``fn.sample_rate`` (None: each file's own rate);
    ``dimension_names`` and ``dimension_units`` are ``fn.dimension_names`` and ``fn.dimension_units``
    (None where absent).
    """

    rescale = False
    cacheable = False
    version = "1"
    checkpoint = None
    layout = "user embedding, frame-averaged"
    libraries = ("numpy",)

    def __init__(self, fn: Callable, name: str, *, spec: str | None = None, libraries: tuple[str, ...] = (),
                 aligned: bool = False):
        if not callable(fn):
            raise UsageError(f"embedder for {name!r}: {type(fn).__name__} is not a function fn(audio, sample_rate)")
        self.fn = fn
        self.name = check_name(name, "representation")
        self.spec = spec if spec is not None else \
            f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"
        self.sample_rate = check_sample_rate(getattr(fn, "sample_rate", None), f"embedder {self.spec!r}")
        self.dimension_names = check_dimension_labels(getattr(fn, "dimension_names", None),
                                                      f"embedder {self.spec!r}", "dimension_names")
        self.dimension_units = check_dimension_labels(getattr(fn, "dimension_units", None),
                                                      f"embedder {self.spec!r}", "dimension_units", distinct=False)
        if self.dimension_units is not None and len(self.dimension_units) != len(self.dimension_names or ()):
            raise UsageError(f"embedder {self.spec!r}: {len(self.dimension_units)} dimension_units for "
                             f"{len(self.dimension_names or ())} dimension_names: give one unit per name")
        self.libraries = tuple(dict.fromkeys(("numpy", *libraries)))
        self.aligned = bool(aligned)
        if self.aligned:
            self.layout = "user embedding, frame-aligned (the shorter sound's audio zero-padded per pair)"

    def parameters(self) -> dict:
        return {"embedder": self.spec, "sample_rate": self.sample_rate, **({"aligned": True} if self.aligned else {})}

    def sequence(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """``x`` (samples,) at ``sample_rate`` Hz -> the function's output as float64, as returned."""
        return as_array(self.fn(np.asarray(x).astype(np.float32), int(sample_rate)), f"embedder {self.spec!r}")

    def pairs(self, waves: list[np.ndarray], sample_rate: int, sounds) -> AlignedPairs:
        """The frame-aligned pairs of ``waves`` (the study's ``sounds``, in order), each a
        (frames, dims) sequence: a (dims,) output is an error naming the sound."""
        return pairs_of(self.sequence, waves, sample_rate, list(sounds), f"embedder {self.spec!r}")

    def embed(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """``x`` (samples,) at ``sample_rate`` Hz -> (dims,) float64, the mean over the returned frames."""
        out = self.fn(np.asarray(x).astype(np.float32), int(sample_rate))
        return as_vector(out, f"embedder {self.spec!r}")

    def features(self, x: np.ndarray) -> np.ndarray:
        if self.sample_rate is None:
            raise UsageError(f"embedder {self.spec!r} takes each file at its own rate: call embed(x, sample_rate)")
        return self.embed(x, self.sample_rate)


class HearFunction:
    """``fn(audio, sample_rate)`` over a HEAR module: one sound as a float32 tensor (1, samples) on the
    model's device, ``get_scene_embeddings`` under ``torch.no_grad()``, row 0 of its (1, dims) result."""

    def __init__(self, module, model, sample_rate: int, what: str):
        self.module = module
        self.model = model
        self.sample_rate = sample_rate
        self.what = what

    def device(self):
        parameters = getattr(self.model, "parameters", None)
        if callable(parameters):
            try:
                return next(iter(parameters())).device
            except (StopIteration, TypeError, AttributeError):
                pass
        return "cpu"

    def __call__(self, audio: np.ndarray, sample_rate: int):
        import torch  # lazy: only a HEAR module needs torch

        if sample_rate != self.sample_rate:
            raise DataError(f"{self.what} takes {self.sample_rate} Hz audio, got {sample_rate} Hz")
        batch = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, :].to(self.device())
        with torch.no_grad():
            out = self.module.get_scene_embeddings(batch, self.model)
        shape = tuple(getattr(out, "shape", np.shape(out)))
        if len(shape) != 2 or shape[0] != 1 or shape[1] < 1:
            raise DataError(f"{self.what}: get_scene_embeddings returned shape {shape} for one sound: "
                            "expected (1, dims)")
        return out[0]


def hear_embedder(module: str, name: str) -> Embedder:
    """An :class:`Embedder` named ``name`` over the HEAR module ``module`` (a dotted module name, or a
    ``.py`` file): ``load_model()`` is called once here, its ``sample_rate`` is the extractor's."""
    what = f"HEAR module {module!r}"
    mod = import_target(module, what)
    for fn in ("load_model", "get_scene_embeddings"):
        if not callable(getattr(mod, fn, None)):
            raise UsageError(f"{what} has no function {fn}: {HEAR_API}")
    try:
        model = mod.load_model()
    except Exception as e:
        raise UsageError(f"{what}: load_model() failed ({_first_line(e)})") from None
    if not hasattr(model, "sample_rate"):
        raise UsageError(f"{what}: the model from load_model() has no sample_rate attribute: {HEAR_API}")
    rate = check_sample_rate(model.sample_rate, what)
    top = module.split(".")[0]
    return Embedder(HearFunction(mod, model, rate, what), name, spec=f"hear:{module}",
                    libraries=("torch",) + (() if _is_path(module) else (top,)))
