"""Test fixtures: a private cache fed from the offline mirror of the upstream files.

The mirror sits at ../shared/timbre-data beside the checkout (as on CI).  Tests that need
it skip, with that reason, where it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MIRROR_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "timbre-data"
HAVE_MIRROR = MIRROR_DIR.is_dir()
needs_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason=f"offline mirror {MIRROR_DIR} is absent")


@pytest.fixture(scope="session")
def mirror_url() -> str:
    if not HAVE_MIRROR:
        pytest.skip(f"offline mirror {MIRROR_DIR} is absent")
    return MIRROR_DIR.resolve().as_uri()


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory):
    """Every test runs against a private cache and, when present, the offline mirror."""
    home = tmp_path_factory.mktemp("timbre-jax-home")
    old = {k: os.environ.get(k) for k in ("TIMBRE_JAX_HOME", "TIMBRE_JAX_MIRROR")}
    os.environ["TIMBRE_JAX_HOME"] = str(home)
    if HAVE_MIRROR:
        os.environ["TIMBRE_JAX_MIRROR"] = MIRROR_DIR.resolve().as_uri()
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """An empty cache for tests that watch what gets written."""
    home = tmp_path / "home"
    monkeypatch.setenv("TIMBRE_JAX_HOME", str(home))
    return home
