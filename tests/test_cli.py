"""The command line: interrupts, resuming `table`, output checks before any fit, options."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import cli, datasets, registry, table
from timbre_jax.learn import MetricResult

ROOT = Path(__file__).resolve().parents[1]

# The longest compilation of a first exact fit (seconds on a CPU): JAX_LOG_COMPILES logs
# its MLIR conversion just before XLA starts compiling it.
COMPILE_STARTS = "Finished jaxpr to MLIR module conversion jit(_active_loop)"
COMPILE_ENDS = "Finished XLA compilation of jit(_active_loop)"


def _interrupt_in_compile(out: Path, delay: float) -> tuple[int, str, bool]:
    """Run `table` as a program, send SIGINT ``delay`` s after XLA starts compiling;
    (exit status, stderr, whether the signal went out before that compilation ended)."""
    env = dict(os.environ, JAX_LOG_COMPILES="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.Popen([sys.executable, "-m", "timbre_jax.cli", "--quiet", "table", "--representations",
                             "encodec", "--datasets", "Grey1977", "--solver", "exact", "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    state = {"sent_in_compile": False}

    def watch():
        for line in proc.stderr:
            lines.append(line)
            if COMPILE_STARTS in line:
                time.sleep(delay)
                state["sent_in_compile"] = not any(COMPILE_ENDS in x for x in lines)
                proc.send_signal(signal.SIGINT)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    return rc, "".join(lines), state["sent_in_compile"]


@needs_mirror
def test_ctrl_c_during_the_first_compilation_exits_130_and_leaves_no_file(tmp_path):
    datasets.load("Grey1977", "encodec")  # fetched here, so the child starts fitting at once
    landed = 0
    for attempt, delay in enumerate((0.3, 0.05, 0.0)):
        out = tmp_path / f"out{attempt}"
        rc, err, in_compile = _interrupt_in_compile(out, delay)
        tail = "\n".join(x[:160] for x in err.splitlines()[-4:])
        assert rc == 130, f"exit status {rc} (-11: SIGSEGV), SIGINT {delay} s into XLA compilation; stderr ends\n{tail}"
        assert "timbre-jax: interrupted" in err
        left = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
        assert left == [], f"an interrupted first fit left {left}"
        landed += in_compile
        if landed:
            break
    assert landed, f"SIGINT never reached the process while XLA compiled ({COMPILE_STARTS!r} seen too late)"
