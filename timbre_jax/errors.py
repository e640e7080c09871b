"""The package's exceptions: one root, :class:`TimbreJaxError`, for every error a user can fix.

The command line prints any :class:`TimbreJaxError` as one line and exits with status 2
for a :class:`UsageError` (fix the command: a name, an option, an output path) and 1 for
every other (fix the data, the files or the machine); the mapping is
:func:`timbre_jax.cli.exit_status`, the one place that makes it.  Anything else is a bug
and keeps its traceback.  Each class also derives from the builtin
exception that callers caught before it existed (``ValueError``, ``RuntimeError``,
``FileNotFoundError``, ...), so ``except ValueError`` still works.

    TimbreJaxError
    ├── UsageError        unknown names, bad options, an output that cannot be written  (exit 2)
    ├── DataError         ratings, features or files that cannot be used
    │   ├── MissingFeatures   no features of that source for that dataset
    │   ├── StoreError        a store file that is unreadable or inconsistent (store.py)
    │   └── UnsafePickleError a pickle that is not plain arrays (safepickle.py)
    ├── FitError          a problem with no meaningful fit (problems.py)
    ├── WriteError        a file could not be written (disk full, permissions)
    └── DownloadError     fetching or verifying an upstream file (download.py)

Every class but UsageError exits with status 1.
"""

from __future__ import annotations


class TimbreJaxError(Exception):
    """Root of the errors a user can fix; the message says what and where."""


class UsageError(TimbreJaxError, ValueError):
    """An unknown dataset, representation or source, a bad option, an unusable output path."""


class DataError(TimbreJaxError, ValueError):
    """Input data that cannot be used: the message names the dataset, sound or file."""


class MissingFeatures(DataError, FileNotFoundError):
    """No features of the asked source and representation for a dataset; says how to make them."""


class FitError(TimbreJaxError, ValueError):
    """A problem that has no meaningful fit (zero variance, too few pairs, ...)."""


class WriteError(TimbreJaxError, OSError):
    """A file could not be written; the message names it."""


class DownloadError(TimbreJaxError, RuntimeError):
    """A file could not be fetched or failed its checksum."""
