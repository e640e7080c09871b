"""How many fits of a run ended short of their optimum, and the lines that say so.

A fit *converged* when its solver ended regularly (``Results.converged``): L-BFGS-B met
a tolerance or stagnated after a step, the exact solver verified its optimum (for it,
converged and certified are the same).  Any other end (the iteration limit, a line search
that failed at the start, a non-finite reward) leaves weights whose EV is only a lower
bound of the optimum's, and every number computed from such a fit (a p-value, a held-out
EV, an area) inherits the doubt.  The analyses never drop such a fit; they count it and
say so, in the same way everywhere:

- a CSV with one row per fit has a ``converged`` column (``certified`` in the analyses
  that only use the exact solver);
- a CSV row made of several fits ends with ``unconverged`` (``uncertified``): how many of
  its fits did not converge, and a boolean per number it flags (``converged``, or
  ``heldout_converged`` ...: every fit behind that number converged);
- the printed summary marks an affected number with :data:`MARK` and ends with
  :func:`report`: the count line (:func:`summary_line`) and the key of the mark.  Both
  only appear when some fit did not converge: the output of a fully converged run is
  unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

MARK = "*"  # after a printed number computed from a fit that did not converge


@dataclass(frozen=True)
class Convergence:
    """The fits of a run: ``total``, how many did not converge (``stopped``) and where,
    as ``((representation, dataset), count)`` in the order met."""

    total: int
    stopped: int
    where: tuple[tuple[tuple[str, str], int], ...]

    @property
    def all_converged(self) -> bool:
        return self.stopped == 0


def tally(fits: Iterable[tuple[str, str, bool]]) -> Convergence:
    """Count ``(representation, dataset, converged)`` triples, one per fit."""
    return counted((representation, dataset, 1, 0 if converged else 1) for representation, dataset, converged in fits)


def counted(cells: Iterable[tuple[str, str, int, int]]) -> Convergence:
    """Add up ``(representation, dataset, fits, of them not converged)``, one per row of
    an analysis that keeps the count rather than each fit (a cell may come back)."""
    total, where = 0, {}
    for representation, dataset, fits, stopped in cells:
        total += int(fits)
        if stopped:
            key = (representation, dataset)
            where[key] = where.get(key, 0) + int(stopped)
    return Convergence(total, sum(where.values()), tuple(where.items()))


def each(representation: str, dataset: str, converged) -> list[tuple[str, str, bool]]:
    """The :func:`tally` triples of the fits of one (representation, dataset), from their
    ``converged`` flags (a boolean array such as ``Results.converged``, or one bool)."""
    return [(representation, dataset, bool(c)) for c in np.ravel(converged)]


def count_unconverged(converged) -> int:
    """How many of the ``converged`` flags (an array, or one bool) are False."""
    return int(np.sum(~np.asarray(converged, dtype=bool)))


def marked(text: str, converged: bool) -> str:
    """``text`` followed by :data:`MARK` when the fits behind it did not all converge."""
    return text if converged else text + MARK


def summary_line(command: str, convergence: Convergence, solver: str, shown: int = 4) -> str | None:
    """The line an analysis prints when some of its fits did not converge (None when all
    did): how many, where (the first ``shown`` cells) and what it means for ``solver``
    ("lbfgsb": lower bounds, the exact solver gives the optimum; "exact": not certified;
    another solver: not converged by its own test)."""
    if convergence.all_converged:
        return None
    cells = [f"{r} on {d}: {n:,}" for (r, d), n in convergence.where]
    more = f", and {len(cells) - shown} more" if len(cells) > shown else ""
    where = ", ".join(cells[:shown]) + more
    count = f"{convergence.stopped:,} of {convergence.total:,} fits"
    if solver == "exact":
        return (f"{command}: {count} were not certified ({where}): the exact solver stopped at its iteration limit, "
                "their EVs are lower bounds of the optimum's")
    if solver == "lbfgsb":
        return (f"{command}: {count} did not converge ({where}): stopped at the iteration limit (--maxiter) or by a "
                "line search that failed at the start, their EVs are lower bounds of the optimum's; --solver exact "
                "gives the optimum")
    return (f"{command}: {count} did not converge by the {solver} solver's own test ({where}): their EVs are lower "
            "bounds of the optimum's; --solver exact gives the optimum")


def report(command: str, convergence: Convergence, solver: str, marks: str | None = None) -> list[str]:
    """The lines that end a summary: none when every fit converged; else the count line
    and, given ``marks`` (what the printed :data:`MARK` stands beside), its key."""
    line = summary_line(command, convergence, solver)
    if line is None:
        return []
    return [line] + ([f"{MARK} {marks}"] if marks else [])
