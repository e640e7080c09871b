"""The ``--out`` rule: results already written are resumed or refused, never silently
replaced.

Every command that writes a folder (table, robustness, null, crossval, zeroshot,
evaluate, transfer, leaderboard, data audit) keeps a manifest there, ``OUT/run.json``:
the command, its settings (every option that determines the results, with the names
resolved: representations, datasets, source; the solver and all its options;
permutations, seed, levels, bootstrap, margin, ...; not --quiet, --out or a batch size),
the names of the files it writes and the package version.  Before anything is loaded or
fitted, :func:`claim` decides what the folder may receive:

- absent or empty: the run starts, and run.json is written first (atomically);
- run.json of the same command and settings: the run resumes (the fits saved under
  OUT/chunks are read back, the files are written again with the same content);
- run.json of another command or other settings, beside files that run wrote: refused,
  a usage error (exit 2) naming the folder and what it holds.  A run.json alone (its run
  stopped before writing anything) holds no result and is replaced;
- no run.json, but a file this command writes (its CSV or PNG names, or chunks/): refused,
  the files of an earlier run whose settings nobody recorded;
- no run.json and only other files (notes, a README): the run writes beside them.

``learn`` writes files, not a folder: it never replaces an existing ``--out`` or ``--plot``
file (:func:`check_new_file`).  Only process 0 of a run of several processes writes
(:func:`timbre_jax.fit.processes.index`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from timbre_jax.cli import names
from timbre_jax.data import store
from timbre_jax.errors import UsageError
from timbre_jax.fit import processes
from timbre_jax.version import __version__

MANIFEST = "run.json"

# Parsed options that never change a result: where output goes, how it is shown, how
# the fits are batched (results do not depend on the batch, docs/architecture.md), which
# extra files are written (evaluate --distances: a finished run resumes and adds them).
NOT_SETTINGS = frozenset({"func", "command", "data_command", "quiet", "out", "chunk_groups", "distances"})

_WRITTEN = re.compile(r"OUT/([A-Za-z0-9_.<>*+-]+)")
_SHOWN_DATASETS = 4  # a longer list of datasets is shown as its first names and a count


def written_names(writes: str) -> list[str]:
    """The top-level names a command writes into OUT, as glob patterns, read from its
    ``WRITES`` text: ``OUT/null_<representation>.png`` gives ``null_*.png``,
    ``OUT/chunks/<representation>/`` gives ``chunks``."""
    found = (re.sub(r"<[^>]*>", "*", m.group(1).rstrip(".")) for m in _WRITTEN.finditer(writes))
    return list(dict.fromkeys(name for name in found if name))


def settings(args, omit=(), **resolved) -> dict:
    """The settings of a run, as run.json records them: every parsed option of ``args``
    but :data:`NOT_SETTINGS`, the spelling records of aliased options and ``omit``, then
    ``resolved`` (names after resolution, the solver's settings) over them; JSON values."""
    given = {k: v for k, v in vars(args).items()
             if k not in NOT_SETTINGS and k not in omit and not k.endswith("_option")}
    return json.loads(json.dumps({**given, **resolved}, sort_keys=True, default=str))


def command_of(args) -> str:
    """The command as typed: ``null``, ``data audit``."""
    return " ".join(w for w in (getattr(args, "command", None), getattr(args, "data_command", None)) if w)


def describe(manifest: dict) -> str:
    """A run in words: ```null` on Grey1977 (cochlea; exact, permutations 5, seed 0)``."""
    s = dict(manifest.get("settings") or {})
    datasets, reps = s.pop("datasets", None), s.pop("representations", None)
    solver = s.pop("solver", None)
    if isinstance(solver, dict):
        solver = solver.get("solver")
    if isinstance(datasets, list) and len(datasets) > _SHOWN_DATASETS:
        datasets = f"{', '.join(datasets[:3])}, ... ({len(datasets)} datasets)"
    elif isinstance(datasets, list):
        datasets = ", ".join(datasets)
    if isinstance(reps, list):
        reps = ", ".join(reps)
    rest = [str(v) for v in (s.pop("source", None), solver) if v is not None]
    rest += [f"{k.replace('_', '-')} {v}" for k, v in sorted(s.items()) if v is not None]
    where = f" on {datasets}" if datasets else ""
    detail = "; ".join(x for x in (reps, ", ".join(rest)) if x)
    return f"`{manifest.get('command', '?')}`{where}" + (f" ({detail})" if detail else "")


def _differences(old: dict, command: str, new: dict) -> str:
    if old.get("command") != command:
        return f"this run is `{command}`"
    was = old.get("settings") or {}
    keys = sorted(k for k in {*was, *new} if was.get(k) != new.get(k))
    return f"this run has other {', '.join(k.replace('_', '-') for k in keys)}"


def _present(out: Path, patterns) -> list[str]:
    """The entries of ``out`` that match ``patterns`` (sorted names)."""
    return sorted({p.name + ("/" if p.is_dir() else "") for pattern in patterns for p in out.glob(pattern)})


def _read(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or "command" not in manifest:
            raise ValueError("no command recorded")
        return manifest
    except (OSError, ValueError) as e:
        raise UsageError(f"--out {path.parent}: its {MANIFEST} is unreadable ({e}); give another folder, or "
                         "remove it to start over") from None


def claim(out, command: str, run_settings: dict, writes: str) -> Path:
    """Check that ``out`` may receive this run (the rule in the module docstring) and
    record the run in ``out/run.json`` (process 0).  Returns ``out``.

    Raises UsageError (exit 2) for an unwritable path, or a folder that holds the results
    of another run or files of an unrecorded one, before anything is loaded."""
    out = names.check_out_dir(out)
    run_settings = json.loads(json.dumps(run_settings, sort_keys=True, default=str))
    files = written_names(writes)
    path = out / MANIFEST
    if path.exists():
        old = _read(path)
        if old.get("command") == command and old.get("settings") == run_settings:
            return out  # the same run: resume
        held = _present(out, old.get("files") or [])
        if held:
            raise UsageError(f"--out {out}: holds the results of {describe(old)}; "
                             f"{_differences(old, command, run_settings)}; give another folder, or remove it to "
                             "start over")
    elif out.is_dir():
        held = _present(out, files)
        if held:
            shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
            raise UsageError(f"--out {out}: holds files of an earlier run ({shown}) with no {MANIFEST} to say "
                             "which; give another folder, or remove it to start over")
    if processes.index() == 0:
        manifest = {"command": command, "settings": run_settings, "files": files, "version": __version__}
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        store.atomic_write_bytes(path, lambda fh: fh.write(text.encode()))
    return out


def check_new_file(path, option: str) -> Path:
    """A file that ``option`` of ``learn`` will write: writable (:func:`names.check_out_file`)
    and not there yet: learn never replaces a file, whatever it holds."""
    path = names.check_out_file(path, option)
    if path.exists():
        raise UsageError(f"{option} {path}: exists; learn never replaces a file: give another name, or remove it")
    return path
