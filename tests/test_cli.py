"""The command line: interrupts, resuming `table`, output checks before any fit, options."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import timbre_jax
from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import table
from timbre_jax.data import datasets, registry, store
from timbre_jax.fit.learn import MetricResult
from timbre_jax.solvers import Exact, Lbfgsb

ROOT = Path(__file__).resolve().parents[1]

# The longest compilation of a first L-BFGS-B fit (seconds on a CPU): JAX_LOG_COMPILES
# logs its MLIR conversion just before XLA starts compiling it.
COMPILE_STARTS = "Finished jaxpr to MLIR module conversion jit(solve_padded)"
COMPILE_ENDS = "Finished XLA compilation of jit(solve_padded)"


def _program_env(**extra) -> dict:
    """The environment of a ``timbre_jax.cli`` child run from this checkout."""
    return dict(os.environ, **extra,
                PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))


# Run inside the child: when JAX logs the start of that compilation, a timer thread of the
# same process sends it SIGINT ``delay`` s later.  Sent from inside, the signal cannot come
# late because the test's own process waited for a busy core.
_CHILD = """
import logging, os, runpy, signal, sys, threading
delay = float(sys.argv.pop(1))
def send():
    print("test: SIGINT sent", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGINT)
class Arm(logging.Handler):
    def emit(self, record):
        if {starts!r} in record.getMessage():
            threading.Timer(delay, send).start()
logging.getLogger("jax").addHandler(Arm())
runpy.run_module("timbre_jax.cli", run_name="__main__", alter_sys=True)
""".format(starts=COMPILE_STARTS)


def _interrupt_in_compile(out: Path, delay: float) -> tuple[int, str, bool]:
    """Run `table` as a program that sends itself SIGINT ``delay`` s after XLA starts
    compiling; (exit status, stderr, whether the signal went out before that compilation
    ended)."""
    # The compilation must happen: a program kept by an earlier test would only be loaded.
    # (The exact solver on the CPU compiles nothing: L-BFGS-B it is.)
    env = _program_env(JAX_LOG_COMPILES="1", JAX_ENABLE_COMPILATION_CACHE="false")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(delay), "--quiet", "table", "--representations",
                           "encodec", "--datasets", "Grey1977", "--solver", "lbfgsb", "--out", str(out)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
    lines = proc.stderr.splitlines()
    sent = [i for i, x in enumerate(lines) if "test: SIGINT sent" in x]
    ends = [i for i, x in enumerate(lines) if COMPILE_ENDS in x]
    return proc.returncode, proc.stderr, bool(sent) and (not ends or sent[0] < ends[0])


@needs_mirror
def test_ctrl_c_during_the_first_compilation_exits_130_and_leaves_no_file(tmp_path):
    datasets.load("Grey1977", "encodec")  # fetched here, so the child starts fitting at once
    for delay in (0.3, 0.0):
        out = tmp_path / f"out{delay}"
        rc, err, in_compile = _interrupt_in_compile(out, delay)
        tail = "\n".join(x[:160] for x in err.splitlines()[-4:])
        assert rc == 130, f"exit status {rc} (-11: SIGSEGV), SIGINT {delay} s into XLA compilation; stderr ends\n{tail}"
        assert "timbre-jax: interrupted" in err
        assert in_compile, f"the child's own timer fired after the compilation ended; stderr ends\n{tail}"
        # What stays is complete: the run's manifest (run.json, written before any fit) and
        # the exact optimum's saved chunk (table fits it first, in well under a second),
        # never a part-written file or a table.
        left = ([p for p in out.rglob("*") if p.is_file() and p.suffix != ".npz" and p.name != "run.json"]
                if out.exists() else [])
        assert left == [], f"an interrupted first fit left {left}"


# ----------------------------------------------------------------------------- table resumes

TABLE = ["--quiet", "table", "--representations", "encodec,cochlea", "--datasets", "Grey1977,Patil2012_A3",
         "--solver", "exact"]


@needs_mirror
def test_interrupted_table_resumes_without_refitting(tmp_path, monkeypatch, capsys):
    full = tmp_path / "full"
    assert cli.main(TABLE + ["--out", str(full)]) == 0
    real = table.learn_metrics
    calls = []

    def dying(problems, **kw):  # the exact batch of encodec passes, cochlea's is interrupted
        calls.append(len(problems))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(problems, **kw)

    part = tmp_path / "part"
    monkeypatch.setattr(table, "learn_metrics", dying)
    assert cli.main(TABLE + ["--out", str(part)]) == 130
    saved = part / "chunks" / "table"
    assert [(p.parent.name, p.name.split("-")[0]) for p in saved.rglob("*.npz")] == [("encodec", "exact")]
    assert not list(part.rglob("*.part")) and not (part / "table1.csv").exists()
    capsys.readouterr()

    calls.clear()
    monkeypatch.setattr(table, "learn_metrics",
                        lambda problems, **kw: calls.append(len(problems)) or real(problems, **kw))
    assert cli.main(TABLE + ["--out", str(part)]) == 0
    assert calls == [2], "encodec's fits were solved again"
    out = capsys.readouterr().out
    assert "4 fits (exact, 2 resumed)" in out
    assert (part / "table1.csv").read_text() == (full / "table1.csv").read_text()
    lines = out.splitlines()
    legend = lines[next(i for i, x in enumerate(lines) if x.startswith("| **iqr**")) + 1]
    assert legend.startswith("cells: our explained variance at the global optimum (the paper's value)"), legend


def _fake_learn_metrics(calls):
    """learn_metrics stand-in: instant, its P depends on the solver and its maxiter,
    records each call as (solver, problems)."""
    def fake(problems, *, solver):
        calls.append((solver, len(problems)))
        p = 0.5 if solver.name == "exact" else 0.4 + 1e-5 * solver.maxiter
        return [MetricResult(np.ones(F.shape[1]), p, 3, 0, "ok", True, solver=solver.name) for F, _ in problems]
    return fake


@needs_mirror
def test_table_saves_each_call_and_refits_only_what_changed(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(table, "learn_metrics", _fake_learn_metrics(calls))
    names = ["Grey1977", "Patil2012_A3"]
    first = table.run(["encodec"], names, solver=Lbfgsb(maxiter=50), progress=False, directory=tmp_path)
    assert calls == [(Exact(), 2), (Lbfgsb(maxiter=50), 1), (Lbfgsb(maxiter=50), 1)]  # one call per fit on CPU
    assert not any(f["resumed"] for f in first.fits)
    calls.clear()
    again = table.run(["encodec"], names, solver=Lbfgsb(maxiter=50), progress=False, directory=tmp_path)
    assert calls == [] and all(f["resumed"] for f in again.fits)
    assert (again.ev, again.optimum) == (first.ev, first.optimum)
    # another maxiter: the optimum is reused, the L-BFGS-B fits are not
    third = table.run(["encodec"], names, solver=Lbfgsb(maxiter=60), progress=False, directory=tmp_path)
    assert calls == [(Lbfgsb(maxiter=60), 1), (Lbfgsb(maxiter=60), 1)]
    assert third.ev[("encodec", "Grey1977")] == pytest.approx(0.4006 ** 2)


# ----------------------------------------------------------------------------- outputs first

def _no_data(*a, **k):
    raise AssertionError("data were loaded: the output check must come before any fit")


@pytest.mark.parametrize("command", [
    ["table", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{file}"],
    ["robustness", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{file}"],
    ["null", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{file}"],
    ["crossval", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{file}"],
    ["table", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{file}/sub"],
    ["learn", "--dataset", "Grey1977", "--representation", "encodec", "--out", "{file}/w.npz"],
    ["learn", "--dataset", "Grey1977", "--representation", "encodec", "--plot", "{file}/w.png"],
    ["learn", "--dataset", "Grey1977", "--representation", "encodec", "--out", "{dir}"],
])
def test_unwritable_out_fails_before_any_fit(command, tmp_path, monkeypatch, capsys):
    file = tmp_path / "existing.csv"
    file.write_text("keep me\n")
    monkeypatch.setattr(datasets, "load", _no_data)
    argv = [a.format(file=file, dir=tmp_path) for a in command]
    assert cli.main(["--quiet", *argv]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("timbre-jax: error: --"), err
    assert str(file if "{file}" in " ".join(command) else tmp_path) in err
    assert file.read_text() == "keep me\n"


def test_learn_without_a_dataset_is_an_error(monkeypatch, capsys):
    monkeypatch.setattr(datasets, "load", _no_data)
    assert cli.main(["learn", "--representation", "encodec"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.strip() == (
        "timbre-jax: error: give --dataset D, or --datasets A,B,... for one metric across datasets")


# ----------------------------------------------------------------------------- options

@pytest.mark.parametrize("argv, quiet", [
    (["--quiet", "table", "--out", "x"], True),
    (["table", "--out", "x", "--quiet"], True),
    (["table", "--out", "x"], False),
    (["data", "fetch", "--quiet"], True),
    (["--quiet", "data", "list"], True),
    (["learn", "--quiet", "--dataset", "Grey1977", "--representation", "stft"], True),
])
def test_quiet_before_or_after_the_subcommand(argv, quiet):
    assert cli.build_parser().parse_args(argv).quiet is quiet


@pytest.mark.parametrize("command, option", [
    (["learn", "--dataset", "Grey1977", "--representation", "encodec"], ["--maxiter", "5"]),
    (["learn", "--dataset", "Grey1977", "--representation", "encodec"], ["--starts", "2"]),
    (["learn", "--dataset", "Grey1977", "--representation", "encodec"], ["--init", "random"]),
    (["learn", "--dataset", "Grey1977", "--representation", "encodec"], ["--seed", "1"]),
    (["table", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{out}"], ["--maxiter", "5"]),
    (["robustness", "--representations", "encodec", "--datasets", "Grey1977", "--out", "{out}"], ["--maxiter", "5"]),
])
@pytest.mark.parametrize("solver", [[], ["--solver", "exact"]])
def test_an_option_the_solver_lacks_is_an_error_before_any_fit(command, option, solver, tmp_path, monkeypatch,
                                                               capsys):
    """L-BFGS-B's options without `--solver lbfgsb` (the default solver is exact): a usage
    error that says what to type."""
    monkeypatch.setattr(datasets, "load", _no_data)
    argv = [a.format(out=tmp_path / "out") for a in command]
    assert cli.main(["--quiet", *argv, *solver, *option]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        f"timbre-jax: error: {option[0]} is an option of the lbfgsb solver, not of exact (the default): "
        f"add --solver lbfgsb, or leave out {option[0]}\n")


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    from timbre_jax import __version__

    assert capsys.readouterr().out == f"timbre-jax {metadata.version('timbre-jax')}\n"
    assert metadata.version("timbre-jax") == __version__


def _parsers(parser, name="timbre-jax"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_option_has_help_and_the_description_says_what_the_tool_does():
    parser = cli.build_parser()
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in _parsers(parser) for a in p._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help or "").strip()]
    assert missing == []
    assert len(list(_parsers(parser))) == 23  # with transfer, leaderboard, reliability, raters, importance and space
    text = parser.format_help()
    for word in ("data fetch", "table", "learn", "robustness", "null", "crossval", "TIMBRE_JAX_HOME"):
        assert word in text


@pytest.mark.parametrize("command", [["learn"], ["table"], ["robustness"], ["zeroshot"], ["data", "import"]])
def test_help_lists_the_dataset_and_representation_names(command):
    parser = dict(_parsers(cli.build_parser()))[" ".join(["timbre-jax", *command])]
    text = " ".join(parser.format_help().split())  # the epilog wraps lines
    for name in [*registry.DATASETS, *registry.REPRESENTATIONS]:
        assert name in text, name


@needs_mirror
def test_learn_saves_the_weights_it_reports(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert cli.main(["learn", "--dataset", "Grey1977", "--representation", "encodec", "--solver", "exact",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    fs = datasets.load("Grey1977", "encodec")
    best = timbre_jax.learn_metric(fs.features, fs.ratings, solver=Exact())
    with np.load(out, allow_pickle=False) as z:  # nothing in it needs unpickling
        np.testing.assert_allclose(z["weights"], best.weights, rtol=1e-12)
        assert float(z["explained_variance"]) == pytest.approx(best.explained_variance, abs=1e-12)
        meta = json.loads(str(z["metadata"]))
    assert meta["solver"] == "exact" and meta["certified"] and meta["datasets"] == ["Grey1977"]
    assert f"explained variance {best.explained_variance:.4f}" in printed and f"weights -> {out}" in printed


@needs_mirror
@pytest.mark.slow  # 15 s (two processes compiling): run with -m slow
def test_the_program_keeps_its_compiled_programs_for_the_next_run(tmp_path):
    datasets.load("Grey1977", "encodec")  # in the session's home, which the children share
    argv = [sys.executable, "-m", "timbre_jax.cli", "--quiet", "learn", "--dataset", "Grey1977",
            "--representation", "encodec", "--solver", "lbfgsb", "--maxiter", "300"]
    env = _program_env(JAX_LOG_COMPILES="1")
    runs = [subprocess.run([*argv, "--out", str(tmp_path / f"w{i}.npz")], env=env, capture_output=True, text=True,
                           timeout=300) for i in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    hit = "Persistent compilation cache hit for 'jit_solve_padded'"
    assert hit not in runs[0].stderr and hit in runs[1].stderr
    assert list((store.home() / "xla-cache").glob("jit_solve_padded-*"))
    with np.load(tmp_path / "w0.npz") as a, np.load(tmp_path / "w1.npz") as b:  # a loaded program computes the same
        assert a["weights"].tobytes() == b["weights"].tobytes()


# ----------------------------------------------------------------------------- errors

def _exception_classes():
    """Every exception class defined in the package and in the extraction package, their
    subpackages included (``__main__`` left out: importing it runs the program)."""
    import importlib
    import inspect
    import pkgutil

    import timbre_jax_extract

    found = []
    for pkg in (timbre_jax, timbre_jax_extract):
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
            if info.name.endswith(".__main__"):
                continue
            mod = importlib.import_module(info.name)
            found += [c for _, c in inspect.getmembers(mod, inspect.isclass)
                      if issubclass(c, BaseException) and c.__module__ == mod.__name__]
    return found


def test_every_error_of_the_package_derives_from_one_root():
    from timbre_jax.errors import TimbreJaxError

    classes = _exception_classes()
    assert len(classes) >= 12  # the walk really finds them (errors.py alone defines 7)
    assert [c.__qualname__ for c in classes if not issubclass(c, TimbreJaxError)] == []


def test_the_cli_prints_user_errors_in_one_line_and_keeps_tracebacks_of_bugs(monkeypatch, capsys):
    from timbre_jax.errors import DataError

    def user_error(args):
        raise DataError("Grey1977: sound 3 is silent")

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), user_error))
    assert cli.main(["zeroshot", "--out", "x"]) == 1
    assert capsys.readouterr().err == "timbre-jax: error: Grey1977: sound 3 is silent\n"

    def bug(args):
        return 1 / 0

    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), bug))
    with pytest.raises(ZeroDivisionError):  # a bug is not dressed up as a user error
        cli.main(["zeroshot", "--out", "x"])


def _with_func(parser, func):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["zeroshot"].set_defaults(func=func)
    return parser


def test_a_closed_pipe_ends_quietly():
    """`timbre-jax data list | head -1`: the reader goes away before the output is written."""
    p = subprocess.Popen([sys.executable, "-m", "timbre_jax.cli", "data", "list"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # nobody reads: every write gets EPIPE
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert err == "", err  # quiet: no traceback, no BrokenPipeError, nothing at all
    assert p.returncode == 1


def test_a_closed_pipe_does_not_cost_the_files_asked_for(tmp_path, mirror_url):
    """`timbre-jax learn ... | head -3`: the files are written before the summary is printed."""
    out = tmp_path / "w.npz"
    p = subprocess.Popen([sys.executable, "-m", "timbre_jax.cli", "--quiet", "learn", "--representation", "cochlea",
                          "--dataset", "Grey1977", "--out", str(out), "--distances", str(tmp_path / "d")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert p.returncode == 1 and "Traceback" not in err, err
    assert out.exists()
    assert sorted(f.name for f in (tmp_path / "d").iterdir()) == ["Grey1977.cochlea.learned.csv",
                                                                  "Grey1977.cochlea.unweighted.csv"]


def test_a_full_disk_is_a_one_line_error_that_names_the_file(tmp_path, monkeypatch):
    import errno

    from timbre_jax.data import store
    from timbre_jax.errors import WriteError

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    target = tmp_path / "table1.csv"
    with pytest.raises(WriteError, match=r"table1\.csv: cannot write \(No space left on device\)"):
        store.atomic_write_bytes(target, lambda fh: fh.write(b"x"))
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind

    def reset(src, dst):  # not about the file (a network read inside the writer): passed on as it is
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(store.os, "replace", reset)
    with pytest.raises(ConnectionResetError):
        store.atomic_write_bytes(target, lambda fh: fh.write(b"x"))
