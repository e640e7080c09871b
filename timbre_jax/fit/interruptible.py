"""Long compiled calls that Ctrl-C stops at once.

Python raises KeyboardInterrupt only in the main thread, and only when that thread runs
Python again; a compiled XLA call (a chunk of fits, or its compilation) holds the main
thread for as long as it runs, seconds to minutes, so Ctrl-C used to wait for it.
:func:`call` runs such a call in a worker thread and waits for it in slices of
:data:`WAIT` seconds, so the main thread raises KeyboardInterrupt within about that long.

The worker cannot be stopped: it is a daemon thread that runs its call to the end and
whose result is then dropped.  The command line ends the process at once (exit status
130, see :mod:`timbre_jax.cli`), which ends the worker too; called from Python (a
notebook), the KeyboardInterrupt reaches the caller while the worker finishes in the
background.  Nothing is lost that was saved: the sweeps save every finished chunk
(:mod:`timbre_jax.fit.resume`), atomically, from the main thread.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")

WAIT = 0.05
"""Seconds between two looks of the main thread at a pending signal (it wakes at once on
most systems; this bounds the wait where it does not)."""


def call(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)``, computed in a worker thread while this thread stays
    free to raise KeyboardInterrupt; what it raises is raised here, unchanged (the same
    exception object, its type and message)."""
    outcome: dict = {}

    def work():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # handed to the caller as it is, KeyboardInterrupt included
            outcome["error"] = error

    worker = threading.Thread(target=work, name=f"timbre-jax {getattr(function, '__name__', 'call')}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(WAIT)
    if "error" in outcome:
        error = outcome.pop("error")
        try:
            raise error
        finally:
            del error  # no cycle through this frame's traceback
    return outcome["value"]
