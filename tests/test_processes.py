"""Sweeps shared by several processes (jax.distributed): two local CPU processes, joined
through Gloo, give the numbers of one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax.analyses import base, null, robustness
from timbre_jax.errors import UsageError
from timbre_jax.fit import processes
from timbre_jax.solvers import Exact

NAMES = ["Grey1977", "Grey1978", "McAdams1995"]

# Each process builds the same groups, solves its chunks (one per dataset on the CPU)
# and prints what every process gets after the exchange.
SCRIPT = """
import json, numpy as np
from timbre_jax.analyses import base, null, robustness
from timbre_jax.fit import processes
from timbre_jax.solvers import Exact
assert processes.initialize_from_environment()
sets = base.load(["cochlea"], {names!r}, "upstream").sets["cochlea"]
rows, _ = robustness.noise_sweep(sets, Exact(), n_levels=3, realizations=2, progress=False)
nrows, _ = null.relabelled_fits(sets, Exact(), K=8, progress=False)
print(json.dumps(dict(process=processes.index(), count=processes.count(),
                      robustness=[[r.ev_human, r.ev_degraded, r.iterations] for r in rows],
                      null=[[x[3], x[4]] for x in nrows])))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_mirror
def test_two_processes_give_the_numbers_of_one():
    sets = base.load(["cochlea"], NAMES, "upstream").sets["cochlea"]
    rows, _ = robustness.noise_sweep(sets, Exact(), n_levels=3, realizations=2, progress=False)
    nrows, _ = null.relabelled_fits(sets, Exact(), K=8, progress=False)
    coordinator = f"127.0.0.1:{_free_port()}"
    env = dict(os.environ, JAX_PLATFORMS="cpu", TIMBRE_JAX_COORDINATOR=coordinator, TIMBRE_JAX_PROCESSES="2")
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT.format(names=NAMES)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(env, TIMBRE_JAX_PROCESS_ID=str(i)))
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    got = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert [(g["process"], g["count"]) for g in got] == [(0, 2), (1, 2)]
    one_rob = np.array([[r.ev_human, r.ev_degraded, r.iterations] for r in rows])
    one_null = np.array([[x[3], x[4]] for x in nrows])
    for g in got:  # each process has every dataset's fits, its own and the other's
        np.testing.assert_allclose(np.array(g["robustness"]), one_rob, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.array(g["null"]), one_null, rtol=0, atol=1e-12)
    assert got[0]["null"] == got[1]["null"] and got[0]["robustness"] == got[1]["robustness"]


def test_one_process_owns_every_chunk():
    assert processes.count() == 1 and all(processes.owns(c) for c in range(5))


def test_a_partial_environment_is_refused(monkeypatch):
    monkeypatch.setenv("TIMBRE_JAX_COORDINATOR", "127.0.0.1:1")
    monkeypatch.delenv("TIMBRE_JAX_PROCESSES", raising=False)
    monkeypatch.delenv("TIMBRE_JAX_PROCESS_ID", raising=False)
    with pytest.raises(UsageError, match="missing TIMBRE_JAX_PROCESSES, TIMBRE_JAX_PROCESS_ID"):
        processes.initialize_from_environment()


@needs_mirror
def test_two_command_line_processes_write_one_folder(tmp_path):
    """`timbre-jax null` started twice, the same command with the TIMBRE_JAX_* variables:
    each saves its own chunks in the folder, process 0 writes the files with every
    dataset's fits, and they equal one process's."""
    coordinator = f"127.0.0.1:{_free_port()}"
    env = dict(os.environ, JAX_PLATFORMS="cpu", TIMBRE_JAX_COORDINATOR=coordinator, TIMBRE_JAX_PROCESSES="2")
    command = [sys.executable, "-m", "timbre_jax.cli", "--quiet", "null", "--solver", "exact", "--representations",
               "cochlea", "--datasets", ",".join(NAMES), "--permutations", "4", "--out"]
    procs = [subprocess.Popen(command + [str(tmp_path / "two")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(env, TIMBRE_JAX_PROCESS_ID=str(i)))
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert "wrote" in outs[0][0] and "wrote" not in outs[1][0]
    one = subprocess.run(command + [str(tmp_path / "one")], capture_output=True, text=True,
                         env={k: v for k, v in env.items() if not k.startswith("TIMBRE_JAX_PRO")
                              and k != "TIMBRE_JAX_COORDINATOR"})
    assert one.returncode == 0, one.stderr[-2000:]
    rows = (tmp_path / "two" / "null.csv").read_text().splitlines()
    assert len(rows) == 1 + len(NAMES) * 5 and {r.split(",")[1] for r in rows[1:]} == set(NAMES)
    assert rows == (tmp_path / "one" / "null.csv").read_text().splitlines()
