"""Read a user's file of averaged ratings into an (l, l) matrix ordered by the study's sounds.

Three layouts, chosen by the file's suffix and then by its first row:

- a whitespace text matrix (any suffix but ``.csv``; ``#`` comments) whose rows and columns
  follow the sorted audio file names, the convention of the published timbre datasets;
- a labelled square CSV (``.csv`` whose first row and first column hold sound names, in any
  order, and whose first cell is empty: what ``pandas.DataFrame.to_csv`` writes);
- a long CSV (``.csv`` with the header ``sound_a,sound_b,dissimilarity``, or other names
  for those columns: :func:`timbre_jax.data.rating_cells.column_roles`), one rated pair a
  row; an absent pair is unrated.  A long CSV with a participant column holds one row per
  judgement: :mod:`timbre_jax.data.participant_files` reads it.

An empty cell, ``nan``, ``NA`` or ``N/A`` is an unrated pair (:mod:`timbre_jax.data.rating_cells`).
Both matrix layouts may be full symmetric (an unrated pair is NaN on both sides) or
upper-triangular with zeros strictly below the diagonal (the layout of the published files),
judged in the file's own order; a full matrix whose two orders differ (both were asked) is
averaged with ``average_orders``.  Self pairs (the diagonal of a matrix, a row with
``sound_a == sound_b``) hold no information for a metric and are ignored entirely, whatever
they hold: published matrices keep small self-pair ratings there (e.g. 0.016).  The numbers
become dissimilarities in [0, 1] by the study's :class:`~timbre_jax.data.rating_cells.Scale`.

The result is float64, symmetric, NaN on the diagonal and for unrated pairs.  Every problem
raises :class:`DataError` with one line naming the file and the 1-based row and column (of
the file: a CSV's header is row 1 when it is the first line) or the sound(s).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np

from timbre_jax.core.ratings import first_asymmetric_pair, first_infinite_pair, ratings_from_upper
from timbre_jax.data.rating_cells import AS_GIVEN, Scale, column_roles, number
from timbre_jax.errors import DataError, UsageError

LONG_HEADER = ("sound_a", "sound_b", "dissimilarity")
CSV_LAYOUTS = ("a labelled matrix (first row and first column: sound names, first cell empty) "
               "or a long table with the header sound_a,sound_b,dissimilarity (and participant for one row per "
               "judgement)")
TEXT_LAYOUTS = ("a whitespace matrix of l rows of l numbers, full symmetric or upper-triangular with zeros below "
                "the diagonal")
EXCLUDE_HINT = "leave a sound out with --exclude NAME"


def read_ratings(path: Path, sounds: Sequence[str], *, scale: Scale = AS_GIVEN, average_orders: bool = False,
                 exclude: Collection[str] = (), columns: dict[str, str] | None = None,
                 partial: bool = False) -> np.ndarray:
    """Ratings of a listening test, rows and columns in the order of the sounds kept.

    Parameters
    ----------
    path : Path
        A text matrix (rows and columns in the order of ``sounds``, or of those kept), a
        labelled square CSV or a long CSV; see the module docstring.
    sounds : sequence of str, length l
        The study's audio file stems (``Sim01_BCL`` for ``Sim01_BCL.aiff``), in sorted order.
        Every sound kept must appear in the file and every name of the file must be one of
        them or excluded.
    scale : Scale
        How the file's numbers map to dissimilarities in [0, 1] (default: they are already).
    average_orders : bool
        Average a pair's two orders where they differ (a full matrix, a long CSV that gives
        a pair twice) instead of refusing the file.
    exclude : collection of str
        Sounds left out of the study: their ratings are dropped (a text matrix whose rows
        follow all of ``sounds`` loses their rows and columns).
    columns : dict, optional
        A long CSV's columns by role (``--columns``; default: found by their names).
    partial : bool
        One participant's file: sounds it never names and a file without a rated pair are
        allowed (the caller decides).

    Returns
    -------
    np.ndarray, shape (k, k), float64
        k = the sounds kept; symmetric; NaN on the diagonal and for unrated pairs; every
        other value in [0, 1].

    Raises
    ------
    DataError
        One line naming the file and the row/column or sound(s): unreadable or empty file,
        unknown layout, names that match no audio file or audio files without ratings, a
        matrix that is neither symmetric nor upper-triangular, a value that is not a number,
        infinite or outside [0, 1] (or the scale), a pair rated twice with different values,
        a labelled CSV with duplicated names or a ragged row, no rated pair at all.
    UsageError
        An excluded name that no audio file and no rating has; ``columns`` naming no column.
    """
    path, sounds, exclude = Path(path), tuple(sounds), frozenset(exclude)
    if path.suffix.lower() != ".csv":
        return _text_ratings(path, sounds, scale, average_orders, exclude, partial)
    rows = csv_rows(path)
    if not rows:
        raise DataError(f"{path}: empty file; expected {CSV_LAYOUTS}")
    line, header = rows[0]
    roles = column_roles(path, line, header, columns or {})
    if roles is not None and "participant" in roles:
        raise DataError(f"{path}: one row per judgement, with a participant column ({roles['participant'] + 1}, "
                        f"{header[roles['participant']].strip()}): give this file itself to `timbre-jax data add "
                        "--ratings`, not in a folder of participants' files or as averaged ratings")
    if roles is not None:
        full = _long_csv(path, rows, [roles["sound_a"], roles["sound_b"], roles["rating"]], sounds, scale,
                         average_orders, exclude, partial)
    elif len(header) > 1 and not header[0].strip():
        full = _labelled_csv(path, rows, sounds, scale, average_orders, exclude, partial)
    else:
        raise DataError(f"{path}: row {line} starts no known layout; expected {CSV_LAYOUTS}")
    return full if partial else _rated(path, full)


def read_matrix(path: Path, n_sounds: int | None = None) -> np.ndarray:
    """Ratings from a published whitespace text matrix, in the file's order (no sound names).

    ``#`` comments, ``nan`` or ``NA`` for an unrated pair; full symmetric, or upper-triangular
    with zeros strictly below the diagonal; the diagonal is ignored; values in [0, 1] (no
    scale: a published file is dissimilarities already).

    Parameters
    ----------
    path : Path
        The text file.
    n_sounds : int, optional
        The number of sounds l the matrix must cover.

    Returns
    -------
    np.ndarray, shape (l, l), float64
        Symmetric; NaN on the diagonal and for unrated pairs; every other value in [0, 1].

    Raises
    ------
    DataError
        One line naming the file and the 1-based row and column: unreadable text, an empty
        file, a matrix that is not square or not of n_sounds rows, a value that is infinite,
        negative or above 1, a matrix neither symmetric nor upper-triangular, no rated pair.
    """
    path = Path(path)
    m = _text_cells(path)
    if n_sounds is not None and len(m) != n_sounds:
        raise DataError(f"{path}: the ratings matrix has {len(m)} rows but {n_sounds} sounds")

    def where(i: int, j: int) -> str:
        return f"row {i + 1}, column {j + 1}"

    return _rated(path, _in_unit(path, _symmetric(path, m, where, False), where, None))


def _text_ratings(path: Path, sounds: tuple[str, ...], scale: Scale, average_orders: bool, exclude: frozenset,
                  partial: bool) -> np.ndarray:
    """(k, k) ratings of a text matrix whose rows follow ``sounds``, or the sounds kept."""
    unknown = sorted(exclude - set(sounds))
    if unknown:
        raise UsageError(f"--exclude {', '.join(unknown)}: no audio file of that name (a text matrix's rows are the "
                         f"audio files: {', '.join(sounds)})")
    m = _text_cells(path)
    kept = [s for s in sounds if s not in exclude]
    if len(m) == len(sounds):
        names = sounds
    elif exclude and len(m) == len(kept):
        names = tuple(kept)  # the matrix leaves the excluded sounds out already
    else:
        without = f", {len(kept)} without the excluded" if exclude else f"; {EXCLUDE_HINT}"
        raise DataError(f"{path}: the ratings matrix has {len(m)} rows but {len(sounds)} audio files "
                        f"({', '.join(sounds)}){without}")
    rows = [k for k, s in enumerate(names) if s not in exclude]

    def where(i: int, j: int) -> str:  # i, j: rows of the matrix kept
        a, b = rows[i], rows[j]
        return f"row {a + 1}, column {b + 1} ({names[a]}, {names[b]})"

    full = _in_unit(path, _symmetric(path, m[np.ix_(rows, rows)], where, average_orders), where, scale)
    return full if partial else _rated(path, full)


def _text_cells(path: Path) -> np.ndarray:
    """The (r, c) numbers of a whitespace text file (NaN: unrated), r == c; the first cell
    that is not a number, a ragged line or an empty file is a DataError naming the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, ValueError) as e:  # ValueError: bytes that are not UTF-8
        raise DataError(f"{path}: cannot read the ratings file ({e})") from None
    rows: list[list[float]] = []
    first = 0
    for k, line in enumerate(text.split("\n"), 1):
        cells = line.split("#", 1)[0].split()
        if not cells:
            continue
        values = [number(cell) for cell in cells]
        if None in values:
            c = values.index(None)
            hint = " (comma-separated values belong in a .csv file)" if "," in cells[c] else ""
            raise DataError(f"{path}: line {k}, column {c + 1}: {cells[c]!r} is not a number{hint}")
        if rows and len(values) != len(rows[0]):
            raise DataError(f"{path}: line {k} has {len(values)} numbers but line {first} has {len(rows[0])}; "
                            "a ratings matrix is square")
        first = first or k
        rows.append(values)
    if not rows:
        raise DataError(f"{path}: empty file (no numbers); expected {TEXT_LAYOUTS}")
    m = np.array(rows, dtype=np.float64)
    if m.shape[0] != m.shape[1]:
        raise DataError(f"{path}: the ratings matrix has shape {m.shape}; it must be square")
    return m


def csv_rows(path: Path, what: str = "ratings file") -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file as (file line, cells); a UTF-8 byte order mark is
    dropped; an unreadable file is a DataError naming it as ``what``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            return [(reader.line_num, cells) for cells in reader if any(cell.strip() for cell in cells)]
    except (OSError, ValueError, csv.Error) as e:  # ValueError: bytes that are not UTF-8
        raise DataError(f"{path}: cannot read the {what} ({e})") from None


def _labelled_csv(path: Path, rows: list[tuple[int, list[str]]], sounds: tuple[str, ...], scale: Scale,
                  average_orders: bool, exclude: frozenset, partial: bool) -> np.ndarray:
    """(k, k) ratings, in the order of the sounds kept, of a labelled square CSV (``rows`` from :func:`csv_rows`)."""
    (top, header), body = rows[0], rows[1:]
    col_of: dict[str, int] = {}  # name -> its 1-based column in the file
    for k, cell in enumerate(header[1:], 2):
        name = cell.strip()
        if not name:
            raise DataError(f"{path}: row {top}, column {k} has no sound name")
        if name in col_of:
            raise DataError(f"{path}: sound name {name} appears twice in row {top} (columns {col_of[name]} and {k})")
        col_of[name] = k
    row_of: dict[str, tuple[int, list[str]]] = {}  # name -> (its line in the file, its cells), in file order
    for line, cells in body:
        if len(cells) != len(header):
            raise DataError(f"{path}: row {line} has {len(cells)} cells but the header (row {top}) has {len(header)}")
        name = cells[0].strip()
        if not name:
            raise DataError(f"{path}: row {line}, column 1 has no sound name")
        if name in row_of:
            raise DataError(f"{path}: sound name {name} appears twice in column 1 (rows {row_of[name][0]} and {line})")
        row_of[name] = (line, cells)
    only_cols = [name for name in col_of if name not in row_of]
    only_rows = [name for name in row_of if name not in col_of]
    if only_cols or only_rows:
        parts = ([f"{', '.join(only_cols)} only in row {top}"] if only_cols else []) + (
            [f"{', '.join(only_rows)} only in column 1"] if only_rows else [])
        raise DataError(f"{path}: the header row and the first column must name the same sounds: {'; '.join(parts)}")
    check_names(path, dict.fromkeys(row_of), sounds, exclude, partial)

    # The matrix in the file's order (that of its rows; columns taken by name), read cell by cell in file order.
    names = [name for name in row_of if name not in exclude]
    index = {name: i for i, name in enumerate(names)}
    m = np.full((len(names), len(names)), np.nan)
    for a in names:
        line, cells = row_of[a]
        for name, cell in zip(col_of, cells[1:]):
            if name == a or name in exclude:
                continue  # self pair: ignored, whatever it holds
            x = number(cell)
            if x is None:
                raise DataError(f"{path}: row {line}, column {col_of[name]} ({a}, {name}): {cell.strip()!r} "
                                "is not a number")
            m[index[a], index[name]] = x

    def where(i: int, j: int) -> str:
        return f"row {row_of[names[i]][0]}, column {col_of[names[j]]} ({names[i]}, {names[j]})"

    full = _in_unit(path, _symmetric(path, m, where, average_orders), where, scale)  # in the file's order
    kept = [s for s in sounds if s not in exclude]
    here = [k for k, s in enumerate(kept) if s in index]  # all of them, unless partial
    out = np.full((len(kept), len(kept)), np.nan)
    out[np.ix_(here, here)] = full[np.ix_([index[kept[k]] for k in here], [index[kept[k]] for k in here])]
    return out


def _long_csv(path: Path, rows: list[tuple[int, list[str]]], cols: list[int], sounds: tuple[str, ...],
              scale: Scale, average_orders: bool, exclude: frozenset, partial: bool) -> np.ndarray:
    """(k, k) ratings, in the order of the sounds kept, of a long CSV whose columns ``cols``
    (0-based) hold sound_a, sound_b and the rating (``rows`` from :func:`csv_rows`)."""
    (top, header), body = rows[0], rows[1:]
    named: dict[str, int] = {}  # name -> the first line naming it
    for line, cells in body:
        if len(cells) != len(header):
            raise DataError(f"{path}: row {line} has {len(cells)} cells but the header (row {top}) has "
                            f"{len(header)}: {','.join(cell.strip() for cell in header)}")
        for k in cols[:2]:
            if not cells[k].strip():
                raise DataError(f"{path}: row {line}, column {k + 1} has no sound name")
            named.setdefault(cells[k].strip(), line)
    check_names(path, named, sounds, exclude, partial)

    kept = [s for s in sounds if s not in exclude]
    index = {s: i for i, s in enumerate(kept)}
    given: list[tuple[int, str, str, float]] = []  # (line, a, b, value as read) of every pair row kept
    for line, cells in body:
        a, b, cell = (cells[k].strip() for k in cols)
        if a == b or a in exclude or b in exclude:
            continue  # a self pair (ignored, whatever it holds) or a sound left out
        x = number(cell)
        if x is None:
            raise DataError(f"{path}: row {line}, column {cols[2] + 1} ({a}, {b}): {cell!r} is not a number")
        given.append((line, a, b, x))
    values = scale.dissimilarities(path, np.array([g[3] for g in given]),
                                   lambda k: f"row {given[k][0]}, column {cols[2] + 1} ({given[k][1]}, {given[k][2]})")
    pairs: dict[tuple[int, int], list[int]] = {}  # (i, j), i < j -> the rows (indices of given) rating it
    for k, (line, a, b, x) in enumerate(given):
        rows_of = pairs.setdefault(tuple(sorted((index[a], index[b]))), [])
        first = given[rows_of[0]] if rows_of else None
        if first is not None and not average_orders and not (x == first[3] or (np.isnan(x) and np.isnan(first[3]))):
            raise DataError(f"{path}: pair ({a}, {b}) is rated {first[3]} in row {first[0]} but {x} in row {line}; "
                            "if both orders were asked, --average-orders averages them")
        rows_of.append(k)
    m = np.full((len(kept), len(kept)), np.nan)
    for (i, j), ks in pairs.items():
        rated = values[ks][np.isfinite(values[ks])]
        m[i, j] = m[j, i] = rated.mean() if rated.size else np.nan
    return m


def check_names(path: Path, named: dict[str, int | None], sounds: tuple[str, ...], exclude: Collection[str] = (),
                partial: bool = False, rated: Collection[str] | None = None) -> None:
    """Refuse, in one message, the ``named`` sounds of the file ({name: its first row, or None})
    that match no sound and are not excluded, and (unless ``partial``) the ``sounds`` kept that
    the file never names (or, given ``rated``, that no rated pair names); an excluded name that
    is neither a sound nor named is a UsageError."""
    stray = sorted(set(exclude) - set(sounds) - set(named))
    if stray:
        raise UsageError(f"--exclude {', '.join(stray)}: no audio file and no rating of {path} has that name")
    known = set(sounds)
    unknown = [name + (f" (row {line})" if line else "") for name, line in named.items()
               if name not in known and name not in exclude]
    have = named if rated is None else rated
    missing = [] if partial else [s for s in sounds if s not in have and s not in exclude]
    parts = ([f"ratings name(s) {', '.join(unknown)} match no audio file"] if unknown else []) + (
        [f"audio file(s) {', '.join(missing)} have no ratings"] if missing else [])
    if parts:
        hint = f"names are the audio file stems, e.g. {sounds[0]}; " if sounds and unknown else ""
        raise DataError(f"{path}: {'; '.join(parts)} ({hint}{EXCLUDE_HINT})")


def _symmetric(path: Path, m: np.ndarray, where: Callable[[int, int], str], average_orders: bool) -> np.ndarray:
    """(l, l) symmetric ratings with a NaN diagonal from a matrix in the file's order: upper-triangular
    with zeros strictly below the diagonal (its upper triangle holds everything), or symmetric, or (with
    ``average_orders``) full with both orders, averaged where both are rated; ``where(i, j)`` names a cell.

    Anything else (a lower-triangular or a non-symmetric matrix) is refused naming its first differing
    pair, because reading one triangle of it would silently drop the other.  An infinite cell is refused
    first."""
    bad = first_infinite_pair(m)
    if bad is not None:
        raise DataError(f"{path}: {where(*bad)}: {m[bad]} is infinite; use nan or NA for an unrated pair")
    if np.all(np.tril(m, -1) == 0):  # NaN below is not a zero: such a matrix must be symmetric
        return ratings_from_upper(m)
    bad = first_asymmetric_pair(m)
    if bad is not None and average_orders and not np.all(np.triu(m, 1) == 0):  # lower-triangular: not two orders
        both = np.where(np.isnan(m), m.T, np.where(np.isnan(m.T), m, (m + m.T) / 2))  # one order rated: that one
    elif bad is not None:
        i, j = bad
        raise DataError(f"{path}: ratings matrix is neither symmetric nor upper-triangular with zeros below: "
                        f"{where(i, j)} is {m[i, j]} but {where(j, i)} is {m[j, i]}; if both orders were asked, "
                        "--average-orders averages them")
    else:
        both = m.copy()
    np.fill_diagonal(both, np.nan)
    return both


def _in_unit(path: Path, full: np.ndarray, where: Callable[[int, int], str], scale: Scale | None) -> np.ndarray:
    """``full`` (l, l) symmetric, its pairs' values mapped by ``scale``; None: a published
    file, whose values must be in [0, 1], refused cell by cell (no scale can be given)."""
    i, j = np.triu_indices(len(full), 1)
    values = full[i, j]
    if scale is None:
        for k in np.flatnonzero((values < 0) | (values > 1)):
            why = "negative" if values[k] < 0 else "above 1"
            raise DataError(f"{path}: {where(i[k], j[k])}: {values[k]} is {why}; ratings must be dissimilarities "
                            "in [0, 1]")
    else:
        values = scale.dissimilarities(path, values, lambda k: where(i[k], j[k]))
    out = np.full_like(full, np.nan)
    out[i, j] = out[j, i] = values
    return out


def _rated(path: Path, full: np.ndarray) -> np.ndarray:
    """``full`` itself, (l, l), unless no pair off its diagonal is rated."""
    if np.isnan(full[~np.eye(len(full), dtype=bool)]).all():
        raise DataError(f"{path}: no rated pair (every pair is nan, NA, empty, absent or a self pair)")
    return full
