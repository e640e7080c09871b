"""Ratings files of a listening test, as users bring them.

Three layouts, all giving the (l, l) dissimilarity matrix of a study's sounds
(symmetric, NaN on the diagonal and for unrated pairs, values in [0, 1]):

- a whitespace matrix (any suffix but ``.csv``; what ``np.loadtxt`` reads, ``#``
  comments, ``nan`` = unrated): rows and columns in the sorted order of the audio file
  names, the convention of the published timbre datasets; full symmetric, or upper
  triangular with zeros below the diagonal;
- a labelled square CSV: sound names in the first row and the first column, in any
  order (as ``pandas.DataFrame.to_csv`` writes it);
- a long CSV with the header ``sound_a,sound_b,dissimilarity``, one rated pair a row;
  absent pairs are unrated.

The diagonal (a sound against itself) is not a pair: published matrices hold self-pair
ratings there, which are ignored.  Every error is one line naming the file and the
1-based row and column (of the file: in a CSV the header is row 1) or the sounds.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DataError

LONG_HEADER = ("sound_a", "sound_b", "dissimilarity")


def _number(cell: str, path: Path, row: int, col: int) -> float:
    text = cell.strip()
    if text == "" or text.lower() == "nan":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}: row {row}, column {col}: {cell!r} is not a number") from None


def _check_values(m: np.ndarray, path: Path, where) -> None:
    """Off-diagonal values must be finite or NaN and in [0, 1]; ``where(i, j)`` names a cell."""
    off = ~np.eye(len(m), dtype=bool)
    for test, why in ((np.isinf(m), "is infinite; use nan for an unrated pair"),
                      (m < 0, "is negative; dissimilarities are in [0, 1]"),
                      (m > 1, "is above 1; dissimilarities are in [0, 1] (rescale them, e.g. divide by the scale's "
                              "maximum)")):
        bad = np.argwhere(test & off)
        if bad.size:
            i, j = bad[0]
            raise DataError(f"{path}: {where(i, j)}: {m[i, j]} {why}")


def _symmetric(m: np.ndarray, path: Path, where) -> np.ndarray:
    """The full symmetric matrix from a full or an upper-triangular (zeros below) one."""
    m = np.array(m, dtype=np.float64)
    np.fill_diagonal(m, np.nan)
    lower = np.tril(m, -1)
    if np.all(np.nan_to_num(lower, nan=1.0)[np.tril_indices(len(m), -1)] == 0):  # upper triangle holds it all
        upper = np.triu(m, 1)
        upper[np.tril_indices(len(m))] = 0
        full = upper + upper.T
        i, j = np.triu_indices(len(m), 1)
        unrated = np.isnan(m[i, j])
        full[i[unrated], j[unrated]] = full[j[unrated], i[unrated]] = np.nan
        np.fill_diagonal(full, np.nan)
        return full
    same = (m == m.T) | (np.isnan(m) & np.isnan(m.T))
    bad = np.argwhere(np.triu(~same, 1))
    if bad.size:
        i, j = bad[0]
        raise DataError(f"{path}: the matrix is neither symmetric nor upper-triangular with zeros below: "
                        f"{where(i, j)} is {m[i, j]} but {where(j, i)} is {m[j, i]}")
    return m


def read_matrix(path: Path, n_sounds: int | None = None) -> np.ndarray:
    """The whitespace text matrix of ``path`` (l, l), in the file's order; see the module.

    Raises
    ------
    DataError
        For unreadable text, a wrong size (``n_sounds`` given), bad values or asymmetry.
    """
    path = Path(path)
    try:
        m = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable ratings matrix ({e})") from None
    if m.shape[0] != m.shape[1]:
        raise DataError(f"{path}: the ratings matrix has shape {m.shape}; it must be square")
    if n_sounds is not None and m.shape[0] != n_sounds:
        raise DataError(f"{path}: {m.shape[0]} rows but {n_sounds} audio files")

    def where(i, j):
        return f"row {i + 1}, column {j + 1}"

    _check_values(m, path, where)
    return _symmetric(m, path, where)


def _rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable CSV file ({e})") from None


def _match(path: Path, given: Sequence[str], sounds: Sequence[str]) -> None:
    """Every name of the file is a sound and every sound has a name (both lists reported)."""
    unknown = [n for n in dict.fromkeys(given) if n not in set(sounds)]
    missing = [s for s in sounds if s not in set(given)]
    if unknown or missing:
        parts = ([f"ratings name(s) {', '.join(unknown)} match no audio file"] if unknown else []) + \
                ([f"audio file(s) {', '.join(missing)} have no ratings"] if missing else [])
        raise DataError(f"{path}: {'; '.join(parts)}")


def _labelled(path: Path, rows: list[list[str]], sounds: Sequence[str]) -> np.ndarray:
    names = [c.strip() for c in rows[0][1:]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    for k, r in enumerate(body, start=2):
        if len(r) != len(names) + 1:
            raise DataError(f"{path}: row {k} has {len(r)} cells, the header {len(names) + 1}")
    labels = [r[0].strip() for r in body]
    for what, seq in (("header", names), ("first column", labels)):
        dup = [n for k, n in enumerate(seq) if n in seq[:k]]
        if dup:
            raise DataError(f"{path}: sound {dup[0]!r} appears twice in the {what}")
    if set(names) != set(labels):
        raise DataError(f"{path}: the header and the first column name different sounds "
                        f"({', '.join(sorted(set(names) ^ set(labels)))})")
    _match(path, names, sounds)
    m = np.array([[_number(c, path, i + 2, j + 2) for j, c in enumerate(r[1:])] for i, r in enumerate(body)])
    col = {n: k for k, n in enumerate(names)}
    m = m[:, [col[n] for n in labels]]  # columns in the order of the rows

    def where(i, j):
        return f"row {i + 2}, column {col[labels[j]] + 2} ({labels[i]}, {labels[j]})"

    _check_values(m, path, where)
    m = _symmetric(m, path, where)
    order = [labels.index(s) for s in sounds]
    return m[np.ix_(order, order)]


def _long(path: Path, rows: list[list[str]], sounds: Sequence[str]) -> np.ndarray:
    index = {s: k for k, s in enumerate(sounds)}
    l = len(sounds)
    m = np.full((l, l), np.nan)
    first = {}  # pair -> the row that rated it
    names, body = [], []
    for k, r in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in r):
            continue
        if len(r) != 3:
            raise DataError(f"{path}: row {k} has {len(r)} cells; expected sound_a,sound_b,dissimilarity")
        names += [r[0].strip(), r[1].strip()]
        body.append((k, r[0].strip(), r[1].strip(), _number(r[2], path, k, 3)))
    _match(path, names, sounds)
    for k, a, b, v in body:
        if a == b:
            continue  # a self pair: not a pair
        if np.isinf(v) or v < 0 or v > 1:
            why = ("is infinite; use nan for an unrated pair" if np.isinf(v) else
                   "is negative; dissimilarities are in [0, 1]" if v < 0 else
                   "is above 1; dissimilarities are in [0, 1] (rescale them, e.g. divide by the scale's maximum)")
            raise DataError(f"{path}: row {k}, column 3 ({a}, {b}): {v} {why}")
        i, j = sorted((index[a], index[b]))
        if (i, j) in first:
            k0, v0 = first[(i, j)]
            if not (v0 == v or (np.isnan(v0) and np.isnan(v))):
                raise DataError(f"{path}: the pair ({a}, {b}) is rated {v0} in row {k0} and {v} in row {k}")
            continue
        first[(i, j)] = (k, v)
        m[i, j] = m[j, i] = v
    return m


def read_ratings(path: Path, sounds: Sequence[str]) -> np.ndarray:
    """The ratings of ``path`` as an (l, l) matrix in the order of ``sounds`` (l,).

    ``sounds`` are the study's sound names (audio file stems) in sorted order, the row
    order a whitespace matrix must follow; the CSV layouts name their sounds and are
    reordered.  See the module for the layouts.

    Raises
    ------
    DataError
        One line naming the file and the row and column or the sounds: names that match
        no audio file and audio files with no ratings (both listed), a size that is not
        the number of sounds, an asymmetric full matrix, a value that is not a number,
        negative, infinite or above 1, a pair rated twice with two values, no rated pair.
    """
    path = Path(path)
    sounds = list(sounds)
    if path.suffix.lower() != ".csv":
        m = read_matrix(path, len(sounds))
    else:
        rows = _rows(path)
        if not rows or not any(c.strip() for c in rows[0]):
            raise DataError(f"{path}: empty; a ratings CSV is a labelled square matrix or has the header "
                            f"{','.join(LONG_HEADER)}")
        header = tuple(c.strip().lower() for c in rows[0])
        if header == LONG_HEADER:
            m = _long(path, rows, sounds)
        elif rows[0][0].strip() == "" or len(rows[0]) == len(rows):
            m = _labelled(path, rows, sounds)
        else:
            raise DataError(f"{path}: neither a labelled square matrix (sound names in the first row and column) nor "
                            f"a long table with the header {','.join(LONG_HEADER)}")
    if not np.isfinite(m[np.triu_indices(len(m), 1)]).any():
        raise DataError(f"{path}: no rated pair")
    return m
