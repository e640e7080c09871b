"""Fetch the pinned upstream files into the cache, verifying every byte.

A file at ``<owner>/<repo>/<commit>/<path>`` is fetched from ``<mirror>/<owner>/<repo>/
<commit>/<path>``; the default mirror is ``https://raw.githubusercontent.com``, overridable
with ``--mirror`` or ``$TIMBRE_JAX_MIRROR`` (``file://`` and ``http://`` URLs work, so
tests and offline machines point it at a local copy).  Files land in
``$TIMBRE_JAX_HOME/upstream/<relpath>``:

- written to a temporary file beside the target and renamed only once its sha256 matches
  ``checksums.SHA256`` (an interrupted or corrupted download leaves nothing behind);
- a re-run skips files whose hash already matches;
- a file the mirror lacks is reported by name and the others go on;
- files with no pinned hash (nine upstream ``strf`` pickles, too large for the offline
  mirror this package was built against) are accepted on first download and their hash is
  recorded beside them (``<file>.sha256``), so ``verify`` still catches later corruption.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .checksums import SHA256
from .store import atomic_write_bytes, home

DEFAULT_MIRROR = "https://raw.githubusercontent.com"
_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be fetched or failed its checksum."""


class ChecksumError(DownloadError):
    pass


class MissingUpstreamFile(DownloadError):
    pass


class NetworkError(DownloadError):
    pass


def mirror(url: str | None = None) -> str:
    return (url or os.environ.get("TIMBRE_JAX_MIRROR") or DEFAULT_MIRROR).rstrip("/")


def local_path(relpath: str) -> Path:
    return home() / "upstream" / relpath


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def expected_sha256(relpath: str) -> str | None:
    pinned = SHA256.get(relpath)
    if pinned:
        return pinned[0]
    sidecar = local_path(relpath).with_name(local_path(relpath).name + ".sha256")
    return sidecar.read_text().strip() if sidecar.exists() else None


def is_verified(relpath: str) -> bool:
    path = local_path(relpath)
    want = expected_sha256(relpath)
    return path.exists() and want is not None and sha256_file(path) == want


def _download(relpath: str, base: str, advance=None) -> None:
    url = f"{base}/{urllib.parse.quote(relpath)}"  # some sound names hold '#'

    path = local_path(relpath)
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise MissingUpstreamFile(f"{relpath}: not found at {base} (HTTP 404)") from None
        raise DownloadError(f"{relpath}: HTTP {e.code} from {base}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, FileNotFoundError):
            raise MissingUpstreamFile(f"{relpath}: not present in mirror {base}") from None
        raise NetworkError(
            f"cannot reach {base} ({e.reason}); check your internet connection, or point "
            "--mirror / TIMBRE_JAX_MIRROR at a local copy of the upstream files"
        ) from None

    def write(fh):
        with response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                fh.write(chunk)
                if advance:
                    advance(len(chunk))
        want = SHA256.get(relpath, (None,))[0]
        if want is not None and digest.hexdigest() != want:
            # Raising inside the atomic write discards the temporary file.
            raise ChecksumError(
                f"{relpath}: sha256 {digest.hexdigest()} does not match the pinned {want}; nothing was kept"
            )

    atomic_write_bytes(path, write)
    if relpath not in SHA256:
        sidecar = path.with_name(path.name + ".sha256")
        atomic_write_bytes(sidecar, lambda fh: fh.write(digest.hexdigest().encode()))


@dataclass
class FetchReport:
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.failed


def fetch(relpaths, *, mirror_url: str | None = None, progress: bool = True) -> FetchReport:
    """Fetch every file not yet verified in the cache.  Never raises for a single file:
    missing and failed files are collected in the report; a network failure stops early."""
    from .progress import bar

    base = mirror(mirror_url)
    report = FetchReport()
    todo = []
    for rel in relpaths:
        (report.skipped if is_verified(rel) else todo).append(rel)
    total = sum(SHA256.get(r, (None, 0))[1] for r in todo)
    with bar(progress and bool(todo), "fetching", total=total, unit="bytes") as advance:
        for rel in todo:
            try:
                _download(rel, base, advance)
                report.fetched.append(rel)
            except MissingUpstreamFile:
                report.missing.append(rel)
            except NetworkError:
                raise
            except DownloadError as e:
                report.failed.append((rel, str(e)))
    return report


def ensure(relpaths, *, mirror_url: str | None = None, progress: bool = True) -> list[Path]:
    """Local paths of ``relpaths``, fetching what is missing; raises if any cannot be had."""
    relpaths = list(relpaths)
    report = fetch(relpaths, mirror_url=mirror_url, progress=progress)
    if report.failed:
        raise DownloadError("; ".join(m for _, m in report.failed))
    if report.missing:
        raise MissingUpstreamFile("; ".join(f"missing upstream: {r}" for r in report.missing))
    return [local_path(r) for r in relpaths]


def verify(relpaths) -> tuple[list[str], list[str], list[str]]:
    """Check cached files against their hashes: (good, corrupted, absent)."""
    good, bad, absent = [], [], []
    for rel in relpaths:
        if not local_path(rel).exists():
            absent.append(rel)
        elif is_verified(rel):
            good.append(rel)
        else:
            bad.append(rel)
    return good, bad, absent
