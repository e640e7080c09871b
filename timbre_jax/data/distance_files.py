"""Distance matrices out: the labelled square CSV that ``learn --distances`` and ``evaluate
--distances`` write, and its reader.

**The format.**  One file per study and kind of distance, ``<stem>.<kind>.csv``
(:func:`distance_file`): the first row is ``sound`` then the l sound names, each following
row a sound's name then its l distances, in the same order as the header; the matrix is
square, symmetric, non-negative, finite and zero on the diagonal.  Every value is Python's
``repr`` of the float64 (the shortest text that reads back to the same double), so a file
read back gives the matrix written to the last bit.  UTF-8, ``\\n`` line ends, cells quoted
only where a name holds a comma or a quote (:mod:`csv`).

**The kinds** (:data:`KINDS`): ``learned``, the learned metric not squared,
d_w(i, j) = sqrt(sum_k D_ijk / w_k^2) with D_ijk the squared difference of feature k
(summed over the frames of a frame-aligned representation); ``unweighted``, the Euclidean
distance of the same features, every weight 1
(:func:`timbre_jax.stats.rank_metrics.learned_distance_matrix` and
:func:`~timbre_jax.stats.rank_metrics.distance_matrix`).

**Elsewhere.**  R: ``m <- as.matrix(read.csv("X.learned.csv", row.names = 1,
check.names = FALSE))`` (``check.names = FALSE`` keeps names such as ``1-flute``), then
``as.dist(m)`` for ``hclust`` or ``cmdscale``.  Python: ``pandas.read_csv(path,
index_col=0)``, or :func:`read_distances` here; rsatoolbox then takes the matrix as
``rsatoolbox.rdm.RDMs(matrix[None], dissimilarity_measure="euclidean",
pattern_descriptors={"sound": list(sounds)})`` (an (1, l, l) stack of square matrices).

The reader raises :class:`~timbre_jax.errors.DataError` naming the file and the 1-based row
(the file's line) and column of the first cell at fault.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from timbre_jax.data.rating_files import csv_rows
from timbre_jax.data.store import atomic_write_bytes, check_name
from timbre_jax.errors import DataError, UsageError

KINDS = ("learned", "unweighted")
CORNER = "sound"  # the first cell of the header row
LAYOUT = ("a labelled square matrix: row 1 'sound' then the sound names, each next row a sound's name then its "
          "distances, in the header's order")


def distance_file(folder, stem: Sequence[str], kind: str) -> Path:
    """``folder/<stem[0]>.<stem[1]>....<kind>.csv``: each part of ``stem`` (a dataset, a
    representation) checked as one safe name (:func:`timbre_jax.data.store.check_name`), so
    that no name given by a user writes outside ``folder``."""
    if kind not in KINDS:
        raise UsageError(f"unknown kind of distance {kind!r}; use one of {', '.join(KINDS)}")
    parts = [check_name(part, "dataset or representation") for part in stem]
    return Path(folder) / ".".join([*parts, kind, "csv"])


def write_distances(path, sounds: Sequence[str], matrix) -> Path:
    """Write ``matrix`` (l, l) labelled by ``sounds`` (l,) to ``path`` atomically (the
    format in the module docstring).  A matrix that is not a distance matrix (not square,
    not symmetric, a non-zero diagonal, negative or non-finite values) or names that are
    empty, padded with spaces or repeated are refused (DataError), so that every file
    written reads back."""
    path = Path(path)
    M = np.asarray(matrix, dtype=np.float64)
    names = [str(s) for s in sounds]
    if M.ndim != 2 or M.shape != (len(names), len(names)):
        raise DataError(f"{path}: a distance matrix of {len(names)} sounds must be ({len(names)}, {len(names)}), "
                        f"got shape {M.shape}")
    for name in names:
        if not name or name != name.strip():
            raise DataError(f"{path}: sound name {name!r} is empty or padded with spaces")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: a sound name appears twice")
    if not np.all(np.isfinite(M)) or np.any(M < 0) or np.any(np.diag(M) != 0) or np.any(M != M.T):
        raise DataError(f"{path}: not a distance matrix (finite, non-negative, symmetric, zero diagonal)")
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow([CORNER, *names])
    out.writerows([name, *(repr(float(x)) for x in row)] for name, row in zip(names, M))
    atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue().encode("utf-8")))
    return path


def _value(path: Path, line: int, col: int, pair: tuple[str, str], cell: str) -> float:
    try:
        x = float(cell.strip())
    except ValueError:
        raise DataError(f"{path}: row {line}, column {col} {pair}: {cell.strip()!r} is not a number") from None
    if not math.isfinite(x) or x < 0:
        raise DataError(f"{path}: row {line}, column {col} {pair}: {cell.strip()} is not a distance "
                        "(finite, >= 0)")
    return x


def read_distances(path) -> tuple[tuple[str, ...], np.ndarray]:
    """(sounds (l,), matrix (l, l) float64) of a distance file (the format in the module
    docstring; the first cell may be anything, so that R's ``write.csv`` output reads too).

    Raises DataError naming the file and the 1-based row and column: an empty file, an
    empty or repeated name, a row with more or fewer cells than the header, more or fewer
    rows than names (not square), a row whose name is not the header's name in the same
    place, a cell that is not a number, negative or not finite, a non-zero diagonal, and
    a pair whose two cells differ (not symmetric)."""
    path = Path(path)
    rows = csv_rows(path, "distance file")
    if not rows:
        raise DataError(f"{path}: empty file; expected {LAYOUT}")
    (top, header), body = rows[0], rows[1:]
    names = [c.strip() for c in header[1:]]
    for col, name in enumerate(names, 2):
        if not name:
            raise DataError(f"{path}: row {top}, column {col} has no sound name")
        if names.index(name) != col - 2:
            raise DataError(f"{path}: sound name {name} appears twice in row {top} (columns "
                            f"{names.index(name) + 2} and {col})")
    if not names:
        raise DataError(f"{path}: row {top} names no sounds; expected {LAYOUT}")
    l = len(names)
    if len(body) != l:
        where = f"row {body[l][0]} is one too many" if len(body) > l else f"the last row is row {rows[-1][0]}"
        raise DataError(f"{path}: {len(body)} rows of distances for the {l} sounds of the header (row {top}); a "
                        f"distance matrix is square: {where}")
    M = np.empty((l, l))
    for i, (line, cells) in enumerate(body):
        if len(cells) != l + 1:
            raise DataError(f"{path}: row {line} has {len(cells)} cells but the header (row {top}) has {l + 1}")
        if cells[0].strip() != names[i]:
            raise DataError(f"{path}: row {line} names {cells[0].strip()!r} in column 1 where the header (row {top}, "
                            f"column {i + 2}) names {names[i]!r}: the first column must name the header's sounds in "
                            "the same order")
        M[i] = [_value(path, line, j + 2, (names[i], names[j]), cell) for j, cell in enumerate(cells[1:])]
    lines = [line for line, _ in body]
    for i in range(l):
        if M[i, i] != 0:
            raise DataError(f"{path}: row {lines[i]}, column {i + 2} ({names[i]}, {names[i]}): {float(M[i, i])!r} "
                            "is not 0; a sound's distance to itself is 0")
    bad = np.argwhere(np.triu(M != M.T, 1))
    if len(bad):
        i, j = bad[0]
        raise DataError(f"{path}: row {lines[i]}, column {j + 2} ({names[i]}, {names[j]}) holds {float(M[i, j])!r} "
                        f"but row {lines[j]}, column {i + 2} ({names[j]}, {names[i]}) holds {float(M[j, i])!r}; a "
                        "distance matrix is symmetric")
    return tuple(names), M
