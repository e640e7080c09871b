"""Your own listening tests: studies added with ``timbre-jax data add``.

A study is a folder of sounds and a ratings file.  :func:`add` checks both and copies
them into ``<home>/studies/<name>/``:

- ``audio/``: the audio files as given (their stems are the sound names);
- ``ratings<suffix>``: the ratings file as given;
- ``study.json``: the manifest: the sounds in sorted order, each file's sha256, the
  ratings file's sha256 and the ratings as read (upper triangle, ``null`` = unrated).

The folder is built under a hidden temporary name and renamed into place at the end, so
an error or Ctrl-C leaves nothing behind.  An added study is a dataset like the 17
built-in ones for every command (extract, learn, table, evaluate, ...); it has no
published (``upstream``) features: its features are extracted from its audio or imported.

:func:`timbre_jax.data.sounds.stimuli` gives the audio files and ratings of any dataset,
built-in or added: the input of extraction.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.core.ratings import ratings_from_upper
from timbre_jax.data import audio, rating_files, store
from timbre_jax.data.registry import DATASETS, SELECTIONS
from timbre_jax.data.store import sha256_file
from timbre_jax.errors import DataError, UsageError
from timbre_jax.progress import bar

MANIFEST = "study.json"


@dataclass(frozen=True)
class Study:
    """One dataset's stimuli: sounds (l,) sorted, their audio files (l,) and ratings (l, l)
    (symmetric, NaN on the diagonal and for unrated pairs)."""

    name: str
    sounds: tuple[str, ...]
    files: tuple[Path, ...]
    ratings: np.ndarray
    relpaths: tuple[str, ...]
    """Each file's path as recorded in extraction metadata (upstream path or studies/...)."""

    @property
    def rated_pairs(self) -> int:
        return int(np.isfinite(self.ratings[np.triu_indices(len(self.sounds), 1)]).sum())


def root() -> Path:
    """``<home>/studies``."""
    return store.home() / "studies"


def folder(name: str) -> Path:
    return root() / store.check_name(name, "study")


def names() -> list[str]:
    """The added studies (folders with a manifest), sorted."""
    if not root().is_dir():
        return []
    return sorted(p.name for p in root().iterdir()
                  if not p.name.startswith(".") and (p / MANIFEST).is_file())


def is_added(name: str) -> bool:
    return name in names()


def check_distinct(name: str) -> str:
    """``name`` unless it differs only in case from a built-in dataset or an added study
    (``grey1977`` beside ``Grey1977``): two names that read alike would name two sets of
    ratings.  Raises UsageError naming the other one."""
    folded = name.casefold()
    for other, what in [*((d, "the built-in dataset") for d in DATASETS), *((s, "the study") for s in names())]:
        if other != name and other.casefold() == folded:
            raise UsageError(f"{name!r} differs only in case from {what} {other}; give another name")
    return name


def check_new_name(name: str) -> str:
    """``name`` if a new study may take it: a plain name, not a built-in dataset, not added
    yet, not one of those in other case (:func:`check_distinct`).

    Raises UsageError (the name on the command line is to change: exit 2)."""
    store.check_name(name, "study")
    if name in DATASETS:
        raise UsageError(f"{name!r} is a built-in dataset; give your study another name")
    if name in ("all", *SELECTIONS):  # --datasets would read it as the selection
        raise UsageError(f"{name!r} selects built-in datasets (--datasets {name}); give your study another name")
    if is_added(name):
        raise UsageError(f"a study named {name!r} was already added ({folder(name)}); "
                        f"`timbre-jax data remove {name}` first to replace it")
    return check_distinct(name)


def audio_files(directory: Path) -> dict[str, Path]:
    """The audio files of ``directory`` by sound name (file stem), sorted by name.

    Files whose suffix no soundfile format has (a README, a ``.txt``) are not sounds and
    are left out; hidden files too.  Two files with one stem is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder of audio files")
    known = audio.extensions()
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in known:
            continue
        if path.stem in found:
            raise DataError(f"{directory}: two files for sound {path.stem!r}: {found[path.stem].name} and {path.name}")
        found[path.stem] = path
    if not found:
        raise DataError(f"{directory}: no audio files (soundfile formats: wav, aiff, flac, ogg, ...)")
    return dict(sorted(found.items()))


def check_stimuli(name: str, files: dict[str, Path], ratings: np.ndarray) -> None:
    """Raise DataError for a study no fit can use: fewer than 3 sounds, no rated pair, or
    an audio file that is unreadable, empty, truncated, non-finite or silent (named)."""
    if len(files) < 3:
        raise DataError(f"study {name}: {len(files)} sound(s); a metric needs at least 3 sounds")
    if not np.isfinite(ratings[np.triu_indices(len(files), 1)]).any():
        raise DataError(f"study {name}: no rated pair")
    for path in files.values():
        audio.load(path)  # AudioError (a DataError) naming the file


def _manifest(name: str, files: dict[str, Path], ratings_file: Path, ratings: np.ndarray, origin: dict) -> dict:
    upper = [[None if not np.isfinite(v) else float(v) for v in row] for row in np.triu(ratings, 1)]
    return {
        "name": name,
        "sounds": list(files),
        "audio": {s: {"file": f"audio/{p.name}", "sha256": sha256_file(p)} for s, p in files.items()},
        "ratings_file": ratings_file.name,
        "ratings_sha256": sha256_file(ratings_file),
        "ratings_upper": upper,
        "origin": origin,
    }


def add(name: str, audio_dir: Path, ratings_path: Path, *, progress: bool = False) -> Study:
    """Check a listening test and copy it into ``<home>/studies/<name>/``.

    Parameters
    ----------
    name : str
        The study's name: a plain name (letters, digits, ``_ . + -``), not a built-in dataset.
    audio_dir : Path
        A folder of audio files; each file's stem is a sound name.
    ratings_path : Path
        The ratings: a whitespace matrix in the sorted order of the sound names, a
        labelled square CSV, or a long CSV ``sound_a,sound_b,dissimilarity``
        (:func:`timbre_jax.data.rating_files.read_ratings`).

    Raises
    ------
    DataError
        One line naming the file, sound or row; nothing is written.
    """
    check_new_name(name)
    ratings_path = Path(ratings_path)
    if not ratings_path.is_file():
        raise DataError(f"{ratings_path}: no such ratings file")
    files = audio_files(Path(audio_dir))
    ratings = rating_files.read_ratings(ratings_path, list(files))
    check_stimuli(name, files, ratings)
    root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root(), prefix=f".{name}."))
    try:
        (tmp / "audio").mkdir()
        with bar(progress and len(files) > 50, f"copying {name}", total=len(files), unit="files") as advance:
            for path in files.values():
                shutil.copyfile(path, tmp / "audio" / path.name)
                advance(1)
        copied = {s: tmp / "audio" / p.name for s, p in files.items()}
        ratings_copy = tmp / f"ratings{ratings_path.suffix.lower() or '.txt'}"
        shutil.copyfile(ratings_path, ratings_copy)
        origin = {"audio": str(Path(audio_dir).resolve()), "ratings": str(ratings_path.resolve())}
        text = json.dumps(_manifest(name, copied, ratings_copy, ratings, origin), indent=1)
        store.atomic_write_bytes(tmp / MANIFEST, lambda fh: fh.write(text.encode()))
        os.chmod(tmp, 0o777 & ~store.current_umask())
        os.rename(tmp, folder(name))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load(name)


def _read_manifest(name: str) -> dict:
    path = folder(name) / MANIFEST
    try:
        m = json.loads(path.read_text())
        missing = [k for k in ("sounds", "audio", "ratings_upper") if k not in m]
        if missing:
            raise KeyError(", ".join(missing))
        return m
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a readable study manifest ({type(e).__name__}: {e}); "
                        f"`timbre-jax data remove {name}` and add the study again") from None


def load(name: str) -> Study:
    """An added study, as recorded in its manifest (not re-hashed: see :func:`verify`)."""
    if not is_added(name):
        raise UsageError(f"no study named {name!r}; added studies: {', '.join(names()) or 'none'} "
                         "(add one with `timbre-jax data add NAME --audio DIR --ratings FILE`)")
    m = _read_manifest(name)
    sounds = tuple(m["sounds"])
    upper = np.array([[np.nan if v is None else v for v in row] for row in m["ratings_upper"]], dtype=np.float64)
    ratings = ratings_from_upper(upper)
    base = folder(name)
    files = tuple(base / m["audio"][s]["file"] for s in sounds)
    relpaths = tuple(f"studies/{name}/{m['audio'][s]['file']}" for s in sounds)
    return Study(name, sounds, files, ratings, relpaths)


def verify(name: str) -> list[str]:
    """What is wrong with an added study's files (missing or changed, by sha256); [] if nothing."""
    m = _read_manifest(name)
    base, problems = folder(name), []
    for sound in m["sounds"]:
        entry = m["audio"][sound]
        path = base / entry["file"]
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: changed since `data add` (sha256 differs)")
    ratings = base / m.get("ratings_file", "")
    if not ratings.is_file():
        problems.append(f"{ratings}: missing")
    elif sha256_file(ratings) != m.get("ratings_sha256"):
        problems.append(f"{ratings}: changed since `data add` (sha256 differs)")
    return problems


def remove(name: str) -> list[Path]:
    """Delete an added study and every feature file made for it (in every source).

    Returns what was removed.  The study folder is renamed away first, so an interrupted
    removal never leaves a half study under its name."""
    if not is_added(name):
        raise UsageError(f"no study named {name!r} to remove; added studies: {', '.join(names()) or 'none'}")
    removed = [p for p in store.stored_files() if p.stem == name]
    for path in removed:
        path.unlink()
    trash = Path(tempfile.mkdtemp(dir=root(), prefix=f".{name}.removed."))
    os.rename(folder(name), trash / name)
    shutil.rmtree(trash, ignore_errors=True)
    return [folder(name), *removed]
