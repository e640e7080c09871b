"""The contract every analysis keeps, and the loading they share.

An analysis (:mod:`~timbre_jax.analyses.table`, :mod:`~timbre_jax.analyses.robustness`,
:mod:`~timbre_jax.analyses.null`, :mod:`~timbre_jax.analyses.crossval`, :mod:`~timbre_jax.analyses.zeroshot`,
:mod:`~timbre_jax.analyses.evaluate`, :mod:`~timbre_jax.analyses.audit`) is a module with three functions:

- ``run(representations, datasets, *, source, ..., directory=None, progress=True) ->
  Result``: computes everything, a frozen dataclass of rows (and what was skipped, and
  the time it took); with ``directory``, its fits are saved there and read back on a
  re-run (:mod:`timbre_jax.fit.resume`);
- ``write(result, out) -> list[Path]``: the CSV files and figures under the folder
  ``out``;
- ``summary(result) -> list[str]``: the lines the command line prints.

The command line only parses arguments, maps them to a solver object and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass

from timbre_jax.data import registry
from timbre_jax.data.datasets import FeatureSet, load_available


@dataclass(frozen=True)
class Loaded:
    """The feature sets of each representation that has data, in the order asked, and
    (representation, dataset, reason) for each (representation, dataset) without."""

    sets: dict[str, list[FeatureSet]]
    skipped: list[tuple[str, str, str]]


def published_source(representation: str, dataset: str) -> str:
    """Where the features of one cell come from under ``auto``: upstream where the paper
    published them (a built-in dataset in one of its 8 representations), else extracted."""
    return "upstream" if representation in registry.N_FEATURES and dataset in registry.DATASETS else "extracted"


def load(representations, datasets, source: str = "upstream") -> Loaded:
    """Load every (representation, dataset) that ``source`` has; ``"auto"`` chooses per
    cell (:func:`published_source`), for the analyses that pool every study."""
    sets, skipped = {}, []
    for r in representations:
        found = []
        for d in datasets:
            have, missing = load_available(r, [d], published_source(r, d) if source == "auto" else source)
            found += have
            skipped += missing
        if found:
            sets[r] = found
    return Loaded(sets, skipped)


def skipped_lines(skipped) -> list[str]:
    """One line per (representation, dataset) without data, saying why."""
    return [f"skipped {r}/{d}: {why}" for r, d, why in skipped]
