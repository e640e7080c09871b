"""What the command line's names and paths mean: representation, dataset and source
names given as strings, and the output paths, checked before anything is computed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from timbre_jax.data import registry, store, studies
from timbre_jax.errors import UsageError


def known_representations() -> list[str]:
    """The paper's 8, the built-in extracted ones (crepe, mfcc, mfcc-aligned), and every other
    representation in the store (a user's embedder or import)."""
    extra = [*registry.EXTRACTED_ONLY, *store.stored_representations()]
    return [*registry.REPRESENTATIONS, *dict.fromkeys(r for r in extra if r not in registry.REPRESENTATIONS)]


def given(value, option: str, what: str = "a comma list of names, or 'all'"):
    """``value`` of a name-list option, refused when it names nothing: ``""``, ``","``
    or blanks are a usage error naming ``option`` (never "every name").  None (the option
    not given) passes through."""
    if value is not None and not [v for v in str(value).split(",") if v.strip()]:
        raise UsageError(f"{option} {value!r} names nothing: give {what}")
    return value


def option_of(args, dest: str, default: str) -> str:
    """The option string the user typed for ``dest`` (an option with aliases records it,
    see :class:`timbre_jax.cli.parser.Aliased`), else ``default``."""
    return getattr(args, f"{dest}_option", None) or default


def representations(value, option: str = "--representations"):
    """Representation names; 'all' (or not given) means the paper's 8: others are named."""
    if value is None or value == "all":
        return list(registry.REPRESENTATIONS)
    return registry.parse_list(given(value, option), known_representations(), "representation(s)")


def representation(value, option: str = "--representation") -> str:
    """One representation name (learn, extract, data import)."""
    reps = [] if value in (None, "all") else representations(value, option)
    if len(reps) != 1:
        raise UsageError(f"{option}: give one representation, not {value!r}")
    return reps[0]


def datasets(value, source="auto", option: str = "--datasets"):
    """Dataset names: the built-in ones, the studies added with `data add`, and for an
    imported source those in the store.  ``all`` (or not given) and ``paper`` are the
    paper's 17 studies (for an imported source, ``all`` is what was imported into it),
    ``benchmark`` the timbre benchmark's 21 (:data:`~timbre_jax.data.registry.SELECTIONS`).
    An empty list is refused."""
    given(value, option)
    builtin = source in (*store.SOURCES, "auto")
    stored = [] if source in ("upstream", "auto") else store.stored_datasets(source)
    if not builtin and value in (None, "all"):
        return stored
    if value in (None, "all"):
        return list(registry.PAPER)
    if value in registry.SELECTIONS:
        return list(registry.SELECTIONS[value])
    known = [*registry.DATASETS, *studies.names()]
    try:
        return registry.parse_list(value, [*known, *(d for d in stored if d not in known)], "dataset(s)")
    except UsageError as e:
        choices = {*known, *stored}
        asked = {v.strip() for v in (value or "").split(",")} - choices
        elsewhere = [s for s in store.stored_sources() if s != source and asked & set(store.stored_datasets(s))]
        hint = f" (found in source {', '.join(elsewhere)}: pass --source)" if elsewhere else ""
        raise UsageError(f"{e}{hint}") from None


def source(value):
    """--source: auto, upstream, extracted, or an imported source that exists in the store."""
    known = ["auto", *store.SOURCES, *(s for s in store.stored_sources() if s not in store.SOURCES)]
    if value not in known:
        hint = ("" if len(known) > len(store.SOURCES) + 1 else
                "; import one with `timbre-jax data import FILE --dataset D --representation R --source NAME`")
        raise argparse.ArgumentTypeError(f"unknown feature source {value!r}; choose from {', '.join(known)}{hint}")
    return value


def resolve_source(value: str, reps, chosen) -> str:
    """``--source auto``: upstream where the paper published every asked (representation,
    dataset), extracted where it published none of them; a mix is refused (one table must
    not mix the published features with your own)."""
    if value != "auto":
        return value
    published = {registry.published_source(r, d) for r in reps for d in chosen}
    if len(published) < 2:
        return published.pop() if published else "upstream"
    ours = sorted({r for r in reps if r not in registry.N_FEATURES} | {d for d in chosen if d not in registry.PAPER})
    raise UsageError(f"the paper published features for some of these and not for {', '.join(ours)}: pass "
                     "--source upstream (the published features; the others are skipped) or --source extracted "
                     "(computed by `timbre-jax extract`)")


# ----------------------------------------------------------------------------- outputs

def writable_dir(path: Path, option: str) -> None:
    """Raise UsageError unless ``path`` is, or can be created as, a writable directory.

    The nearest existing ancestor must be a writable directory (the missing part is
    created later, by the atomic writes)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {existing} is not writable")


def check_out_dir(path) -> Path:
    """``--out`` of table, robustness, null and crossval: a writable directory, checked
    before any fit so that a long run never ends on an unwritable path."""
    writable_dir(Path(path), "--out")
    return Path(path)


def check_out_file(path, option: str) -> Path:
    """A file that ``option`` will write (learn's ``--out``, ``--plot``): not a directory,
    in a directory that is, or can be created, writable."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    writable_dir(path.parent, option)
    return path


def start(args):
    """The preamble of the commands that write a folder: check ``--out`` before loading
    anything, parse the names, resolve ``--source auto``.  Returns (out,
    representations, datasets)."""
    out = check_out_dir(args.out)
    reps = representations(args.representations)
    chosen = datasets(args.datasets, getattr(args, "source", "upstream"))
    if hasattr(args, "source"):
        args.source = resolve_source(args.source, reps, chosen)
    return out, reps, chosen


