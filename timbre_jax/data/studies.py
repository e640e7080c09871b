"""Your own listening tests: studies added with ``timbre-jax data add``.

A study is a folder of sounds and its ratings: a file of averaged ratings, a long CSV of
every participant's judgements, or a folder of per-participant files
(:mod:`timbre_jax.data.participant_files`).  :func:`add` checks both and copies them into
``<home>/studies/<name>/``:

- ``audio/``: the audio files as given (their stems are the sound names), less those
  excluded;
- ``ratings<suffix>`` (a file) or ``ratings/`` (a folder): the ratings as given;
- ``study.json``: the manifest: the sounds in sorted order, each file's sha256, the ratings
  files' sha256, how they were read (``reading``: layout, columns, scale, similarity,
  averaged orders, excluded sounds, warnings), the mean ratings as read (upper triangle,
  ``null`` = unrated) and, where given, each participant's (``participants``: ids, their
  pairs i < j row-major, ``null`` = unrated, the judgements behind each, self-comparisons,
  test-retest pairs).  The mean is what every fit reads.

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
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.core.ratings import ratings_from_upper
from timbre_jax.data import audio, participant_files, store
from timbre_jax.data.participants import Participants
from timbre_jax.data.rating_cells import AS_GIVEN, Scale
from timbre_jax.data.registry import DATASETS, SELECTIONS
from timbre_jax.data.store import sha256_file
from timbre_jax.errors import DataError, UsageError
from timbre_jax.progress import bar

MANIFEST = "study.json"


@dataclass(frozen=True)
class Study:
    """One dataset's stimuli: sounds (l,) sorted, their audio files (l,) and ratings (l, l)
    (symmetric, NaN on the diagonal and for unrated pairs: the mean over participants);
    ``participants``: each participant's ratings where given (None: averaged only);
    ``reading``: how an added study's ratings were read (the manifest's record; None for
    a built-in dataset)."""

    name: str
    sounds: tuple[str, ...]
    files: tuple[Path, ...]
    ratings: np.ndarray
    relpaths: tuple[str, ...]
    """Each file's path as recorded in extraction metadata (upstream path or studies/...)."""
    participants: Participants | None = None
    reading: dict | None = None

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


def _listed(values) -> list:
    """Numbers for JSON, ``null`` for NaN (unrated)."""
    return [float(v) if np.isfinite(v) else None for v in values]


def _participants_record(p: Participants) -> dict:
    """The manifest's ``participants``: pairs i < j row-major for ratings and counts."""
    i, j = np.triu_indices(p.ratings.shape[1], 1)
    return {"ids": list(p.ids), "pairs": [_listed(row) for row in p.pairs], "counts": p.counts[:, i, j].tolist(),
            "self_counts": np.diagonal(p.counts, axis1=1, axis2=2).tolist(),
            "self_ratings": _listed(p.self_ratings), "retest": [_listed(row) for row in p.retest]}


def _participants_of(record: dict, l: int) -> Participants:
    """The inverse of :func:`_participants_record` for ``l`` sounds."""
    m, (i, j) = len(record["ids"]), np.triu_indices(l, 1)
    pairs = np.array([[np.nan if v is None else v for v in row] for row in record["pairs"]],
                     dtype=np.float64).reshape(m, len(i))
    ratings, counts = np.full((m, l, l), np.nan), np.zeros((m, l, l), dtype=np.int64)
    ratings[:, i, j] = ratings[:, j, i] = pairs
    counts[:, i, j] = counts[:, j, i] = np.array(record["counts"], dtype=np.int64).reshape(m, len(i))
    counts[:, np.arange(l), np.arange(l)] = np.array(record["self_counts"], dtype=np.int64).reshape(m, l)
    retest = np.array([[np.nan if v is None else v for v in row] for row in record["retest"]], dtype=np.float64)
    self_ratings = np.array([np.nan if v is None else v for v in record["self_ratings"]], dtype=np.float64)
    return Participants(tuple(record["ids"]), ratings, counts, retest.reshape(-1, 2), self_ratings)


def add(name: str, audio_dir: Path, ratings_path: Path, *, scale: Scale = AS_GIVEN, average_orders: bool = False,
        exclude: Collection[str] = (), columns: dict[str, str] | None = None, progress: bool = False) -> Study:
    """Check a listening test and copy it into ``<home>/studies/<name>/``.

    Parameters
    ----------
    name : str
        The study's name: a plain name (letters, digits, ``_ . + -``), not a built-in dataset.
    audio_dir : Path
        A folder of audio files; each file's stem is a sound name.
    ratings_path : Path
        The ratings: a file of averaged ratings, a long CSV of every participant's
        judgements or a folder of per-participant files
        (:func:`timbre_jax.data.participant_files.read`).
    scale, average_orders, exclude, columns
        How to read them (``--scale``/``--similarity``, ``--average-orders``, ``--exclude``,
        ``--columns``): see :func:`timbre_jax.data.rating_files.read_ratings`.  An excluded
        sound's audio file is not copied.

    Raises
    ------
    DataError
        One line naming the file, sound or row; nothing is written.
    UsageError
        A name that is taken, an option that does not fit the ratings; nothing is written.
    """
    check_new_name(name)
    ratings_path = Path(ratings_path)
    if not ratings_path.exists():
        raise DataError(f"{ratings_path}: no such ratings file or folder")
    found = audio_files(Path(audio_dir))
    given = participant_files.read(ratings_path, list(found), scale=scale, average_orders=average_orders,
                                   exclude=exclude, columns=columns)
    files = {s: found[s] for s in given.sounds}
    check_stimuli(name, files, given.mean)
    root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root(), prefix=f".{name}."))
    try:
        (tmp / "audio").mkdir()
        with bar(progress and len(files) > 50, f"copying {name}", total=len(files), unit="files") as advance:
            for path in files.values():
                shutil.copyfile(path, tmp / "audio" / path.name)
                advance(1)
        if ratings_path.is_dir():
            (tmp / "ratings").mkdir()
            copies = [f"ratings/{f.name}" for f in given.files]
        else:
            copies = [f"ratings{ratings_path.suffix.lower() or '.txt'}"]
        for f, copy in zip(given.files, copies):
            shutil.copyfile(f, tmp / copy)
        manifest = {
            "name": name,
            "sounds": list(files),
            "audio": {s: {"file": f"audio/{p.name}", "sha256": sha256_file(tmp / "audio" / p.name)}
                      for s, p in files.items()},
            "ratings_file": "ratings" if ratings_path.is_dir() else copies[0],
            "ratings_files": {copy: sha256_file(tmp / copy) for copy in copies},
            "reading": {"layout": given.layout, "columns": given.columns, **scale.record(),
                        "average_orders": average_orders, "exclude": sorted(exclude),
                        "warnings": list(given.warnings)},
            "ratings_upper": [_listed(row) for row in np.triu(given.mean, 1)],
            "origin": {"audio": str(Path(audio_dir).resolve()), "ratings": str(ratings_path.resolve())},
        }
        if given.participants is not None:
            manifest["participants"] = _participants_record(given.participants)
        text = json.dumps(manifest, indent=1)
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
    try:
        participants = _participants_of(m["participants"], len(sounds)) if "participants" in m else None
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{folder(name) / MANIFEST}: its participants cannot be read ({type(e).__name__}: {e}); "
                        f"`timbre-jax data remove {name}` and add the study again") from None
    return Study(name, sounds, files, ratings, relpaths, participants, m.get("reading", {}))


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
    # an older manifest records one file
    recorded = m.get("ratings_files") or {m.get("ratings_file", ""): m.get("ratings_sha256")}
    for relpath, digest in recorded.items():
        ratings = base / relpath
        if not ratings.is_file():
            problems.append(f"{ratings}: missing")
        elif sha256_file(ratings) != digest:
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
