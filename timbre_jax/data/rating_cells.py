"""What the cells and the columns of a user's ratings file mean.

- A cell is a number, or unrated: empty, ``nan``, ``NA`` or ``N/A`` (any case); only those
  mean unrated (``inf`` is an error).
- The rating scale (:class:`Scale`): a listening test asks for a number on its own scale
  (often 1–9); ``--scale LOW,HIGH`` maps [LOW, HIGH] linearly onto [0, 1] and
  ``--similarity`` then takes 1 − x (the task asked how *similar* the sounds were), so that
  every study ends as dissimilarities in [0, 1].  Without a scale the numbers must be in
  [0, 1] already: dividing a 1–9 scale by 9 would give 0.11–1, not [0, 1].
- The columns of a long CSV (:func:`column_roles`): the roles participant, sound_a, sound_b
  and rating, found by the header's names (:data:`SYNONYMS`, any case, spaces and hyphens
  read as ``_``) or given with ``--columns``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.errors import DataError, UsageError

UNRATED = ("", "nan", "na", "n/a")
"""Cells that mean unrated (after stripping, any case)."""

ROLES = ("participant", "sound_a", "sound_b", "rating")
SYNONYMS = {
    "participant": ("participant", "subject", "listener", "rater", "participant_id", "subject_id", "listener_id",
                    "rater_id"),
    "sound_a": ("sound_a", "sound1", "sound_1", "stimulus_a", "stimulus1", "stimulus_1", "stim1", "stim_1", "stim_a",
                "a"),
    "sound_b": ("sound_b", "sound2", "sound_2", "stimulus_b", "stimulus2", "stimulus_2", "stim2", "stim_2", "stim_b",
                "b"),
    "rating": ("rating", "dissimilarity", "response", "score", "value"),
}
"""The header names each role is known by (normalized: lower case, ``_`` for spaces and hyphens)."""


def number(cell: str) -> float | None:
    """The value of one cell: NaN for an unrated cell (:data:`UNRATED`), None for text that is
    not a number.  Python's ``float`` rules, except underscores between digits."""
    text = cell.strip()
    if text.casefold() in UNRATED:
        return np.nan
    try:
        return float(text) if "_" not in text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Scale:
    """How the numbers of a ratings file become dissimilarities in [0, 1].

    ``bounds`` (LOW, HIGH): the rating scale, mapped linearly onto [0, 1]
    ((x − LOW) / (HIGH − LOW)); None: the numbers are in [0, 1] already.  ``similarity``:
    the task asked for similarity, so the result is 1 minus the mapped value."""

    bounds: tuple[float, float] | None = None
    similarity: bool = False

    @classmethod
    def parse(cls, text: str | None, similarity: bool = False) -> Scale:
        """The scale of ``--scale LOW,HIGH`` (None: no scale) and ``--similarity``; a bad
        ``text`` is a UsageError."""
        if text is None:
            return cls(None, similarity)
        parts = [number(p) for p in text.split(",")]
        if len(parts) != 2 or any(p is None or not math.isfinite(p) for p in parts) or parts[0] >= parts[1]:
            raise UsageError(f"--scale {text!r}: expected LOW,HIGH, two numbers with LOW < HIGH (the ends of the "
                             "rating scale), e.g. --scale 1,9")
        return cls((float(parts[0]), float(parts[1])), similarity)

    def record(self) -> dict:
        """The scale as the study's manifest records it."""
        return {"scale": None if self.bounds is None else list(self.bounds), "similarity": self.similarity}

    def describe(self) -> str:
        """One phrase: how the numbers were mapped."""
        low, high = self.bounds or (0.0, 1.0)
        mapped = "as given (in [0, 1])" if self.bounds is None else f"scale {low:g}..{high:g} mapped to [0, 1]"
        return mapped + (", similarities turned into dissimilarities (1 - x)" if self.similarity else "")

    def dissimilarities(self, path: Path, values: np.ndarray, where: Callable[[int], str]) -> np.ndarray:
        """``values`` (n,) as read (NaN = unrated), in file order, as dissimilarities in [0, 1].

        Refused (DataError, one line naming ``path`` and ``where(k)``, the place of value k):
        an infinite value; without bounds, any value outside [0, 1], in one message giving the
        file's observed range and naming ``--scale``; with bounds, a value outside them."""
        values = np.asarray(values, dtype=np.float64)
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size:
            k = int(infinite[0])
            raise DataError(f"{path}: {where(k)}: {values[k]} is infinite; use nan or NA for an unrated pair")
        low, high = self.bounds or (0.0, 1.0)
        with np.errstate(invalid="ignore"):
            outside = np.flatnonzero((values < low) | (values > high))
        if outside.size:
            k = int(outside[0])
            if self.bounds is not None:
                raise DataError(f"{path}: {where(k)}: {values[k]} is outside the rating scale {low:g}..{high:g} "
                                f"(--scale {low:g},{high:g})")
            lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
            raise DataError(f"{path}: values range {lo:g}..{hi:g}, outside [0, 1] (e.g. {where(k)}: {values[k]}): "
                            f"give the rating scale, e.g. --scale {math.floor(lo):g},{math.ceil(hi):g}"
                            " (the ends of the scale the listeners were given, which the ratings may not reach)")
        mapped = (values - low) / (high - low) if self.bounds is not None else values
        return 1.0 - mapped if self.similarity else mapped


AS_GIVEN = Scale()
"""No scale: the numbers are dissimilarities in [0, 1] already."""


def parse_columns(text: str | None) -> dict[str, str]:
    """``--columns participant=COL,sound_a=COL,...`` as {role: header name} ({} for None);
    UsageError for an item without ``=``, an unknown role or a role given twice."""
    if text is None:
        return {}
    given: dict[str, str] = {}
    for item in text.split(","):
        role, sep, column = (part.strip() for part in item.partition("="))
        why = ("expected ROLE=COLUMN" if not sep or not column else
               f"unknown role {role!r} (roles: {', '.join(ROLES)})" if role not in ROLES else
               f"{role} given twice" if role in given else None)
        if why:
            raise UsageError(f"--columns {text!r}: {item.strip()!r}: {why}; e.g. --columns participant=Subject,"
                             "rating=Response")
        given[role] = column
    return given


def _normal(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().casefold())


def column_roles(path: Path, line: int, header: Sequence[str], given: dict[str, str]) -> dict[str, int] | None:
    """The 0-based column of each role named by a CSV ``header`` (file line ``line``):
    ``given`` ({role: header name}, from ``--columns``) first, then :data:`SYNONYMS`.

    Returns None when the header names no sound_a, sound_b and rating (not a long table)
    and nothing was given; a participant column is optional (without one the rows are
    averaged ratings).  A given name absent from the header, or a header that lacks a role
    when columns were given, is a UsageError; two columns known for one role a DataError."""
    cells = [cell.strip() for cell in header]
    roles: dict[str, int] = {}
    for role, name in given.items():
        matches = [k for k, cell in enumerate(cells) if cell == name] or \
                  [k for k, cell in enumerate(cells) if _normal(cell) == _normal(name)]
        if not matches:
            raise UsageError(f"--columns {role}={name}: {path} has no column {name!r} (its header, row {line}: "
                             f"{','.join(cells)})")
        if matches[0] in roles.values():
            raise UsageError(f"--columns: column {name!r} given for two roles")
        roles[role] = matches[0]
    for role in ROLES:
        if role in roles:
            continue
        found = [k for k, cell in enumerate(cells) if _normal(cell) in SYNONYMS[role] and k not in roles.values()]
        if len(found) > 1:
            raise DataError(f"{path}: row {line}: columns {found[0] + 1} ({cells[found[0]]}) and {found[1] + 1} "
                            f"({cells[found[1]]}) both read as the {role}; say which with --columns "
                            f"{role}={cells[found[0]]}")
        if found:
            roles[role] = found[0]
    lacking = [role for role in ROLES[1:] if role not in roles]
    if lacking and given:
        raise UsageError(f"--columns: {path}'s header (row {line}: {','.join(cells)}) has no "
                         f"{' and no '.join(lacking)} column; name it, e.g. --columns {lacking[0]}=NAME")
    return None if lacking else roles


def describe_columns(header: Sequence[str], roles: dict[str, int]) -> str:
    """The mapping used, in one phrase: ``participant=Subject, sound_a=stim1, ...``."""
    return ", ".join(f"{role}={header[roles[role]].strip()}" for role in ROLES if role in roles)
