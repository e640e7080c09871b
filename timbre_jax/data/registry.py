"""The 21 built-in timbre studies, the 8 representations, and where upstream keeps their files.

Everything here is static metadata: names, sizes, the number of participants of each
study (Table I of Pascal & Lagrange 2024, used for the typical rating noise
``0.1 * sqrt(m_subjects)``), the pinned upstream commits and the relative paths of every
file.  Two selections name the studies a command runs on: :data:`PAPER`, the 17 of
Pascal & Lagrange (2024), whose ratings and features they published (the default
everywhere), and :data:`BENCHMARK`, the 21 of the timbre benchmark (timbremetrics): the
17 and 4 studies taken from the benchmark's repository, which have audio and ratings but
no published features.  :data:`SHA256` holds the hash and size of each file, read from
the package's data file ``checksums.csv`` (generated once from the offline mirror of the
pinned upstream commits; keys ``<owner>/<repo>/<commit>/<path>``).  Nine ``strf`` pickles
were too large for that mirror and could not be hashed: the downloader fetches them
unpinned and records their hash on first download (trust on first use), see
:func:`~timbre_jax.data.download.fetch`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from timbre_jax.errors import MissingFeatures, UsageError


def _read_checksums() -> dict[str, tuple[str, int]]:
    text = resources.files("timbre_jax.data").joinpath("checksums.csv").read_text()
    return {row["path"]: (row["sha256"], int(row["bytes"])) for row in csv.DictReader(text.splitlines())}


SHA256: dict[str, tuple[str, int]] = _read_checksums()
"""(sha256, bytes) of every pinned upstream file, by ``<owner>/<repo>/<commit>/<path>``."""

REPRESENTATIONS: tuple[str, ...] = (
    "stft", "cochlea", "scattering", "stmf", "clap", "encodec", "mertav", "mertcat",
)
"""The paper's representation names, in the paper's column order."""

N_FEATURES: dict[str, int] = {
    "stft": 513, "cochlea": 128, "scattering": 2204, "stmf": 30976,
    "clap": 1024, "encodec": 128, "mertav": 768, "mertcat": 9984,
}

EXTRACTED_ONLY: tuple[str, ...] = ("crepe", "mfcc", "mfcc-aligned", "descriptors")
"""Built-in representations beyond the paper's, computed from the audio only
(``timbre-jax extract``): crepe, a pitch network (the control), the timbre
benchmark's MFCC baselines, time-averaged and frame-aligned, and the classic audio
descriptors (named, with units)."""

UPSTREAM_FOLDER: dict[str, str] = {
    "stft": "stft", "cochlea": "spectrum", "scattering": "scattering", "stmf": "strf",
    "clap": "clap", "encodec": "encodec", "mertav": "mert", "mertcat": "mertcat",
}
"""Upstream folder of each representation in bpascal-fr/timbre-metric-learning/data."""


@dataclass(frozen=True)
class Upstream:
    owner: str
    repo: str
    commit: str

    @property
    def prefix(self) -> str:
        return f"{self.owner}/{self.repo}/{self.commit}"


THORET = Upstream("EtienneTho", "musical-timbre-studies", "0a34e76101a192ad0e5945f22193ef9d60c8065a")
"""Thoret et al. (2021): audio stimuli and averaged ratings."""
PASCAL = Upstream("bpascal-fr", "timbre-metric-learning", "c9cfa0c2940dee7e3151785c93a2b9e3b60af5ff")
"""Pascal & Lagrange (2024), CeCILL-B: ratings and precomputed features (pickles)."""
TIIANHK = Upstream("tiianhk", "timbremetrics", "c611b3a6a41872e5037a9e14099d15a70407c124")
"""The timbre benchmark (timbremetrics; no licence file): audio and averaged ratings of the 4
studies the two above lack (its other 17 are byte-identical to theirs); no features."""
UPSTREAM = (THORET, PASCAL, TIIANHK)


@dataclass(frozen=True)
class Dataset:
    """One published listening test: ``n_sounds`` sounds, ``m_subjects`` participants
    (None where not known for certain), and whether it is one of the paper's 17
    (``in_paper``: ratings from Pascal & Lagrange, audio from Thoret et al., published
    features) or one of the benchmark's 4 (audio and ratings from its repository, no
    published features)."""

    name: str
    n_sounds: int
    m_subjects: int | None
    in_paper: bool = True
    raw: str = ""
    """The set name of the study's per-participant file in Thoret et al.'s repository
    (Lakatos 2000 only: ``Comb`` for ``0.Comb.raw.txt``); "" where none was published."""
    raw_matches: bool = True
    """Whether the raw file's mean equals the shipped mean ratings (False for Lakatos2000_Perc,
    whose raw mean correlates 0.40 with its shipped matrix: docs/data.md)."""

    @property
    def ratings_path(self) -> str:
        if self.in_paper:
            return f"{PASCAL.prefix}/data/similarity/{self.name}.txt"
        return f"{TIIANHK.prefix}/timbremetrics/true_dissim/{self.name}_dissimilarity_matrix.txt"

    def feature_path(self, representation: str) -> str:
        """The published pickle of ``representation``; the benchmark's 4 studies have
        none (:class:`~timbre_jax.errors.MissingFeatures`, saying how to extract them)."""
        folder = UPSTREAM_FOLDER[check_representation(representation)]
        if not self.in_paper:
            raise MissingFeatures(
                f"no upstream {representation} features for {self.name}: it is a study of the timbre benchmark, "
                f"whose features nobody published; extract them (`timbre-jax extract --representation "
                f"{representation} --datasets {self.name}`) and use the source \"extracted\" (or \"auto\", "
                "the default)")
        return f"{PASCAL.prefix}/data/{folder}/{self.name}.pkl"

    @property
    def raw_path(self) -> str | None:
        """The per-participant ratings file (:attr:`raw`), or None."""
        if not self.raw:
            return None
        return f"{THORET.prefix}/ext/python/sounds/{self.name}/0.{self.raw}.raw.txt"

    @property
    def audio_paths(self) -> tuple[str, ...]:
        """Audio files, sorted by name: the row order of the rating matrix."""
        folder = "ext/python/sounds" if self.in_paper else "timbremetrics/sounds"
        prefix = f"{(THORET if self.in_paper else TIIANHK).prefix}/{folder}/{self.name}/"
        return tuple(sorted(k for k in SHA256 if k.startswith(prefix) and k.endswith(".aiff")))

    @property
    def sounds(self) -> tuple[str, ...]:
        return tuple(p.rsplit("/", 1)[1][: -len(".aiff")] for p in self.audio_paths)

    @property
    def typical_noise(self) -> float:
        """delta_bar = 0.1 sqrt(m_subjects): the typical rating noise of this study; NaN
        where the number of participants is not known."""
        return float("nan") if self.m_subjects is None else 0.1 * self.m_subjects ** 0.5


# (name, sounds, participants); participants from Table I of Pascal & Lagrange (2024).
_PAPER_STUDIES = (
    Dataset("Grey1977", 16, 22),
    Dataset("Grey1978", 16, 22),
    Dataset("Iverson1993_Whole", 16, 10),
    Dataset("Iverson1993_Onset", 16, 9),
    Dataset("Iverson1993_Remainder", 16, 9),
    Dataset("McAdams1995", 18, 24),
    Dataset("Lakatos2000_Harm", 17, 34, raw="Harm"),
    Dataset("Lakatos2000_Perc", 18, 34, raw="Perc", raw_matches=False),
    Dataset("Lakatos2000_Comb", 20, 34, raw="Comb"),
    Dataset("Barthet2010", 15, 16),
    Dataset("Patil2012_A3", 11, 20),
    Dataset("Patil2012_DX4", 11, 20),
    Dataset("Patil2012_GD4", 11, 20),
    Dataset("Siedenburg2016_e2set1", 14, 24),
    Dataset("Siedenburg2016_e2set2", 14, 24),
    Dataset("Siedenburg2016_e2set3", 14, 24),
    Dataset("Siedenburg2016_e3", 14, 24),
)
# The benchmark's 4 (docs/data.md): none of the benchmark's files gives the number of
# participants, so it is left unknown (None, typical noise NaN) rather than guessed.
_BENCHMARK_STUDIES = (
    Dataset("Saitis2020_e2set1_general", 14, None, in_paper=False),
    Dataset("Vahidi2020", 15, None, in_paper=False),
    Dataset("Zacharakis2014_english", 24, None, in_paper=False),
    Dataset("Zacharakis2014_greek", 24, None, in_paper=False),
)

PAPER: dict[str, Dataset] = {d.name: d for d in _PAPER_STUDIES}
"""The paper's 17 studies, in its order: what every command runs on by default (``all``)."""
BENCHMARK: dict[str, Dataset] = {d.name: d for d in (*_PAPER_STUDIES, *_BENCHMARK_STUDIES)}
"""The timbre benchmark's 21 studies: the paper's 17, then its own 4."""
DATASETS: dict[str, Dataset] = dict(BENCHMARK)
"""Every built-in study (21): a name here is known to every command and refused to ``data add``."""
SELECTIONS: dict[str, dict[str, Dataset]] = {"paper": PAPER, "benchmark": BENCHMARK}
"""The words that select built-in studies (``--datasets paper``, ``--datasets benchmark``)."""


def published_source(representation: str, dataset: str) -> str:
    """The feature source of one (representation, dataset) under ``source="auto"`` (the
    default of the library and the command line): ``upstream`` where the paper published
    the features (one of its 17 studies in one of its 8 representations), else
    ``extracted`` (the benchmark's 4 studies, your own studies and representations)."""
    return "upstream" if representation in N_FEATURES and dataset in PAPER else "extracted"


def check_representation(name: str) -> str:
    if name not in REPRESENTATIONS:
        raise UsageError(f"unknown representation {name!r}; choose from {', '.join(REPRESENTATIONS)}")
    return name


def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None


def parse_list(value: str | None, choices, what: str) -> list[str]:
    """Parse a comma-separated CLI list ('all' or empty = every choice), keeping the given order."""
    if value is None or value in ("", "all"):
        return list(choices)
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in choices]
    if unknown:
        raise UsageError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(choices)}")
    return items


def files(what: str, representations=REPRESENTATIONS, datasets=DATASETS) -> list[str]:
    """Upstream paths of one kind of file: 'ratings' (the mean ratings, then the
    per-participant files of the studies that have one), 'audio' or 'features' (features
    of the paper's studies only: the benchmark's 4 have none)."""
    ds = [get_dataset(d) if isinstance(d, str) else d for d in datasets]
    if what == "ratings":
        return [d.ratings_path for d in ds] + [d.raw_path for d in ds if d.raw_path]
    if what == "audio":
        return [p for d in ds for p in d.audio_paths]
    if what == "features":
        return [d.feature_path(r) for r in representations for d in ds if d.in_paper]
    raise UsageError(f"unknown kind of file {what!r}; choose from ratings, audio, features")
