"""Timbre spaces: the human ratings as a map, what its axes mean, and models laid over it.

Per study:

- the human timbre space: metric (ratio) MDS of the mean ratings, taken as the
  dissimilarities, unrated pairs left out (weight 0), by SMACOF in 2 and 3 dimensions, with
  Kruskal's stress-1 (:mod:`timbre_jax.stats.mds`);
- its axes read: each dimension's Pearson correlation (and two-sided p) over the sounds
  with each descriptor of a named representation (``descriptors``, default the classic
  audio descriptors of ``timbre-jax extract --representation descriptors``; their raw values,
  ``metadata["raw_features"]``, where the store keeps them, else the stored features).  A
  dimension's sign is arbitrary, so is the sign of its r;
- for each representation asked (default none): the MDS of its unweighted Euclidean
  distances (every weight 1) and of its learned distances (the weights of the exact fit on
  that study, :func:`timbre_jax.fit.learn.learn_metrics`), each moved onto the human space
  of the same dimension by Procrustes (:mod:`timbre_jax.stats.procrustes`: translation,
  rotation or reflection, uniform scale), with the disparity left (0: the same shape).

A study whose descriptors are not stored says so in one line, with the command that makes
them, and the rest goes on.  The figures: :mod:`timbre_jax.plots.space`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from timbre_jax.analyses import base
from timbre_jax.data import download, store, studies
from timbre_jax.data.datasets import FeatureSet, load, load_ratings
from timbre_jax.data.registry import DATASETS, published_source
from timbre_jax.errors import DataError, MissingFeatures
from timbre_jax.fit.learn import learn_metrics
from timbre_jax.plots import space as figures
from timbre_jax.plots.tables import write_csv
from timbre_jax.progress import bar
from timbre_jax.stats import mds
from timbre_jax.stats.procrustes import Alignment, align
from timbre_jax.stats.rank_metrics import distance_matrix, learned_distance_matrix

WRITES = ("OUT/spaces.csv (one row per study x space x dimensions: stress-1, Procrustes disparity), "
          "OUT/coordinates.csv (each sound in each space; model spaces aligned to the human one), "
          "OUT/correlations.csv (each human MDS dimension x descriptor: Pearson r, p), and per study "
          "OUT/space_<dataset>.png (the 2-D human space, the aligned model spaces), OUT/space3d_<dataset>.png "
          "(the 3-D space's three 2-D views) and OUT/correlations_<dataset>.png (dimensions x top descriptors)")

DIMENSIONS = (2, 3)
"""The dimensions of every space."""
SPACE_COLUMNS = ["dataset", "space", "representation", "distances", "dims", "stress", "disparity", "iterations",
                 "converged", "certified"]
CORRELATION_COLUMNS = ["dataset", "descriptors", "dims", "dimension", "descriptor", "unit", "pearson", "p"]


@dataclass(frozen=True)
class ModelSpace:
    """One representation's distances (``distances``: "unweighted" or "learned") as a space:
    per number of dimensions k, its own MDS (``spaces[k]``) and that MDS moved onto the
    human space of k dimensions (``aligned[k]``).  ``certified``: whether the learned fit is
    (None for the unweighted distances)."""

    representation: str
    distances: str
    spaces: dict[int, mds.Space]
    aligned: dict[int, Alignment]
    certified: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.representation} {self.distances}"


@dataclass(frozen=True)
class Descriptors:
    """The named values the human axes are read by: ``values`` (l, m) of the representation
    ``representation`` (from ``source``; ``raw``: the values before the store's
    standardization), its ``names`` and ``units`` (m,); per k, ``r[k]`` and ``p[k]`` (k, m)."""

    representation: str
    source: str
    raw: bool
    names: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray
    r: dict[int, np.ndarray]
    p: dict[int, np.ndarray]

    def best(self, k: int, a: int) -> tuple[str, float, float]:
        """(name, r, p) of the descriptor most correlated (|r|) with dimension ``a`` (0-based)
        of the k-dimensional space; ("", NaN, NaN) where none has a correlation."""
        row = np.abs(self.r[k][a])
        if not np.isfinite(row).any():
            return "", float("nan"), float("nan")
        j = int(np.nanargmax(row))
        return self.names[j], float(self.r[k][a, j]), float(self.p[k][a, j])


@dataclass(frozen=True)
class StudySpace:
    """The spaces of one study: ``human[k]`` (its sounds (l,) in ``sounds``), the model
    spaces, the descriptors (None: ``missing`` says why)."""

    dataset: str
    sounds: tuple[str, ...]
    human: dict[int, mds.Space]
    models: list[ModelSpace]
    descriptors: Descriptors | None
    missing: str = ""


@dataclass(frozen=True)
class SpaceResult:
    """Every study's spaces, the representations and descriptors asked, the source, what was
    skipped ((representation, dataset, reason); "ratings" where a study had none) and the time."""

    studies: list[StudySpace]
    representations: list[str]
    descriptors: str
    source: str = "auto"
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0


def human_ratings(dataset: str, sets: list[FeatureSet]) -> tuple[np.ndarray, tuple[str, ...]]:
    """The mean ratings (l, l) and sounds (l,) of ``dataset``: a built-in study's or an added
    one's, else those stored with any of its feature sets ``sets``.  MissingFeatures where
    none has them."""
    if dataset in DATASETS:
        return load_ratings(dataset), DATASETS[dataset].sounds
    if studies.is_added(dataset):
        found = studies.load(dataset)
        return found.ratings, found.sounds
    for fs in sets:
        return fs.ratings, fs.sounds
    raise MissingFeatures(f"no ratings of {dataset}: it is neither a built-in study nor one you added, and none of "
                          "the features asked for was imported with its ratings")


def descriptor_set(dataset: str, representation: str) -> tuple[FeatureSet | None, str]:
    """The feature set of the named ``representation`` for ``dataset``, from the source the
    library picks (:func:`~timbre_jax.data.registry.published_source`: extracted for the
    descriptors), else from the first imported source that holds it (in name order); or
    (None, one line saying why and how to make them)."""
    first = published_source(representation, dataset)
    for source in [first, *(s for s in store.stored_sources() if s not in store.SOURCES)]:
        if source != "upstream" and not store.feature_file(source, representation, dataset).exists():
            continue
        try:
            return load(dataset, representation, source), ""
        except (download.MissingUpstreamFile, MissingFeatures) as e:
            return None, str(e)
    if representation == "descriptors":
        return None, (f"no descriptors stored for {dataset}: make them with `timbre-jax extract --representation "
                      f"descriptors --datasets {dataset}`")
    return None, f"no {representation} features stored for {dataset} (extracted or imported)"


def read_descriptors(fs: FeatureSet, sounds, human: dict[int, mds.Space]) -> Descriptors:
    """The correlations of each human space's dimensions with the descriptors of ``fs``."""
    if fs.aligned:
        raise DataError(f"{fs.dataset}/{fs.representation}: frame-aligned features have no value per sound to "
                        "correlate with a space; give a per-sound representation to --descriptors")
    if tuple(fs.sounds) != tuple(sounds):
        raise DataError(f"{fs.dataset}/{fs.representation}: its sounds are not those of the ratings")
    raw = "raw_features" in fs.metadata
    values = np.asarray(fs.metadata["raw_features"] if raw else fs.features, dtype=np.float64)
    m = values.shape[1]
    names = fs.dimension_names or tuple(f"{fs.representation} {j + 1}" for j in range(m))
    units = fs.dimension_units or ("",) * m
    r, p = {}, {}
    for k, space in human.items():
        r[k], p[k] = mds.dimension_correlations(space.points, values)
    return Descriptors(fs.representation, fs.source, raw, tuple(names), tuple(units), values, r, p)


def model_space(representation: str, kind: str, D: np.ndarray, human: dict[int, mds.Space],
                certified: bool | None = None) -> ModelSpace:
    """The MDS of the model distances ``D`` (l, l) in each dimension of ``human``, each moved
    onto the human space of its dimension."""
    spaces = {k: mds.smacof(D, k) for k in human}
    return ModelSpace(representation, kind, spaces, {k: align(human[k].points, spaces[k].points) for k in human},
                      certified)


def run(representations, datasets, *, source: str = "auto", descriptors: str = "descriptors", solver=None,
        progress: bool = True) -> SpaceResult:
    """The spaces of every study of ``datasets``: the human MDS, its correlations with the
    ``descriptors`` representation, and the unweighted and learned spaces of each of
    ``representations`` (loaded from ``source``; the learned fit by ``solver``, default the
    exact solver)."""
    representations = list(representations)
    job = base.start(representations, datasets, source, solver)
    fits = {r: dict(zip([fs.dataset for fs in sets], learn_metrics([(fs.features, fs.ratings) for fs in sets],
                                                                   solver=job.solver)))
            for r, sets in job.sets.items()}
    skipped, found = list(job.skipped), []
    chosen = list(dict.fromkeys(datasets))
    with bar(progress, "timbre spaces", total=len(chosen)) as advance:
        for d in chosen:
            sets = [fs for r in job.sets for fs in job.sets[r] if fs.dataset == d]
            named, missing = descriptor_set(d, descriptors)
            try:
                ratings, sounds = human_ratings(d, sets + ([named] if named else []))
            except (download.MissingUpstreamFile, MissingFeatures) as e:
                skipped.append(("ratings", d, str(e)))
                advance(1)
                continue
            human = {k: mds.smacof(ratings, k) for k in DIMENSIONS}
            models = []
            for fs in sets:
                fit = fits[fs.representation][d]
                models.append(model_space(fs.representation, "unweighted", distance_matrix(fs.features, "euclidean"),
                                          human))
                learned = learned_distance_matrix(fs.features, fit.weights)
                if np.nanmax(learned) > 0:
                    models.append(model_space(fs.representation, "learned", learned, human, fit.certified))
                else:
                    skipped.append((fs.representation, d, "its learned metric ignores every feature: no space"))
            read = None if named is None else read_descriptors(named, sounds, human)
            found.append(StudySpace(d, tuple(sounds), human, models, read, missing))
            advance(1)
    return SpaceResult(found, representations, descriptors, job.source, skipped, job.seconds())


def space_rows(result: SpaceResult) -> list[list]:
    """Rows of :data:`SPACE_COLUMNS`: the human space, then each model space, per dimension."""
    rows = []
    for st in result.studies:
        for k in DIMENSIONS:
            h = st.human[k]
            rows.append([st.dataset, "human", "", "ratings", k, h.stress, None, h.iterations, h.converged, None])
            for m in st.models:
                s = m.spaces[k]
                rows.append([st.dataset, m.label, m.representation, m.distances, k, s.stress, m.aligned[k].disparity,
                             s.iterations, s.converged, m.certified])
    return rows


def coordinate_rows(result: SpaceResult) -> tuple[list[str], list[list]]:
    """(header, rows): dataset, space, dims, sound, dim1..dim3 (empty past the space's own)."""
    top = max(DIMENSIONS)
    header = ["dataset", "space", "dims", "sound", *(f"dim{a + 1}" for a in range(top))]
    rows = []
    for st in result.studies:
        for k in DIMENSIONS:
            for label, points in [("human", st.human[k].points), *((m.label, m.aligned[k].aligned)
                                                                   for m in st.models)]:
                rows += [[st.dataset, label, k, sound, *map(float, x), *[None] * (top - k)]
                         for sound, x in zip(st.sounds, points)]
    return header, rows


def correlation_rows(result: SpaceResult) -> list[list]:
    """Rows of :data:`CORRELATION_COLUMNS`: each study x dims x dimension x descriptor."""
    rows = []
    for st in result.studies:
        ds = st.descriptors
        if ds is None:
            continue
        for k in DIMENSIONS:
            for a in range(k):
                rows += [[st.dataset, ds.representation, k, a + 1, name, unit, float(ds.r[k][a, j]),
                          float(ds.p[k][a, j])] for j, (name, unit) in enumerate(zip(ds.names, ds.units))]
    return rows


def axis_labels(st: StudySpace, k: int) -> list[str]:
    """'dimension 1' with, where descriptors are known, its best descriptor and r."""
    labels = []
    for a in range(k):
        name, r, _ = st.descriptors.best(k, a) if st.descriptors is not None else ("", np.nan, np.nan)
        labels.append(f"MDS dimension {a + 1}" + (f" (~ {name}, r = {r:+.2f})" if name else ""))
    return labels


def write(result: SpaceResult, out: Path) -> list[Path]:
    """The three CSVs (:func:`space_rows`, :func:`coordinate_rows`, :func:`correlation_rows`)
    and the three figures of each study (:mod:`timbre_jax.plots.space`)."""
    out = Path(out)
    header, coordinates = coordinate_rows(result)
    written = [write_csv(out / "spaces.csv", SPACE_COLUMNS, space_rows(result)),
               write_csv(out / "coordinates.csv", header, coordinates),
               write_csv(out / "correlations.csv", CORRELATION_COLUMNS, correlation_rows(result))]
    for st in result.studies:
        models = [(m.label, m.aligned[2].aligned, m.aligned[2].disparity) for m in st.models]
        written.append(figures.plot_space(st.dataset, st.sounds, st.human[2].points, st.human[2].stress, models,
                                          axis_labels(st, 2), out / f"space_{st.dataset}.png", source=result.source))
        written.append(figures.plot_projections(st.dataset, st.sounds, st.human[3].points, st.human[3].stress,
                                                axis_labels(st, 3), out / f"space3d_{st.dataset}.png"))
        ds = st.descriptors
        rows = [(f"{k}-D dim {a + 1}", ds.r[k][a]) for k in DIMENSIONS for a in range(k)] if ds else []
        written.append(figures.plot_correlations(
            st.dataset, [label for label, _ in rows], np.array([r for _, r in rows]) if rows else np.zeros((0, 0)),
            ds.names if ds else (), ds.units if ds else (), out / f"correlations_{st.dataset}.png",
            descriptors=result.descriptors, missing=st.missing))
    return written


def summary(result: SpaceResult) -> list[str]:
    """What was skipped; per study the stress of its 2-D and 3-D human spaces, each model
    space's disparity, and each human dimension's most correlated descriptor (or why there
    are none)."""
    lines = base.skipped_lines(result.skipped)
    for st in result.studies:
        lines.append(f"{st.dataset} ({len(st.sounds)} sounds): human space stress-1 "
                     + ", ".join(f"{st.human[k].stress:.3f} ({k}-D)" for k in DIMENSIONS))
        for m in st.models:
            lines.append(f"  {m.label}: Procrustes disparity " + ", ".join(
                f"{m.aligned[k].disparity:.3f} ({k}-D)" for k in DIMENSIONS) + " (0: the human space's shape)")
        if st.descriptors is None:
            lines.append(f"  {st.missing}")
            continue
        for k in DIMENSIONS:
            for a in range(k):
                name, r, p = st.descriptors.best(k, a)
                said = f"{name} r = {r:+.2f} (p {p:.2g})" if name else "no descriptor varies"
                lines.append(f"  {st.dataset} {k}-D dim {a + 1}: {said}")
    lines.append(f"metric MDS (SMACOF) of the mean ratings; r: Pearson over the sounds with the {result.descriptors} "
                 "(the sign of a dimension is arbitrary) [" + f"{result.seconds:.1f} s]")
    return lines
