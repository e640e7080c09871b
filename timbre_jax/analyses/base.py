"""The contract every analysis keeps, and the run skeleton they share.

An analysis (:mod:`~timbre_jax.analyses.table`, :mod:`~timbre_jax.analyses.robustness`,
:mod:`~timbre_jax.analyses.null`, :mod:`~timbre_jax.analyses.crossval`, :mod:`~timbre_jax.analyses.zeroshot`,
:mod:`~timbre_jax.analyses.evaluate`, :mod:`~timbre_jax.analyses.audit`, :mod:`~timbre_jax.analyses.transfer`,
:mod:`~timbre_jax.analyses.leaderboard`, :mod:`~timbre_jax.analyses.single`) is a module with three
functions and a string:

- ``run(representations, datasets, *, source, ..., directory=None, progress=True) ->
  Result``: computes everything, a frozen dataclass of rows (and what was skipped, and
  the time it took); with ``directory``, its fits are saved there and read back on a
  re-run (:mod:`timbre_jax.fit.resume`);
- ``write(result, out) -> list[Path]``: the CSV files and figures under the folder
  ``out``;
- ``summary(result) -> list[str]``: the lines the command line prints;
- ``WRITES``: what ``write`` (and the command's saved fits) leave behind, in words: the
  command's ``--help`` says it.

What every ``run`` repeats is here, once: :func:`start` takes the clock, loads every
(representation, dataset) that has data (:func:`load`) and picks the default solver
(:func:`default_solver`); the :class:`Run` it returns gives each representation's folder
of saved fits (``directory/<representation>``, :func:`folder`), what was skipped (its
``skipped``, said by :func:`skipped_lines`) and the seconds since the start.

The command line only parses arguments, maps them to a solver object and calls these.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre_jax.data import registry
from timbre_jax.data.datasets import FeatureSet, load_available, participants
from timbre_jax.solvers import Solver
from timbre_jax.solvers import solver as solver_register
from timbre_jax.stats.ceiling import NoiseCeiling, noise_ceiling


@dataclass(frozen=True)
class Loaded:
    """The feature sets of each representation that has data, in the order asked, and
    (representation, dataset, reason) for each (representation, dataset) without."""

    sets: dict[str, list[FeatureSet]]
    skipped: list[tuple[str, str, str]]

    def source(self, asked: str) -> str:
        """The source these sets came from, as a result records it: ``asked``, or under
        ``"auto"`` the sources it chose, in order, joined by '+' ("upstream",
        "extracted", "upstream+extracted"); ``"auto"`` when nothing was loaded."""
        if asked != "auto":
            return asked
        chosen = dict.fromkeys(registry.published_source(fs.representation, fs.dataset)
                               for found in self.sets.values() for fs in found)
        return "+".join(chosen) or asked


def load(representations, datasets, source: str = "auto") -> Loaded:
    """Load every (representation, dataset) that ``source`` has; ``"auto"`` (the default,
    as at the command line) chooses per cell
    (:func:`~timbre_jax.data.registry.published_source`)."""
    sets, skipped = {}, []
    for r in representations:
        found, missing = load_available(r, datasets, source)
        skipped += missing
        if found:
            sets[r] = found
    return Loaded(sets, skipped)


def ceilings(datasets, *, seed: int = 0) -> dict[str, tuple[np.ndarray, NoiseCeiling]]:
    """Per dataset of ``datasets`` with per-participant ratings of two participants or more:
    (their condensed ratings (m, p), its noise ceiling (:mod:`timbre_jax.stats.ceiling`, 1,000
    splits seeded by ``seed``)); the others are absent (their ceiling columns stay empty)."""
    out = {}
    for d in dict.fromkeys(datasets):
        found = participants(d)
        if found is not None and found.m >= 2:
            out[d] = (found.pairs, noise_ceiling(found.pairs, seed=seed, study=d))
    return out


def skipped_lines(skipped) -> list[str]:
    """One line per (representation, dataset) without data, saying why."""
    return [f"skipped {r}/{d}: {why}" for r, d, why in skipped]


def default_solver(solver: Solver | None) -> Solver:
    """``solver``, or when None the default solver (:func:`timbre_jax.solvers.solver.default`:
    :class:`~timbre_jax.solvers.Exact`, the certified optimum; the paper's fit,
    :class:`~timbre_jax.solvers.Lbfgsb`, is asked for by name)."""
    return solver_register.default() if solver is None else solver


def folder(directory: Path | None, *parts: str) -> Path | None:
    """Where one part of a run keeps its fits: ``directory/part/...``; None (nothing kept)
    without ``directory``."""
    return None if directory is None else Path(directory).joinpath(*parts)


@dataclass(frozen=True)
class Run:
    """One run of an analysis, begun by :func:`start`: its solver, the feature sets of each
    representation with data (``sets``), what was skipped, the folder of its saved fits,
    the clock (``time.perf_counter`` at the start) and the source of the sets
    (:meth:`Loaded.source`: ``"auto"`` resolved)."""

    solver: Solver
    sets: dict[str, list[FeatureSet]]
    skipped: list[tuple[str, str, str]]
    directory: Path | None
    started: float
    source: str = "auto"

    def folder(self, *parts: str) -> Path | None:
        """``directory/part/...`` (a representation's saved fits: ``folder(representation)``);
        None without a directory."""
        return folder(self.directory, *parts)

    def each(self):
        """(representation, its feature sets, clock) per representation with data, in the
        order asked; ``clock()`` gives the seconds since that representation began."""
        for r, sets in self.sets.items():
            t = time.perf_counter()
            yield r, sets, lambda t=t: time.perf_counter() - t

    def seconds(self) -> float:
        """The seconds since the run began (its loading included)."""
        return time.perf_counter() - self.started


def start(representations, datasets, source: str = "auto", solver: Solver | None = None,
          directory: Path | None = None) -> Run:
    """Begin a run: take the clock, then load every (representation, dataset) that
    ``source`` has (:func:`load`); ``solver`` None is the default (:func:`default_solver`)."""
    started = time.perf_counter()
    loaded = load(representations, datasets, source)
    return Run(default_solver(solver), loaded.sets, loaded.skipped, directory, started, loaded.source(source))
