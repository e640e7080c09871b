"""Read upstream feature pickles without ever executing their code.

``pickle.load`` runs whatever callables a file names.  :class:`RestrictedUnpickler`
resolves only the handful of numpy globals that array pickles need (array
reconstruction from a buffer, ``ndarray``, ``dtype``, numpy scalars) and refuses
everything else before it is called, naming the file and the global.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path

from timbre_jax.errors import DataError

# (module, name) pairs an array pickle may reference; numpy 1.x wrote numpy.core.*,
# numpy 2 writes numpy._core.*; both resolve to the same numpy 2 objects.
_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}
_DTYPE_MODULE = "numpy.dtypes"  # numpy 2 pickles dtypes as numpy.dtypes.Float64DType etc.


class UnsafePickleError(DataError, pickle.UnpicklingError):
    """The pickle references something other than numpy arrays and plain containers."""


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str = "<pickle>"):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core")), name)
        if module == _DTYPE_MODULE and name.endswith("DType"):
            return getattr(importlib.import_module(module), name)
        raise UnsafePickleError(
            f"{self.source}: refusing to load {module}.{name}; only numpy arrays, dtypes and "
            "plain containers are allowed in feature pickles"
        )

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source}: persistent references are not allowed")


def load(path: str | Path):
    """Unpickle ``path`` with :class:`RestrictedUnpickler`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=str(path)).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # truncated or malformed files
        raise UnsafePickleError(f"{path}: not a readable feature pickle ({type(e).__name__}: {e})") from None
