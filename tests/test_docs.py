"""The documentation's commands and examples run as written.

Convention (docs/development.md, "Commands in the documentation"):

- In README.md and docs/*.md, a fenced ```bash block is a script: every line is run.  In a
  ```console block the lines that start with ``$ `` are commands (with their ``\\``
  continuation lines) and every other line is their output, shown, not checked.
- An HTML comment on the line just above the fence says how the block is run:
  none: in the default suite (fast: the fast blocks together stay under about 90 s on
  2 cores); ``<!-- slow -->``: run to the end under ``pytest -m slow``;
  ``<!-- starts -->``: under ``-m slow``, the block must run for 60 s without failing
  (it may finish sooner; used for runs of minutes to hours); ``<!-- not run -->``: never
  (install lines, commands that need a GPU, a checkpoint or the network).
- Install lines (``pip``, ``python3 -m venv``, venv activation) and the test commands
  themselves (``pytest``, ``ruff``, ``.ci/``) are never run, whatever the block.

Each block runs with bash (``set -e``) in a fresh folder of its own, beside a link to the
shared folder (so ``../shared/studies/...`` and ``../shared/timbre-data`` resolve as
from the checkout) and links to the checkout's top-level files (``docs/``,
``benchmarks/``, ...), with a fresh ``TIMBRE_JAX_HOME`` and the offline mirror in
``TIMBRE_JAX_MIRROR`` (conftest.py); compiled programs are shared between blocks.

docs/api.md runs as a doctest (``>>>`` examples, in one namespace, in file order).
"""

from __future__ import annotations

import argparse
import doctest
import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import HAVE_MIRROR, MIRROR_DIR

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md"))]
MODES = ("fast", "slow", "starts", "not run")
START_SECONDS = 60
SKIPPED_LINE = re.compile(r"^(pip3? |python3? -m (venv|pip|pytest)\b|pytest\b|ruff\b|bash \.ci/"
                          r"|(\.|source) \S*bin/activate)")
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*(slow|starts|not run)\b.*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    mode: str
    commands: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def commands_of(kind: str, lines: list[str]) -> list[str]:
    """The commands of one block's lines (see the module's docstring)."""
    out: list[str] = []
    if kind == "bash":
        logical = []
        for line in lines:
            if logical and logical[-1].endswith("\\"):
                logical[-1] += "\n" + line
            else:
                logical.append(line)
        out = [c for c in logical if c.strip() and not c.lstrip().startswith("#")]
    else:  # console
        for line in lines:
            if out and out[-1].endswith("\\"):
                out[-1] += "\n" + line
            elif line.startswith("$ "):
                out.append(line[2:])
    return [c for c in out if not SKIPPED_LINE.match(c.strip())]


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            if m:  # an unlabelled fence: skip to its end
                i += 1
                while i < len(lines) and not FENCE.match(lines[i]):
                    i += 1
            i += 1
            continue
        kind, start = m.group(1), i
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if kind in ("bash", "console"):
            k = start - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            mark = MARK.match(lines[k]) if k >= 0 else None
            mode = mark.group(1) if mark else "fast"
            commands = tuple(commands_of(kind, lines[start + 1:j]))
            if commands:
                found.append(Block(path, start + 1, mode, commands))
        i = j + 1
    return found


ALL = [b for p in DOCS for b in blocks(p)]


def test_docs_have_commands():
    """The convention is in use: the README's first result and own study run by default."""
    readme = [b for b in ALL if b.path.name == "README.md"]
    assert any("timbre-jax learn" in c for b in readme if b.mode == "fast" for c in b.commands)
    assert any("timbre-jax data add" in c for b in readme if b.mode == "fast" for c in b.commands)
    assert {b.mode for b in ALL} <= set(MODES)


def test_every_command_parses():
    """Cheap check of every block, whatever its mark: each `timbre-jax` command names
    subcommands and options the program's argument parser has, so a renamed option fails
    here first, even in a block that never runs."""
    from timbre_jax.cli.parser import build_parser

    checked = 0
    for b in ALL:
        for c in b.commands:
            for part in re.split(r"&&|;|\|", c.replace("\\\n", " ")):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:  # a split inside quotes (python -c "a; b"): not a timbre-jax command
                    continue
                while words and "=" in words[0] and not words[0].startswith("-"):
                    words = words[1:]  # VAR=value prefixes
                if len(words) < 2 or words[0] != "timbre-jax":
                    continue
                parser, rest = build_parser(), words[1:]
                while True:  # down the subcommands (`data fetch`)
                    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
                    names = [w for w in rest if not w.startswith("-")]
                    if not subs or not names or "--version" in rest or "--help" in rest:
                        break
                    assert names[0] in subs[0].choices, f"{b.id}: `{' '.join(words)}`: no subcommand {names[0]!r}"
                    parser, rest = subs[0].choices[names[0]], rest[rest.index(names[0]) + 1:]
                known = {o for a in parser._actions for o in a.option_strings}
                for w in rest:
                    if w.startswith("--"):
                        assert w.split("=")[0] in known, f"{b.id}: `{' '.join(words)}`: {w} is not an option"
                checked += 1
    assert checked > 20


@pytest.fixture(scope="session")
def xla_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("docs-xla-cache")


def workdir(tmp_path: Path) -> Path:
    """A folder laid out like the checkout beside ../shared (see the module's docstring)."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    (tmp_path / "shared").symlink_to(MIRROR_DIR.parent.resolve(), target_is_directory=True)
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name in ("build",) or entry.name.endswith(".egg-info"):
            continue
        (cwd / entry.name).symlink_to(entry)
    return cwd


def environment(tmp_path: Path, xla_cache: Path) -> dict:
    env = dict(os.environ, TIMBRE_JAX_HOME=str(tmp_path / "home"), JAX_COMPILATION_CACHE_DIR=str(xla_cache))
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def run_block(block: Block, tmp_path: Path, xla_cache: Path):
    if not HAVE_MIRROR:
        pytest.skip(f"offline mirror {MIRROR_DIR} is absent")
    cwd, env = workdir(tmp_path), environment(tmp_path, xla_cache)
    script = "set -euo pipefail\n" + "\n".join(block.commands) + "\n"
    proc = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=START_SECONDS if block.mode == "starts" else None)
    except subprocess.TimeoutExpired:  # still running after START_SECONDS: it started correctly
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        return
    assert proc.returncode == 0, (f"{block.id} failed (exit {proc.returncode}):\n{script}\n"
                                  f"{out[-3000:]}\n{err[-3000:]}")


def params(modes):
    return [pytest.param(b, id=b.id) for b in ALL if b.mode in modes]


@pytest.mark.parametrize("block", params({"fast"}))
def test_fast_commands(block, tmp_path, xla_cache):
    run_block(block, tmp_path, xla_cache)


@pytest.mark.slow
@pytest.mark.parametrize("block", params({"slow", "starts"}))
def test_long_commands(block, tmp_path, xla_cache):
    run_block(block, tmp_path, xla_cache)


def test_api_examples(tmp_path, monkeypatch):
    """docs/api.md's examples, as a doctest, in a fresh cache fed from the mirror."""
    if not HAVE_MIRROR:
        pytest.skip(f"offline mirror {MIRROR_DIR} is absent")
    monkeypatch.setenv("TIMBRE_JAX_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False, report=True,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of docs/api.md failed (above)"
