"""The ``timbre-jax`` command line.

:mod:`~timbre_jax.cli.parser` declares the subcommands, :mod:`~timbre_jax.cli.names`
checks names and paths, :mod:`~timbre_jax.cli.commands` and :mod:`~timbre_jax.cli.data`
call the library; strings become solver objects there, and only there.  Errors the user
can fix end with a one-line message, never a traceback, and the output paths are checked
before any fit.  Exit statuses, decided here and only here (:func:`exit_status`):

    0    done
    1    the data: a file unreadable or malformed, ratings out of range, features
         missing that cannot be fetched, a failed download or checksum, a write that
         failed (every :class:`~timbre_jax.errors.TimbreJaxError` but UsageError), and
         `data fetch` / `data verify` when a file failed
    2    the command: an unknown name, a bad or empty option, an option the solver lacks,
         an ``--out`` that cannot be written (:class:`~timbre_jax.errors.UsageError`, and
         argparse's own errors)
    130  interrupted (Ctrl-C), within a fraction of a second even mid-fit (every long
         compiled call runs in a worker thread, :mod:`timbre_jax.fit.interruptible`);
         only whole files are left (every write is atomic), the fits finished so far
         among them (``OUT/chunks``; on the CPU a chunk holds seconds of fits), and the
         same command again resumes from them
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax

from timbre_jax.cli.exits import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from timbre_jax.cli.names import resolve_source
from timbre_jax.cli.parser import build_parser
from timbre_jax.data.store import home
from timbre_jax.errors import TimbreJaxError, UsageError
from timbre_jax.fit import processes

__all__ = ["EXIT_FAIL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "exit_status", "main",
           "resolve_source"]


def exit_status(error: TimbreJaxError) -> int:
    """The exit status of a user's error: 2 (:data:`EXIT_USAGE`) for a
    :class:`~timbre_jax.errors.UsageError`, the command to change; 1 (:data:`EXIT_FAIL`)
    for any other, the data or files to fix.  The one place that maps errors to statuses."""
    return EXIT_USAGE if isinstance(error, UsageError) else EXIT_FAIL


def _exit_now(code: int) -> None:
    """End the process with ``code`` at once: flush stdout and stderr, then ``os._exit``.

    Ctrl-C during a compiled call surfaces as KeyboardInterrupt in the main thread at
    once (:mod:`timbre_jax.fit.interruptible`) while the call, its compilation
    included, keeps running in its worker thread; the interpreter's normal shutdown then
    tears the runtime down under it and the process dies of SIGSEGV (exit 139).
    Skipping that shutdown loses nothing and ends the worker at once: every file is
    written atomically, and a partial one was already removed as the exception passed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more to say
            pass
    os._exit(code)


def _interrupted_line(args) -> str:
    """What an interrupt leaves: the saved fits under ``OUT/chunks`` that the same
    command reads back, if it saved any."""
    out = getattr(args, "out", None)
    chunks = Path(out) / "chunks" if out else None
    saved = sum(1 for _ in chunks.rglob("*.npz")) if chunks is not None and chunks.is_dir() else 0
    if not saved:
        return "timbre-jax: interrupted"
    return (f"timbre-jax: interrupted; the fits finished so far are saved in {chunks} ({saved} chunk file"
            f"{'s' if saved > 1 else ''}): run the same command again to resume from them")


def _keep_compiled_programs() -> None:
    """Keep XLA's compiled programs under ``$TIMBRE_JAX_HOME/xla-cache`` (JAX's persistent
    compilation cache), so that only the first process to fit a shape compiles it.

    Why: a new number of features costs 40–100 s of compilation on a CPU, every run.
    Where the user set ``JAX_COMPILATION_CACHE_DIR``, that is kept;
    ``JAX_ENABLE_COMPILATION_CACHE=false`` turns the cache off (JAX's own switches)."""
    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", str(home() / "xla-cache"))


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    Run as the program (``argv`` None) an interrupt ends the process with status 130 on
    the spot (see :func:`_exit_now`), and compiled programs are kept for the next run
    (:func:`_keep_compiled_programs`) and the ``TIMBRE_JAX_*`` variables of
    :mod:`timbre_jax.fit.processes` make it one of several processes; called with ``argv``
    from Python it returns 130 and leaves JAX's configuration alone."""
    args = build_parser().parse_args(argv)
    if argv is None:
        _keep_compiled_programs()
    try:
        if argv is None:
            processes.initialize_from_environment()  # TIMBRE_JAX_PROCESSES & co: one of several processes
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except TimbreJaxError as e:  # anything else is a bug: its traceback is wanted
        print(f"timbre-jax: error: {e}", file=sys.stderr)
        return exit_status(e)
    except BrokenPipeError:  # the reader went away (`timbre-jax data list | head`): stop quietly
        sys.stdout = open(os.devnull, "w")  # so that the interpreter's final flush cannot fail again
        return EXIT_FAIL
    except KeyboardInterrupt:
        print(_interrupted_line(args), file=sys.stderr)
        if argv is None:
            _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED

