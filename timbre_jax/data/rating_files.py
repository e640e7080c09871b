"""Read a user's ratings file of a listening test into an (l, l) matrix ordered by the study's sounds.

Three formats, chosen by the file's suffix and then by its first row:

- a whitespace text matrix (any suffix but ``.csv``; what ``np.loadtxt`` reads: ``#`` comments, ``nan`` for an
  unrated pair) whose rows and columns follow the sorted audio file names, the convention of the published
  timbre datasets;
- a labelled square CSV (``.csv`` whose first row and first column hold sound names, in any order, and whose first
  cell is empty: what ``pandas.DataFrame.to_csv`` writes); an empty cell or ``nan`` is an unrated pair;
- a long CSV (``.csv`` with the header ``sound_a,sound_b,dissimilarity``), one rated pair per row; an absent pair,
  an empty cell or ``nan`` is unrated.

Both matrix formats may be full symmetric (an unrated pair is NaN on both sides) or upper-triangular with zeros
strictly below the diagonal (the layout of the published files), judged in the file's own order.  Self pairs (the
diagonal of a matrix, a row with ``sound_a == sound_b``) hold no information for a metric and are ignored
entirely, whatever they hold: published matrices keep small self-pair ratings there (e.g. 0.016).

The result is float64, symmetric, NaN on the diagonal and for unrated pairs.  Only NaN means unrated; ratings
are dissimilarities in [0, 1].  Every problem raises :class:`DataError` with one line naming the file and the
1-based row and column (of the file: a CSV's header is row 1 when it is the first line) or the sound(s).
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from timbre_jax.core.ratings import first_asymmetric_pair, ratings_from_upper
from timbre_jax.errors import DataError

LONG_HEADER = ("sound_a", "sound_b", "dissimilarity")
CSV_LAYOUTS = ("a labelled matrix (first row and first column: sound names, first cell empty) "
               "or a long table with the header sound_a,sound_b,dissimilarity")
TEXT_LAYOUTS = ("a whitespace matrix of l rows of l numbers, full symmetric or upper-triangular with zeros below "
                "the diagonal")


def read_ratings(path: Path, sounds: Sequence[str]) -> np.ndarray:
    """Ratings of a listening test, rows and columns in the order of ``sounds``.

    Parameters
    ----------
    path : Path
        A text matrix (rows and columns in the order of ``sounds``), a labelled square CSV or a long CSV; see the
        module docstring.
    sounds : sequence of str, length l
        The study's audio file stems (``Sim01_BCL`` for ``Sim01_BCL.aiff``), in sorted order.  Every sound must
        appear in the file and every name of the file must be one of them.

    Returns
    -------
    np.ndarray, shape (l, l), float64
        Symmetric; NaN on the diagonal and for unrated pairs; every other value in [0, 1].

    Raises
    ------
    DataError
        One line naming the file and the row/column or sound(s): unreadable or empty file, unknown layout, names
        that match no audio file or audio files without ratings, a matrix that is neither symmetric nor
        upper-triangular, a value that is not a number, infinite, negative or above 1, a pair rated twice with
        different values, a labelled CSV with duplicated names or a ragged row, no rated pair at all.
    """
    path = Path(path)
    sounds = tuple(sounds)
    if path.suffix.lower() != ".csv":
        return _text_matrix(path, sounds, len(sounds), "audio files")
    rows = _csv_rows(path)
    if not rows:
        raise DataError(f"{path}: empty file; expected {CSV_LAYOUTS}")
    line, header = rows[0]
    if tuple(cell.strip() for cell in header) == LONG_HEADER:
        return _long_csv(path, rows, sounds)
    if len(header) > 1 and not header[0].strip():
        return _labelled_csv(path, rows, sounds)
    raise DataError(f"{path}: row {line} starts no known layout; expected {CSV_LAYOUTS}")


def read_matrix(path: Path, n_sounds: int | None = None) -> np.ndarray:
    """Ratings from a whitespace text matrix alone, in the file's order (no sound names).

    Read with ``np.loadtxt`` (``#`` comments, ``nan`` for an unrated pair); full symmetric, or upper-triangular
    with zeros strictly below the diagonal; the diagonal is ignored.

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
        One line naming the file and the 1-based row and column: unreadable text, an empty file, a matrix that is
        not square or not of n_sounds rows, a value that is infinite, negative or above 1, a matrix neither
        symmetric nor upper-triangular, no rated pair.
    """
    return _text_matrix(Path(path), None, n_sounds, "sounds")


def _text_matrix(path: Path, names: tuple[str, ...] | None, n: int | None, unit: str) -> np.ndarray:
    """(l, l) ratings of a text matrix; ``names`` (for the messages) and ``n`` follow its rows, ``unit`` names
    what ``n`` counts in a size mismatch ("5 rows but 6 audio files")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": an empty file, refused below
            m = np.loadtxt(path, dtype=np.float64, ndmin=2, encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read the ratings file ({e})") from None
    except ValueError as e:  # a cell that is not a number, a ragged row, bytes that are not UTF-8
        raise DataError(f"{path}: {_text_problem(path) or e}") from None
    if m.size == 0:
        raise DataError(f"{path}: empty file (no numbers); expected {TEXT_LAYOUTS}")
    r, c = m.shape
    if r != c:
        raise DataError(f"{path}: the ratings matrix has shape {m.shape}; it must be square")
    if n is not None and r != n:
        listed = f" ({', '.join(names)})" if names else ""  # which file is extra or missing is the question
        raise DataError(f"{path}: the ratings matrix has {r} rows but {n} {unit}{listed}")

    def where(i: int, j: int) -> str:
        cell = f"row {i + 1}, column {j + 1}"
        return cell if names is None else f"{cell} ({names[i]}, {names[j]})"

    off = ~np.eye(r, dtype=bool)
    bad = np.argwhere(off & ((m < 0) | (m > 1)))  # inf and -inf included; NaN compares False (unrated)
    if bad.size:
        i, j = (int(k) for k in bad[0])
        raise DataError(f"{path}: {where(i, j)}: {_problem(m[i, j])}")
    return _rated(path, _symmetric(path, m, where))


def _text_problem(path: Path) -> str | None:
    """Where a text matrix that ``np.loadtxt`` refused goes wrong, by file line and column: the first cell that is
    not a number or the first line whose length differs from the first; None when not found (numpy's message is
    then used), e.g. for bytes that are not UTF-8."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, ValueError):
        return None
    width = first = None
    for k, line in enumerate(text.split("\n"), 1):  # np.loadtxt splits on newlines only
        cells = line.split("#", 1)[0].split()
        if not cells:
            continue
        for c, cell in enumerate(cells, 1):
            if _number(cell) is None:
                hint = " (comma-separated values belong in a .csv file)" if "," in cell else ""
                return f"line {k}, column {c}: {cell!r} is not a number{hint}"
        if width is None:
            width, first = len(cells), k
        elif len(cells) != width:
            return f"line {k} has {len(cells)} numbers but line {first} has {width}; a ratings matrix is square"
    return None


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file as (file line, cells); a UTF-8 byte order mark is dropped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            return [(reader.line_num, cells) for cells in reader if any(cell.strip() for cell in cells)]
    except (OSError, ValueError, csv.Error) as e:  # ValueError: bytes that are not UTF-8
        raise DataError(f"{path}: cannot read the ratings file ({e})") from None


def _labelled_csv(path: Path, rows: list[tuple[int, list[str]]], sounds: tuple[str, ...]) -> np.ndarray:
    """(l, l) ratings, in the order of ``sounds``, of a labelled square CSV (``rows`` from :func:`_csv_rows`)."""
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
    _check_names(path, list(row_of), sounds)

    # The matrix in the file's order (that of its rows; columns taken by name), checked cell by cell in file order.
    names = list(row_of)
    index = {name: i for i, name in enumerate(names)}
    m = np.full((len(names), len(names)), np.nan)
    for a, (line, cells) in row_of.items():
        for name, cell in zip(col_of, cells[1:]):
            if name == a:
                continue  # self pair: ignored, whatever it holds
            m[index[a], index[name]] = _rating(path, f"row {line}, column {col_of[name]} ({a}, {name})", cell)

    def where(i: int, j: int) -> str:
        return f"row {row_of[names[i]][0]}, column {col_of[names[j]]} ({names[i]}, {names[j]})"

    full = _symmetric(path, m, where)  # the triangle rule applies in the file's order: reorder only afterwards
    order = [index[s] for s in sounds]
    return _rated(path, full[np.ix_(order, order)])


def _rating(path: Path, at: str, cell: str) -> float:
    """One CSV cell as a rating (NaN = unrated), or a DataError naming the file and ``at``."""
    x = _number(cell)
    if x is None:
        raise DataError(f"{path}: {at}: {cell.strip()!r} is not a number")
    problem = _problem(x)
    if problem:
        raise DataError(f"{path}: {at}: {problem}")
    return x


def _long_csv(path: Path, rows: list[tuple[int, list[str]]], sounds: tuple[str, ...]) -> np.ndarray:
    """(l, l) ratings, in the order of ``sounds``, of a long CSV (``rows`` from :func:`_csv_rows`)."""
    (top, _), body = rows[0], rows[1:]
    for line, cells in body:
        if len(cells) != 3:
            raise DataError(f"{path}: row {line} has {len(cells)} cells but the header (row {top}) has 3: "
                            f"{','.join(LONG_HEADER)}")
        for k in (0, 1):
            if not cells[k].strip():
                raise DataError(f"{path}: row {line}, column {k + 1} has no sound name")
    _check_names(path, list(dict.fromkeys(cell.strip() for _, cells in body for cell in cells[:2])), sounds)

    index = {s: i for i, s in enumerate(sounds)}
    m = np.full((len(sounds), len(sounds)), np.nan)
    first: dict[tuple[int, int], tuple[int, float]] = {}  # (i, j), i < j -> (line, value) of its first row
    for line, (a, b, cell) in body:
        a, b = a.strip(), b.strip()
        if a == b:
            continue  # self pair: ignored, whatever it holds
        x = _rating(path, f"row {line}, column 3 ({a}, {b})", cell)
        i, j = sorted((index[a], index[b]))
        if (i, j) in first:  # given again, in either order: fine when it says the same (NaN twice: unrated twice)
            line0, y = first[(i, j)]
            if not (x == y or (np.isnan(x) and np.isnan(y))):
                raise DataError(f"{path}: pair ({a}, {b}) is rated {y} in row {line0} but {x} in row {line}")
            continue
        first[(i, j)] = (line, x)
        m[i, j] = m[j, i] = x
    return _rated(path, m)


def _check_names(path: Path, names: list[str], sounds: tuple[str, ...]) -> None:
    """Refuse, in one message, the file's ``names`` that match no sound and the ``sounds`` the file never names."""
    known, named = set(sounds), set(names)
    unknown = [name for name in names if name not in known]
    missing = [s for s in sounds if s not in named]
    parts = ([f"ratings name(s) {', '.join(unknown)} match no audio file"] if unknown else []) + (
        [f"audio file(s) {', '.join(missing)} have no ratings"] if missing else [])
    if parts:
        hint = f" (names are the audio file stems, e.g. {sounds[0]})" if sounds else ""
        raise DataError(f"{path}: {'; '.join(parts)}{hint}")


def _symmetric(path: Path, m: np.ndarray, where: Callable[[int, int], str]) -> np.ndarray:
    """(l, l) symmetric ratings with a NaN diagonal from a matrix in the file's order: upper-triangular with zeros
    strictly below the diagonal (its upper triangle holds everything), or symmetric; ``where(i, j)`` names a cell.

    Anything else (a lower-triangular or a non-symmetric matrix) is refused naming its first differing pair,
    because reading one triangle of it would silently drop the other.
    """
    if np.all(np.tril(m, -1) == 0):  # NaN below is not a zero: such a matrix must be symmetric
        return ratings_from_upper(m)
    bad = first_asymmetric_pair(m)
    if bad is not None:
        i, j = bad
        raise DataError(f"{path}: ratings matrix is neither symmetric nor upper-triangular with zeros below: "
                        f"{where(i, j)} is {m[i, j]} but {where(j, i)} is {m[j, i]}")
    full = m.copy()
    np.fill_diagonal(full, np.nan)
    return full


def _rated(path: Path, full: np.ndarray) -> np.ndarray:
    """``full`` itself, (l, l), unless no pair off its diagonal is rated."""
    if np.isnan(full[~np.eye(len(full), dtype=bool)]).all():
        raise DataError(f"{path}: no rated pair (every pair is nan, empty, absent or a self pair)")
    return full


def _number(cell: str) -> float | None:
    """The rating in one cell: NaN for an empty cell (unrated), None for text that is not a number.

    Python's ``float`` rules, except underscores between digits, which ``np.loadtxt`` refuses too.
    """
    text = cell.strip()
    if not text:
        return np.nan
    try:
        return float(text) if "_" not in text else None
    except ValueError:
        return None


def _problem(x: float) -> str | None:
    """Why the off-diagonal rating ``x`` cannot be used, or None (NaN, unrated, is fine)."""
    if np.isinf(x):
        return f"{x} is infinite; use nan for an unrated pair (only nan means unrated)"
    if x < 0:
        return f"{x} is negative; ratings must be dissimilarities in [0, 1]"
    if x > 1:
        return (f"{x} is above 1; ratings must be dissimilarities in [0, 1]: rescale them, "
                "e.g. divide by the scale's maximum")
    return None
