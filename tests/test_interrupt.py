"""Ctrl-C: the main thread stops within a fraction of a second even while a compiled call
runs, finished chunks are kept, a group of many problems is saved in pieces, and the
pieces give the numbers of the uncut group to the last bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax.core.pearson import pair_differences
from timbre_jax.data import datasets
from timbre_jax.errors import FitError
from timbre_jax.fit import interruptible, sweep
from timbre_jax.solvers import Exact, Lbfgsb, Solver
from timbre_jax.solvers.batch import Group, Results, cut, joined, pack, piece, unpack
from timbre_jax.solvers.solver import unregister

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the worker thread

def test_a_call_returns_its_value_and_raises_its_own_error():
    assert interruptible.call(divmod, 7, 2) == (3, 1)
    assert interruptible.call(int, "ff", base=16) == 255
    error = FitError("problem 3: no rated pair")

    def failing():
        raise error

    with pytest.raises(FitError) as caught:
        interruptible.call(failing)
    assert caught.value is error  # the very exception: its type, message and attributes
    with pytest.raises(KeyboardInterrupt):  # even one raised inside the call
        interruptible.call(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))


def _blocked_program(release: threading.Event):
    """A compiled XLA call that lasts until ``release`` is set (its host callback waits
    for it): a chunk of fits that the test can end once it is done with it."""

    def wait(x):
        release.wait(30)
        return np.asarray(x)

    @jax.jit
    def program(x):
        return jax.pure_callback(wait, jax.ShapeDtypeStruct(x.shape, x.dtype), x) + 1.0

    return lambda: np.asarray(program(jnp.zeros(3)))


@pytest.mark.skipif(signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                    reason="SIGINT is not Python's KeyboardInterrupt here")
def test_ctrl_c_reaches_the_main_thread_while_a_compiled_call_runs():
    release = threading.Event()
    blocked = _blocked_program(release)
    sent = []

    def ctrl_c():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.3, ctrl_c)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            interruptible.call(blocked)
        waited = time.monotonic() - sent[0]
        assert not release.is_set()  # the compiled call was still running
        assert waited < 1.0, f"KeyboardInterrupt {waited:.2f} s after SIGINT"
    finally:
        timer.cancel()
        release.set()  # let the worker's call end
    # Once released, the same program runs to its end through the worker.
    np.testing.assert_array_equal(interruptible.call(blocked), np.ones(3))


# ----------------------------------------------------------------------------- pieces of a group

def test_a_group_is_cut_into_even_pieces_that_cover_it_once():
    assert cut(6, 8) == [(0, 6)] and cut(101, None) == [(0, 101)]
    assert cut(17, 8) == [(0, 6), (6, 12), (12, 17)]
    for K in range(1, 120):
        for most in (1, 3, 8):
            pieces = cut(K, most)
            assert pieces == cut(K, most)  # deterministic
            assert [a for a, _ in pieces] == [0] + [b for _, b in pieces[:-1]] and pieces[-1][1] == K
            sizes = {b - a for a, b in pieces[:-1]}
            assert len(sizes) <= 1 and max(b - a for a, b in pieces) <= most
            assert pieces[-1][1] - pieces[-1][0] <= max(sizes, default=K)
            assert len(pieces) == -(-K // most)  # the fewest pieces of at most ``most``


def test_the_last_piece_is_padded_with_its_own_first_problem():
    rng = np.random.default_rng(0)
    g = Group(rng.random((6, 3)), rng.random((5, 6)), np.ones((5, 6)), "x", offset=2)
    p = piece(g, 3, 5, 4)
    assert p.K == 4 and p.offset == 5 and p.name == "x" and p.D is g.D
    np.testing.assert_array_equal(p.ratings, g.ratings[[3, 4, 3, 3]])


def _synthetic(K: int, l: int = 9, n: int = 5, seed: int = 0) -> Group:
    """K noisy versions of one ratings vector on l sounds with n features."""
    rng = np.random.default_rng(seed)
    F = rng.random((l, n))
    D = np.asarray(pair_differences(F))
    truth = D @ rng.uniform(0.2, 1.0, n)
    ratings = truth + 0.3 * rng.standard_normal((K, len(truth)))
    return Group(D, ratings, np.ones_like(ratings), f"synthetic{seed}")


def test_the_chunks_on_the_cpu_cut_only_groups_of_many_problems(monkeypatch):
    groups = [_synthetic(3, seed=1), _synthetic(20, seed=2), _synthetic(2, seed=3), _synthetic(4, seed=4)]
    solver = Lbfgsb()
    assert solver.problems_per_chunk(*groups[1].D.shape) == 8
    plan = [[(p.group, p.start, p.stop, p.size) for p in chunk] for chunk in sweep.plan_chunks(groups, solver)]
    assert plan == [[(0, 0, 3, 3)], [(1, 0, 7, 7)], [(1, 7, 14, 7)], [(1, 14, 20, 7)], [(2, 0, 2, 2)],
                    [(3, 0, 4, 4)]]
    grouped = sweep.plan_chunks(groups, solver, chunk_groups=2)
    assert [[(p.group, p.start) for p in chunk] for chunk in grouped] == [[(1, 0)], [(1, 7)], [(1, 14)],
                                                                          [(0, 0), (2, 0)], [(3, 0)]]
    # the exact solver's fits take milliseconds: whole groups; in lockstep: whole groups too
    assert all(len(c) == 1 and c[0].K == groups[c[0].group].K for c in sweep.plan_chunks(groups, Exact()))
    monkeypatch.setattr(sweep, "default_lockstep", lambda: True)
    assert all(p.K == groups[p.group].K for c in sweep.plan_chunks(groups, solver) for p in c)


def test_a_group_solved_in_pieces_gives_the_uncut_numbers_to_the_last_bit(tmp_path):
    """On the CPU every problem is solved alone (lax.map): pieces, their padding and the
    seeds of random starts (counted from the piece's offset) change nothing, and the
    distances, one matrix product whose rounding depends on its rows, are computed again
    over the whole group.  (Extra starts too: checked on Table I's data while writing
    this; two more compilations here.)"""
    group = _synthetic(11, seed=5)
    solver = Lbfgsb(maxiter=60, init="random")
    assert len(sweep.plan_chunks([group], solver)) == 2  # two pieces of 6, the last padded
    uncut = solver.solve([group])[0]
    folder = tmp_path / "chunks"
    (pieces,), read_back = sweep.solve([group], solver, directory=folder, progress=False)
    assert read_back == 0 and len(list(folder.glob("chunk-*.npz"))) == 2
    (again,), read_back = sweep.solve([group], solver, directory=folder, progress=False)
    assert read_back == 11
    for f in fields(Results):
        np.testing.assert_array_equal(getattr(pieces, f.name), getattr(uncut, f.name), err_msg=f.name)
        np.testing.assert_array_equal(getattr(again, f.name), getattr(uncut, f.name), err_msg=f.name)


def test_joined_pieces_keep_the_group_order_and_a_later_start_its_own_distances():
    g = _synthetic(5, seed=7)
    p = g.D.shape[0]
    rs = [Results(np.full((k, 5), float(i + 1)), np.full((k, p), -1.0), np.arange(k) + 10.0 * i, np.zeros(k, int),
                  np.zeros(k, int), np.array(["ok"] * k, dtype=object), np.ones(k, bool), np.zeros(k, bool),
                  start=np.array([0, 1, 0][:k])) for i, k in enumerate((3, 2))]
    whole = joined(g, rs)
    np.testing.assert_array_equal(whole.pearson, [0, 1, 2, 10, 11])
    np.testing.assert_array_equal(whole.start, [0, 1, 0, 0, 1])
    row = g.D.sum(axis=1)
    np.testing.assert_array_equal(whole.distances, [row, -np.ones(p), row, row / 4, -np.ones(p)])
    assert joined(g, rs[:1]) is rs[0]


@dataclass(frozen=True)
class _Numbered(Solver):
    """A solver whose "fit" of a problem is its first rating (no compilation): where each
    fit lands shows, and two problems per chunk."""

    name = "numbered-test"
    Status = Exact.Status

    def problems_per_chunk(self, p, n):
        return 2

    def solve(self, batch):
        groups = list(batch)
        D, s, _, _ = pack(groups, max(g.D.shape[0] for g in groups))
        G, K, n = len(groups), s.shape[1], D.shape[2]
        return unpack(groups, np.ones((G, K, n)), s[:, :, 0], np.zeros((G, K), int), np.zeros((G, K), int),
                      self.Status)


class _Shared(Exception):
    pass


@pytest.fixture
def numbered():
    yield _Numbered()
    unregister(_Numbered.name)


def test_pieces_solved_by_several_processes_come_back_in_place(numbered, monkeypatch):
    groups = [_synthetic(5, seed=8), _synthetic(1, seed=9), _synthetic(4, seed=10)]
    alone, _ = sweep.solve(groups, numbered, progress=False)
    for g, r in zip(groups, alone):
        np.testing.assert_array_equal(r.pearson, g.ratings[:, 0])  # 5 problems in 3 pieces, put back in order
    shares = []  # what each of two processes solved: None for the other's parts

    def recorded(parts, found, Status):
        assert [g.K for g in parts] == [2, 2, 1, 1, 2, 2]  # the pieces' own problems, unpadded
        shares.append(found)
        raise _Shared

    monkeypatch.setattr(sweep.processes, "share", recorded)
    for me in (0, 1):
        monkeypatch.setattr(sweep.processes, "owns", lambda c, me=me: c % 2 == me)
        with pytest.raises(_Shared):
            sweep.solve(groups, numbered, progress=False)
    assert all((a is None) != (b is None) for a, b in zip(*shares))  # every part solved once
    every = [a if a is not None else b for a, b in zip(*shares)]
    monkeypatch.setattr(sweep.processes, "share", lambda parts, found, Status: every)
    shared, _ = sweep.solve(groups, numbered, progress=False)
    for a, b in zip(alone, shared):
        for f in fields(Results):
            np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


# ----------------------------------------------------------------------------- the command line

def _program_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))


NULL = ["null", "--solver", "lbfgsb", "--representations", "encodec", "--datasets", "Grey1977", "--permutations",
        "47", "--quiet"]  # 48 fits: 6 pieces of 8


def _null(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "timbre_jax.cli", *NULL, "--out", str(out)], env=_program_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _saved(out: Path) -> dict[str, int]:
    """The chunk files under ``out`` and when each was written."""
    return {p.name: p.stat().st_mtime_ns for p in (out / "chunks").rglob("*.npz")}


@needs_mirror
def test_ctrl_c_mid_dataset_exits_130_within_2_s_and_the_rerun_resumes(tmp_path):
    datasets.load("Grey1977", "encodec")  # fetched here: the child starts fitting at once
    part = tmp_path / "part"
    proc = _null(part)
    try:
        deadline = time.monotonic() + 240  # the first run compiles the fit (seconds to a minute)
        while not _saved(part) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before a chunk was saved: {proc.communicate()[1][-2000:]}"
        assert _saved(part), "no chunk saved in 240 s"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert rc == 130, f"exit status {rc}; stderr ends {err[-2000:]}"
    assert stopped <= 2.0, f"{stopped:.2f} s from SIGINT to exit"
    kept = _saved(part)
    assert 1 <= len(kept) < 6, f"{len(kept)} of 6 chunks saved: not interrupted mid-dataset"
    assert f"saved in {part / 'chunks'}" in err and "run the same command again" in err
    # only whole files: every chunk reads back, no temporary file, no result yet
    for p in (part / "chunks").rglob("*.npz"):
        with np.load(p) as z:
            assert z["0_pearson"].shape == (8,)  # a piece of 8 of the 48 problems
    left = {p.relative_to(part).as_posix() for p in part.rglob("*") if p.is_file() and p.suffix != ".npz"}
    assert left <= {"run.json"}, left

    # The same command again: the saved chunks are read back, not solved again (rewritten).
    rerun = _null(part)
    assert rerun.wait(timeout=240) == 0, rerun.stderr.read()[-2000:]
    after = _saved(part)
    assert len(after) == 6 and all(after[name] == when for name, when in kept.items())
    # ... and it ends with the files of an uninterrupted run.
    full = tmp_path / "full"
    whole = _null(full)
    assert whole.wait(timeout=240) == 0, whole.stderr.read()[-2000:]
    assert set(_saved(full)) == set(after)
    for name in ("null.csv", "summary.csv"):
        assert (part / name).read_bytes() == (full / name).read_bytes(), name
