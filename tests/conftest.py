"""Test fixtures: a private cache fed from the offline mirror of the upstream files.

The mirror sits at ../shared/timbre-data beside the checkout (as on CI).  Tests that need
it skip, with that reason, where it is absent.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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


SR_FILE = 44100  # the upstream stimuli's sample rate


def write_tone(path: Path, freq: float, seconds: float = 0.25, amp: float = 0.3) -> None:
    """A Hann-windowed sine as 16-bit AIFF at 44.1 kHz, as the upstream stimuli are stored."""
    sf = pytest.importorskip("soundfile")
    t = np.arange(int(seconds * SR_FILE)) / SR_FILE
    x = amp * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, SR_FILE, format="AIFF", subtype="PCM_16")


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """Synthetic stimuli for the registry's datasets, served by a patched downloader, with
    seeded symmetric ratings, in an empty cache.  ``fake_data(dataset)`` writes one
    dataset's tones (sound i at 220 Hz * 2**(i/4), shifted per dataset so that no two
    datasets share audio) and returns their folder, also ``fake_data.root``."""
    from timbre_jax.data import datasets, download
    from timbre_jax.data.registry import DATASETS

    monkeypatch.setenv("TIMBRE_JAX_HOME", str(tmp_path / "home"))
    root = tmp_path / "audio"

    def make(dataset):
        shift = 2 ** (list(DATASETS).index(dataset) / 96)
        for i, rel in enumerate(DATASETS[dataset].audio_paths):
            write_tone(root / rel, 220.0 * 2 ** (i / 4) * shift)
        return root

    def ensure(relpaths, **kwargs):
        paths = [root / r for r in relpaths]
        for p in paths:
            assert p.exists(), p
        return paths

    def load_ratings(dataset, **kwargs):
        l = DATASETS[dataset].n_sounds
        r = np.random.default_rng(l).uniform(size=(l, l))
        r = (r + r.T) / 2
        np.fill_diagonal(r, np.nan)
        return r

    monkeypatch.setattr(download, "ensure", ensure)
    monkeypatch.setattr(datasets, "load_ratings", load_ratings)
    make.root = root
    return make


FIGURE_FAMILIES = ("robustness", "null", "crossval", "leaderboard", "transfer", "weights", "reliability", "raters")


@pytest.fixture
def captured(monkeypatch):
    """The figures handed to save_figure (still saved), in call order: what the figure tests read."""
    from timbre_jax.plots import style  # lazy: only the figure tests need the plots layer

    figs = []
    save = style.save_figure

    def spy(fig, path):
        figs.append(fig)
        return save(fig, path)

    for family in FIGURE_FAMILIES:  # each figure module imports save_figure by name
        monkeypatch.setattr(importlib.import_module(f"timbre_jax.plots.{family}"), "save_figure", spy)
    return figs


def run_on_host_devices(script: str, device_counts) -> list[dict]:
    """``python -c script`` once per host device count, the processes side by side (each
    spends most of its time compiling); the JSON each prints last.

    Every process gets the same size of XLA's CPU thread pool, which is the promise's
    condition (README): XLA sizes it max(cores, device count), cores read from ``NPROC``
    where set, and how it splits a long dot product follows that size."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", NPROC=str(max(device_counts)))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(env, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}"))
             for n in device_counts]
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        assert proc.returncode == 0, stderr[-2000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    return outs
