"""The 17 timbre datasets, the 8 representations, and where upstream keeps their files.

Everything here is static metadata: names, sizes, the number of participants of each
study (Table I of Pascal & Lagrange 2024, used for the typical rating noise
``0.1 * sqrt(m_subjects)``), the pinned upstream commits and the relative paths of every
file.  :data:`SHA256` holds the hash and size of each file, read from the package's data
file ``checksums.csv`` (generated once from the offline mirror of the pinned upstream
commits; keys ``<owner>/<repo>/<commit>/<path>``).  Nine ``strf`` pickles were too large
for that mirror and could not be hashed: the downloader fetches them unpinned and records
their hash on first download (trust on first use), see :func:`~timbre_jax.data.download.fetch`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from timbre_jax.errors import UsageError


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
UPSTREAM = (THORET, PASCAL)


@dataclass(frozen=True)
class Dataset:
    name: str
    n_sounds: int
    m_subjects: int

    @property
    def ratings_path(self) -> str:
        return f"{PASCAL.prefix}/data/similarity/{self.name}.txt"

    def feature_path(self, representation: str) -> str:
        return f"{PASCAL.prefix}/data/{UPSTREAM_FOLDER[check_representation(representation)]}/{self.name}.pkl"

    @property
    def audio_paths(self) -> tuple[str, ...]:
        """Audio files, sorted by name: the row order of the rating matrix."""
        prefix = f"{THORET.prefix}/ext/python/sounds/{self.name}/"
        return tuple(sorted(k for k in SHA256 if k.startswith(prefix) and k.endswith(".aiff")))

    @property
    def sounds(self) -> tuple[str, ...]:
        return tuple(p.rsplit("/", 1)[1][: -len(".aiff")] for p in self.audio_paths)

    @property
    def typical_noise(self) -> float:
        """delta_bar = 0.1 sqrt(m_subjects): the typical rating noise of this study."""
        return 0.1 * self.m_subjects ** 0.5


# (name, sounds, participants); participants from Table I of Pascal & Lagrange (2024).
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("Grey1977", 16, 22),
        Dataset("Grey1978", 16, 22),
        Dataset("Iverson1993_Whole", 16, 10),
        Dataset("Iverson1993_Onset", 16, 9),
        Dataset("Iverson1993_Remainder", 16, 9),
        Dataset("McAdams1995", 18, 24),
        Dataset("Lakatos2000_Harm", 17, 34),
        Dataset("Lakatos2000_Perc", 18, 34),
        Dataset("Lakatos2000_Comb", 20, 34),
        Dataset("Barthet2010", 15, 16),
        Dataset("Patil2012_A3", 11, 20),
        Dataset("Patil2012_DX4", 11, 20),
        Dataset("Patil2012_GD4", 11, 20),
        Dataset("Siedenburg2016_e2set1", 14, 24),
        Dataset("Siedenburg2016_e2set2", 14, 24),
        Dataset("Siedenburg2016_e2set3", 14, 24),
        Dataset("Siedenburg2016_e3", 14, 24),
    )
}


def published_source(representation: str, dataset: str) -> str:
    """The feature source of one (representation, dataset) under ``source="auto"`` (the
    default of the library and the command line): ``upstream`` where the paper published
    the features (a built-in dataset in one of its 8 representations), else ``extracted``
    (your own studies and representations)."""
    return "upstream" if representation in N_FEATURES and dataset in DATASETS else "extracted"


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
    """Upstream paths of one kind of file: 'ratings', 'audio' or 'features'."""
    ds = [get_dataset(d) if isinstance(d, str) else d for d in datasets]
    if what == "ratings":
        return [d.ratings_path for d in ds]
    if what == "audio":
        return [p for d in ds for p in d.audio_paths]
    if what == "features":
        return [d.feature_path(r) for r in representations for d in ds]
    raise UsageError(f"unknown kind of file {what!r}; choose from ratings, audio, features")
