"""A study's ratings as given to ``data add``: averaged, or each participant's, read into
:class:`~timbre_jax.data.participants.Participants` beside the mean.

:func:`read` takes a file or a folder:

- a long CSV with one row per judgement, ``participant,sound_a,sound_b,rating`` (other
  column names: :func:`timbre_jax.data.rating_cells.column_roles`; other columns ignored).
  A participant's repeats of a pair, in either order, are averaged within that participant
  (the first and second judgement go to ``retest``); a self-comparison (sound_a = sound_b)
  is no pair: it is counted on the diagonal of ``counts`` and averaged per participant in
  ``self_ratings`` (their mean is the study's floor); a pair nobody rated is unrated (NaN),
  a pair some rated is averaged over those (:meth:`Participants.mean`);
- a folder of per-participant files, one a participant (its stem is the participant's
  id), each in any layout of :mod:`timbre_jax.data.rating_files` (one judgement a pair;
  the diagonal of a matrix is ignored, not read as self-comparisons); two files with the
  same content are refused (one participant given twice);
- any other file: averaged ratings (:func:`timbre_jax.data.rating_files.read_ratings`), no
  participants.

A participant who rated no pair is left out with a warning; one participant only is
accepted with a warning (reliability needs two).  The scale, ``average_orders`` and
``exclude`` apply to every layout.  Malformed rows are DataErrors naming the file and its
1-based line.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.data.participants import Participants
from timbre_jax.data.rating_cells import AS_GIVEN, ROLES, Scale, column_roles, describe_columns, number
from timbre_jax.data.rating_files import EXCLUDE_HINT, check_names, csv_rows, read_ratings
from timbre_jax.data.store import sha256_file
from timbre_jax.errors import DataError, UsageError


@dataclass(frozen=True)
class StudyRatings:
    """What a study's ratings file or folder gives.

    ``sounds`` (k,): the sounds kept, sorted; ``mean`` (k, k): the ratings every fit reads
    (symmetric, NaN on the diagonal and for unrated pairs); ``participants``: each one's
    ratings (None: averaged ratings only); ``layout``: what was read, in words;
    ``columns``: the column mapping of a long CSV, in words (None otherwise);
    ``warnings``: one line each; ``files``: the files read (a folder's, sorted)."""

    sounds: tuple[str, ...]
    mean: np.ndarray
    participants: Participants | None
    layout: str
    columns: str | None
    warnings: tuple[str, ...]
    files: tuple[Path, ...]


def read(path: Path, sounds: Sequence[str], *, scale: Scale = AS_GIVEN, average_orders: bool = False,
         exclude: Collection[str] = (), columns: dict[str, str] | None = None) -> StudyRatings:
    """A study's ratings from ``path`` (a file or a folder of per-participant files; see the
    module docstring), over ``sounds`` (sorted audio file stems) less ``exclude``.

    Raises DataError (one line naming the file and its row or sound) for bad data and
    UsageError for options that do not fit the file (``columns`` naming no column)."""
    path, sounds, exclude = Path(path), tuple(sounds), frozenset(exclude)
    kept = tuple(s for s in sounds if s not in exclude)
    options = dict(scale=scale, average_orders=average_orders, exclude=exclude, columns=columns)
    if path.is_dir():
        return _folder(path, sounds, kept, options)
    if not path.is_file():
        raise DataError(f"{path}: no such ratings file or folder")
    mapped, layout = None, "averaged ratings, a text matrix"
    if path.suffix.lower() == ".csv":
        rows = csv_rows(path)
        roles = column_roles(path, *rows[0], columns or {}) if rows else None
        if roles is not None and "participant" in roles:
            return _long(path, rows, roles, sounds, kept, scale, exclude)
        mapped = describe_columns(rows[0][1], roles) if roles is not None else None
        layout = "averaged ratings, a " + ("long CSV" if roles is not None else "labelled CSV")
    elif columns:
        raise UsageError(f"--columns: {path} is a text matrix; --columns names the columns of a long CSV")
    mean = read_ratings(path, sounds, **options)
    return StudyRatings(kept, mean, None, layout, mapped, (), (path,))


def _long(path: Path, rows: list[tuple[int, list[str]]], roles: dict[str, int], sounds: tuple[str, ...],
          kept: tuple[str, ...], scale: Scale, exclude: frozenset) -> StudyRatings:
    """Participants of a long CSV with one row per judgement (``roles``: each role's 0-based column)."""
    (top, header), body = rows[0], rows[1:]
    pc, ac, bc, rc = (roles[role] for role in ROLES)
    first_row: dict[str, int] = {}  # participant -> the first line giving it, in file order
    mentioned: dict[str, int] = {}  # sound -> the first line naming it
    rated: dict[str, int] = {}  # sound -> the first line rating one of its pairs
    judgements: list[tuple[int, str, str, str, float]] = []  # (line, participant, a, b, value as read)
    for line, cells in body:
        if len(cells) != len(header):
            raise DataError(f"{path}: row {line} has {len(cells)} cells but the header (row {top}) has "
                            f"{len(header)}: {','.join(cell.strip() for cell in header)}")
        who, a, b = cells[pc].strip(), cells[ac].strip(), cells[bc].strip()
        if not who:
            raise DataError(f"{path}: row {line}, column {pc + 1}: no participant id")
        for k, name in ((ac, a), (bc, b)):
            if not name:
                raise DataError(f"{path}: row {line}, column {k + 1} has no sound name")
            mentioned.setdefault(name, line)
        x = number(cells[rc])
        if x is None:
            raise DataError(f"{path}: row {line}, column {rc + 1} ({a}, {b}): {cells[rc].strip()!r} is not a number")
        first_row.setdefault(who, line)
        if a in exclude or b in exclude:
            continue
        if a != b and np.isfinite(x):
            rated.setdefault(a, line)
            rated.setdefault(b, line)
        judgements.append((line, who, a, b, x))
    if not rated:
        check_names(path, mentioned, sounds, exclude, partial=True)  # names that match no audio file, by row
        raise DataError(f"{path}: no rated pair (every rating is empty, NA or a self-comparison)")
    check_names(path, mentioned, sounds, exclude, rated=rated)
    values = scale.dissimilarities(path, np.array([g[4] for g in judgements]),
                                   lambda k: f"row {judgements[k][0]}, column {rc + 1} ({judgements[k][2]}, "
                                             f"{judgements[k][3]})")
    index = {s: i for i, s in enumerate(kept)}
    given: dict[str, dict[tuple[int, int], list[float]]] = {who: {} for who in first_row}  # (i, j), i <= j
    for (_, who, a, b, _), x in zip(judgements, values):
        if np.isfinite(x):
            given[who].setdefault(tuple(sorted((index[a], index[b]))), []).append(float(x))
    warnings = [f"{path}: participant {who} (first in row {line}) rated no pair (all empty, NA or "
                "self-comparisons): left out" for who, line in first_row.items()
                if not any(i < j for i, j in given[who])]
    ids = tuple(who for who in first_row if any(i < j for i, j in given[who]))
    l = len(kept)
    ratings, counts = np.full((len(ids), l, l), np.nan), np.zeros((len(ids), l, l), dtype=np.int64)
    self_ratings, retest = np.full(len(ids), np.nan), []
    for p, who in enumerate(ids):
        selves = []
        for (i, j), xs in given[who].items():
            counts[p, i, j] = counts[p, j, i] = len(xs)
            if i == j:
                selves += xs
                continue
            ratings[p, i, j] = ratings[p, j, i] = np.mean(xs)
            if len(xs) > 1:
                retest.append(xs[:2])
        self_ratings[p] = np.mean(selves) if selves else np.nan
    participants = Participants(ids, ratings, counts, np.array(retest, dtype=np.float64).reshape(-1, 2),
                                self_ratings)
    return StudyRatings(kept, participants.mean(), participants, "one row per judgement, a long CSV",
                        describe_columns(header, roles), tuple(warnings + _one_only(path, ids)), (path,))


def _folder(path: Path, sounds: tuple[str, ...], kept: tuple[str, ...], options: dict) -> StudyRatings:
    """Participants of a folder holding one ratings file per participant (stem = id)."""
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DataError(f"{path}: no participant files (one ratings file per participant, its name the id)")
    by_stem: dict[str, Path] = {}
    by_hash: dict[str, Path] = {}
    for f in files:
        if f.stem in by_stem:
            raise DataError(f"{path}: two files for participant {f.stem}: {by_stem[f.stem].name} and {f.name}")
        digest = sha256_file(f)
        if digest in by_hash:
            raise DataError(f"{path}: {by_hash[digest].name} and {f.name} have identical content: one participant "
                            "given twice? (remove one)")
        by_stem[f.stem], by_hash[digest] = f, f
    ids, matrices, warnings = [], [], []
    off = ~np.eye(len(kept), dtype=bool)
    for f in files:
        m = read_ratings(f, sounds, partial=True, **options)
        if not np.isfinite(m[off]).any():
            warnings.append(f"{f}: no rated pair: participant {f.stem} left out")
            continue
        ids.append(f.stem)
        matrices.append(m)
    if not ids:
        raise DataError(f"{path}: no participant's file has a rated pair")
    ratings = np.stack(matrices)
    unrated = [s for k, s in enumerate(kept) if not np.isfinite(ratings[:, k][:, off[k]]).any()]
    if unrated:
        raise DataError(f"{path}: audio file(s) {', '.join(unrated)} have no ratings in any participant's file "
                        f"({EXCLUDE_HINT})")
    counts = np.isfinite(ratings).astype(np.int64)
    participants = Participants(tuple(ids), ratings, counts, np.zeros((0, 2)), np.full(len(ids), np.nan))
    return StudyRatings(kept, participants.mean(), participants, f"a folder of {len(files)} participants' files",
                        None, tuple(warnings + _one_only(path, ids)), tuple(files))


def _one_only(path: Path, ids: Sequence[str]) -> list[str]:
    """The warning for a study with one participant only (none for more)."""
    if len(ids) != 1:
        return []
    return [f"{path}: one participant only ({ids[0]}): the mean is theirs; reliability and noise ceilings need two "
            "or more"]
