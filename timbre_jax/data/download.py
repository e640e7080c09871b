"""Fetch the pinned upstream files into the cache, verifying every byte.

A file at ``<owner>/<repo>/<commit>/<path>`` is fetched from ``<mirror>/<owner>/<repo>/
<commit>/<path>``.  The mirror is, in this order: the ``--mirror`` argument,
``$TIMBRE_JAX_MIRROR``, the mirror that last filled the cache (remembered in
``$TIMBRE_JAX_HOME/mirror.txt``), or ``https://raw.githubusercontent.com``.  ``file://``
and ``http://`` URLs work, and so does a bare folder path, so tests and offline machines
point it at a local copy.  Files land in ``$TIMBRE_JAX_HOME/upstream/<relpath>``:

- written to a temporary file beside the target and renamed only once its sha256 matches
  ``registry.SHA256`` (an interrupted or corrupted download leaves nothing behind);
- a re-run skips files whose hash already matches;
- a file the mirror lacks is reported by name and the others go on;
- files with no pinned hash (nine upstream ``strf`` pickles, too large for the offline
  mirror this package was built against) are accepted on first download and their hash is
  recorded beside them (``<file>.sha256``), so ``verify`` still catches later corruption.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from timbre_jax.data.registry import SHA256
from timbre_jax.data.store import atomic_write_bytes, home, sha256_file
from timbre_jax.errors import DownloadError
from timbre_jax.progress import bar

DEFAULT_MIRROR = "https://raw.githubusercontent.com"
MIRROR_FILE = "mirror.txt"
_CHUNK = 1 << 20


class ChecksumError(DownloadError):
    pass


class MissingUpstreamFile(DownloadError):
    pass


class NetworkError(DownloadError):
    pass


class MirrorError(DownloadError):
    """The mirror itself is unusable (a local folder that does not exist)."""


def as_mirror_url(value: str) -> str:
    """A mirror as a URL without a trailing slash.

    URLs (``scheme://...``) are kept; anything else is a folder path, absolute or
    relative to the working directory, turned into its ``file://`` URL (so it keeps
    working after a ``cd``).
    """
    value = value.strip()
    if "://" in value:
        return value.rstrip("/")
    return Path(value).expanduser().resolve().as_uri()


def remembered_mirror() -> str | None:
    """The mirror that last filled the cache (``<home>/mirror.txt``), or None."""
    try:
        return (home() / MIRROR_FILE).read_text().strip() or None
    except OSError:
        return None


def mirror(url: str | None = None) -> str:
    """The mirror to fetch from: ``url``, else ``$TIMBRE_JAX_MIRROR``, else the
    remembered mirror, else :data:`DEFAULT_MIRROR`; see :func:`as_mirror_url`."""
    for candidate in (url, os.environ.get("TIMBRE_JAX_MIRROR"), remembered_mirror()):
        if candidate:
            return as_mirror_url(candidate)
    return DEFAULT_MIRROR


def check_mirror(base: str) -> None:
    """Raise :class:`MirrorError` if ``base`` is a ``file://`` mirror whose folder does
    not exist (every file would otherwise be reported missing, one by one)."""
    parsed = urllib.parse.urlparse(base)
    if parsed.scheme != "file":
        return
    local = parsed.netloc in ("", "localhost")
    folder = Path(urllib.request.url2pathname(parsed.path))
    if not local or not folder.is_dir():
        raise MirrorError(f"mirror {folder if local else base} does not exist; point --mirror / "
                          "TIMBRE_JAX_MIRROR at a local copy of the upstream files (a folder or file:///path)")


def remember_mirror(base: str) -> None:
    """Record ``base`` as the mirror that filled the cache, so later commands use it."""
    current = remembered_mirror()
    if current == base or (current is None and base == DEFAULT_MIRROR):
        return
    atomic_write_bytes(home() / MIRROR_FILE, lambda fh: fh.write(f"{base}\n".encode()))


def local_path(relpath: str) -> Path:
    return home() / "upstream" / relpath


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


def _open(relpath: str, base: str):
    """The response for ``relpath`` at mirror ``base``; raises the errors of :func:`fetch`."""
    url = f"{base}/{urllib.parse.quote(relpath)}"  # some sound names hold '#'
    try:
        return urllib.request.urlopen(url, timeout=60)
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


def _save(relpath: str, response, advance=None) -> None:
    """Stream ``response`` into the cache, keeping it only if its sha256 is the pinned one."""
    path = local_path(relpath)
    digest = hashlib.sha256()

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
    missing and failed files are collected in the report; a network failure or a local
    mirror that does not exist stops early.  A mirror that delivered files is remembered
    (:func:`remember_mirror`)."""
    base = mirror(mirror_url)
    report = FetchReport()
    todo = []
    for rel in relpaths:
        (report.skipped if is_verified(rel) else todo).append(rel)
    if not todo:
        return report
    check_mirror(base)
    sizes = [SHA256[r][1] if r in SHA256 else None for r in todo]
    total = None if None in sizes else sum(sizes)  # unpinned files: size unknown
    with contextlib.ExitStack() as stack:
        advance = None
        for rel in todo:
            try:
                response = _open(rel, base)
            except MissingUpstreamFile:
                report.missing.append(rel)
                continue
            except NetworkError:
                raise
            except DownloadError as e:
                report.failed.append((rel, str(e)))
                continue
            if advance is None:  # the bar appears once the mirror has answered with a file
                advance = stack.enter_context(bar(progress, "fetching", total=total, unit="bytes"))
            try:
                _save(rel, response, advance)
                report.fetched.append(rel)
            except DownloadError as e:
                report.failed.append((rel, str(e)))
    if report.fetched:
        remember_mirror(base)
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
