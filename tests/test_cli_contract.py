"""The command line's contract (issue #28): every command's help shows its defaults and
the files it writes; one --out rule; exit status 2 for a usage error and 1 for bad data,
decided in one place; empty name lists refused; the solvers' stops in plain words; a
warning when a fit has at least as many weights as rated pairs.

Fast on purpose: every error here comes before any fit, and the two outputs that need a
fit use a stand-in solver."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from conftest import needs_mirror, write_tone
from timbre_jax import cli
from timbre_jax.analyses import (
    audit,
    crossval,
    evaluate,
    importance,
    leaderboard,
    null,
    raters,
    reliability,
    robustness,
    single,
    space,
    table,
    transfer,
    zeroshot,
)
from timbre_jax.cli import commands
from timbre_jax.data import datasets, store, studies
from timbre_jax.errors import DataError, DownloadError, FitError, MissingFeatures, TimbreJaxError, UsageError
from timbre_jax.fit import learn
from timbre_jax.fit.learn import MetricResult
from timbre_jax.optim.exact_lockstep import Status as ExactStatus
from timbre_jax.optim.lbfgsb import Status as LbfgsbStatus
from timbre_jax.solvers import messages


def _run(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command line; argparse's own errors included."""
    try:
        code = cli.main(["--quiet", *map(str, argv)])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _commands(parser=None, prefix=()):
    """(command words, parser) of every command that runs (the leaves of the parser tree)."""
    parser = parser or cli.build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*prefix, name))


COMMANDS = [" ".join(words) for words, _ in _commands()]
# What each command writes, as its --help says: the text its command function carries
# (``cli.commands.writes``), for an analysis that analysis's ``WRITES``.
WRITES = {" ".join(words): p.get_default("func").writes for words, p in _commands()}


def _no_fit(*a, **k):
    raise AssertionError("a usage error must be found before any data are loaded")


# ----------------------------------------------------------------------------- exit statuses

# A usage error for every command: a name, an option or an output the command cannot take.
USAGE = {
    "learn": ["learn", "--dataset", "Grey1977", "--representation", "nope"],
    "table": ["table", "--representations", "nope", "--datasets", "Grey1977", "--out", "{tmp}/o"],
    "zeroshot": ["zeroshot", "--datasets", "Nope1999", "--out", "{tmp}/o"],
    "reliability": ["reliability", "--datasets", "Nope1999", "--out", "{tmp}/o"],
    "raters": ["raters", "--representations", "cochlea", "--datasets", "Grey1977", "--splits", "0", "--out",
               "{tmp}/o"],
    "extract": ["extract", "--representation", "stft", "--dataset", "Nope1999"],
    "robustness": ["robustness", "--representations", "cochlea", "--datasets", "Grey1977", "--solver", "exact",
                   "--maxiter", "5", "--out", "{tmp}/o"],
    "null": ["null", "--representations", "cochlea", "--datasets", "Grey1977", "--out", "{file}"],
    "crossval": ["crossval", "--representations", "cochlea", "--datasets", "Grey1977", "--out", "{file}/sub"],
    "evaluate": ["evaluate", "--representations", "cochlea", "--datasets", "Grey1977"],  # no --out
    "transfer": ["transfer", "--representations", "cochlea,encodec", "--out", "{tmp}/o"],
    "importance": ["importance", "--datasets", "Nope1999", "--out", "{tmp}/o"],
    "space": ["space", "--datasets", "Nope1999", "--out", "{tmp}/o"],
    "leaderboard": ["leaderboard", "--representations", "cochlea", "--datasets", "Nope1999", "--out", "{tmp}/o"],
    "data fetch": ["data", "fetch", "--what", "nope"],
    "data list": ["data", "list", "--representation", "nope"],
    "data verify": ["data", "verify", "--nope"],
    "data import": ["data", "import", "{tmp}/f.csv", "--dataset", "Mine", "--representation", "r",
                    "--source", "upstream"],
    "data add": ["data", "add", "Grey1977", "--audio", "{tmp}", "--ratings", "{tmp}/r.txt"],
    "data remove": ["data", "remove", "NoSuchStudy"],
    "data audit": ["data", "audit", "--representations", "nope", "--out", "{tmp}/o"],
}

# Bad data for every command that reads data: the study Mine (see ``bad``) has an
# unreadable extracted cochlea feature file; the other cases make their own bad file.
ANALYSIS = ["--representations", "cochlea", "--datasets", "Mine", "--out", "{tmp}/o"]
DATA = {
    "learn": ["learn", "--dataset", "Mine", "--representation", "cochlea"],
    "table": ["table", *ANALYSIS],
    "zeroshot": ["zeroshot", *ANALYSIS, "--bootstrap", "0"],
    "reliability": ["reliability", "--datasets", "Mine", "--out", "{tmp}/o"],  # mean ratings only
    "raters": ["raters", *ANALYSIS],  # mean ratings only
    "extract": ["extract", "--representation", "stft", "--datasets", "Mine"],  # a damaged audio file
    "robustness": ["robustness", *ANALYSIS],
    "null": ["null", *ANALYSIS],
    "crossval": ["crossval", *ANALYSIS],
    "evaluate": ["evaluate", *ANALYSIS],
    "transfer": ["transfer", "--representations", "cochlea", "--datasets", "Mine,Grey1977", "--source", "extracted",
                 "--out", "{tmp}/o"],
    "leaderboard": ["leaderboard", *ANALYSIS, "--bootstrap", "0"],
    "importance": ["importance", *ANALYSIS, "--bootstrap", "0"],
    "space": ["space", *ANALYSIS],
    "data fetch": ["data", "fetch", "--what", "ratings", "--mirror", "{tmp}/mirror"],  # a corrupted download
    "data list": ["data", "list"],  # a damaged study manifest
    "data verify": ["data", "verify"],
    "data import": ["data", "import", "{tmp}/bad.csv", "--dataset", "Mine", "--representation", "r"],
    "data add": ["data", "add", "Other", "--audio", "{tmp}/in/audio", "--ratings", "{tmp}/out_of_range.txt"],
    "data audit": ["data", "audit", *ANALYSIS, "--permutations", "1"],
}
NO_DATA = {"data remove": "deletes a study's files; it reads no data that could be bad"}

SOUNDS = ("a1", "b2", "c3", "d4")


@pytest.fixture
def bad(tmp_path, monkeypatch):
    """An empty cache with one study, Mine (4 tones), whose extracted cochlea features are
    an unreadable file, and the bad input files some cases name."""
    monkeypatch.setenv("TIMBRE_JAX_HOME", str(tmp_path / "home"))
    audio = tmp_path / "in" / "audio"
    for k, name in enumerate(SOUNDS):
        write_tone(audio / f"{name}.wav", 220.0 * 2 ** (k / 4))
    r = np.random.default_rng(0).uniform(0.1, 0.9, (4, 4))
    r = (r + r.T) / 2
    np.fill_diagonal(r, 0)
    np.savetxt(tmp_path / "in" / "ratings.txt", r, fmt="%.6f")
    studies.add("Mine", audio, tmp_path / "in" / "ratings.txt", progress=False)
    damaged = store.feature_file("extracted", "cochlea", "Mine")
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a store file")
    r[0, 1] = r[1, 0] = 1.5
    np.savetxt(tmp_path / "out_of_range.txt", r, fmt="%.6f")
    (tmp_path / "bad.csv").write_text("sound,f1,f2\na1,0.1,0.2\nb2,0.3,oops\nc3,0.5,0.6\nd4,0.7,0.8\n")
    return tmp_path


def _prepare(command, tmp_path):
    """The bad data of the cases that need more than the fixture's."""
    if command == "extract":
        pytest.importorskip("timbre_jax_extract")
        (studies.folder("Mine") / "audio" / "b2.wav").write_bytes(b"RIFF garbage")
    elif command == "data fetch":
        from timbre_jax.data.registry import DATASETS

        path = tmp_path / "mirror" / DATASETS["Grey1977"].ratings_path
        path.parent.mkdir(parents=True)
        path.write_text("0 2\n2 0\n")  # fails its sha256
    elif command == "data list":
        (studies.folder("Mine") / "study.json").write_text("{not json")


def test_every_command_has_a_usage_case_and_a_data_case():
    assert sorted(USAGE) == sorted(COMMANDS)
    assert sorted([*DATA, *NO_DATA]) == sorted(COMMANDS)
    assert sorted(WRITES) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(USAGE))
def test_a_usage_error_exits_2_in_one_line_before_any_data(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "load", _no_fit)
    file = tmp_path / "existing.csv"
    file.write_text("keep me\n")
    code, out, err = _run(capsys, *[a.format(tmp=tmp_path, file=file) for a in USAGE[command]])
    assert code == cli.EXIT_USAGE == 2, err
    last = err.strip().splitlines()[-1]
    assert "error:" in last and "Traceback" not in err
    if not err.startswith("usage: "):  # ours, not argparse's usage + error
        assert len(err.strip().splitlines()) == 1 and last.startswith("timbre-jax: error: "), err
    assert file.read_text() == "keep me\n"


@pytest.mark.parametrize("command", sorted(DATA))
def test_bad_data_exits_1_in_one_line(command, bad, capsys):
    _prepare(command, bad)
    code, out, err = _run(capsys, *[a.format(tmp=bad) for a in DATA[command]])
    assert code == cli.EXIT_FAIL == 1, (out, err)
    assert "Traceback" not in err
    if command in ("data fetch", "data verify"):  # these report each damaged file on stdout and exit 1
        assert "FAILED" in out or "CORRUPTED" in out, out
    elif command == "extract":  # one line, then one line per sound that failed, naming its file
        assert err.startswith("timbre-jax: error: 1 sound(s) of Mine failed") and "b2.wav" in err, err
    else:
        assert len(err.strip().splitlines()) == 1 and err.startswith("timbre-jax: error: "), err


def test_the_exit_status_of_each_error_class_comes_from_one_place():
    for error, status in ((UsageError("x"), 2), (DataError("x"), 1), (MissingFeatures("x"), 1), (FitError("x"), 1),
                          (DownloadError("x"), 1), (TimbreJaxError("x"), 1)):
        assert cli.exit_status(error) == status, type(error).__name__


# ----------------------------------------------------------------------------- empty name lists

@pytest.mark.parametrize("argv, option", [
    (["table", "--datasets", "", "--out", "{tmp}"], "--datasets"),
    (["table", "--representations", ",", "--out", "{tmp}"], "--representations"),
    (["zeroshot", "--datasets", " , ", "--out", "{tmp}"], "--datasets"),
    (["evaluate", "--representations", "", "--out", "{tmp}"], "--representations"),
    (["leaderboard", "--datasets", "", "--out", "{tmp}"], "--datasets"),
    (["data", "audit", "--datasets", ",", "--out", "{tmp}"], "--datasets"),
    (["learn", "--dataset", "", "--representation", "cochlea"], "--dataset"),
    (["learn", "--datasets", ",", "--representation", "cochlea"], "--datasets"),
    (["learn", "--dataset", "Grey1977", "--representation", ""], "--representation"),
    (["extract", "--representation", "stft", "--dataset", ""], "--dataset"),
    (["extract", "--representation", "stft", "--datasets", ","], "--datasets"),
    (["extract", "--representation", "", "--datasets", "Grey1977"], "--representation"),
    (["data", "fetch", "--what", ""], "--what"),
    (["data", "fetch", "--representations", ","], "--representations"),
    (["data", "list", "--representation", ""], "--representation"),
])
def test_an_empty_name_list_is_a_usage_error_naming_the_option(argv, option, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "load", _no_fit)
    code, _, err = _run(capsys, *[a.format(tmp=tmp_path / "o") for a in argv])
    assert code == 2, err
    assert err.startswith(f"timbre-jax: error: {option} ") and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- help

def _help_lines(parser) -> dict[str, str]:
    """The help text of each option of ``parser`` as it is printed (defaults filled in)."""
    formatter = parser._get_formatter()
    return {"/".join(a.option_strings): formatter._expand_help(a) for a in parser._actions
            if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_default_the_files_written_and_the_out_rule(command, capsys):
    parser = dict((" ".join(words), p) for words, p in _commands())[command]
    missing = [f"{option}: {text}" for option, text in _help_lines(parser).items()
               if "default" not in text.lower() and "(required)" not in text]
    assert missing == []
    code, out, _ = _run(capsys, *command.split(), "--help")
    assert code == 0
    text = " ".join(out.split())
    assert f"Writes: {' '.join(WRITES[command].split())}" in text
    assert "--out rule (every command)" in text and "exit status: 0 done; 1 the data" in text
    assert "(default: None)" not in text  # a default of nothing says what it means


def test_what_an_analysis_command_writes_comes_from_its_analysis():
    analyses = {"learn": single, "table": table, "zeroshot": zeroshot, "robustness": robustness, "null": null,
                "crossval": crossval, "evaluate": evaluate, "transfer": transfer, "leaderboard": leaderboard,
                "importance": importance, "space": space,
                "data audit": audit, "reliability": reliability, "raters": raters}
    assert {c: WRITES[c] for c in analyses} == {c: m.WRITES for c, m in analyses.items()}
    assert WRITES["extract"] == commands.EXTRACT_WRITES


def test_every_command_that_writes_a_folder_requires_out():
    folders = [c for c, writes in WRITES.items() if "OUT/" in writes]
    assert sorted(folders) == sorted(["table", "zeroshot", "robustness", "null", "crossval", "evaluate", "transfer",
                                      "importance", "space",
                                      "leaderboard", "data audit", "reliability", "raters"])
    parsers = dict((" ".join(words), p) for words, p in _commands())
    for command, parser in parsers.items():
        out = [a for a in parser._actions if "--out" in a.option_strings]
        if command in folders:
            assert out and out[0].required and out[0].default is None, command
        elif command != "learn":  # learn writes a file only when given --out or --plot
            assert not out, command


def test_a_given_default_is_shown_once(capsys):
    code, out, _ = _run(capsys, "robustness", "--help")
    text = " ".join(out.split())
    assert "(default 9)" in text and "(default 5)" in text and "(default: 9)" not in text
    assert "(default: off)" in text  # --quiet: a flag


# ----------------------------------------------------------------------------- solver messages

def test_every_solver_stop_has_plain_words_and_a_verdict():
    for status in LbfgsbStatus:
        v = messages.verdict("lbfgsb", status, 10)
        assert status.message not in v.text and "status" not in v.text
    for status in ExactStatus:
        assert "status" not in messages.verdict("exact", status, 3).text
    line_search = messages.verdict("lbfgsb", LbfgsbStatus.ABNORMAL_LINE_SEARCH, 25)
    assert line_search.usable and "usual stop" in line_search.text and "not a failure" in line_search.text
    assert not messages.verdict("lbfgsb", LbfgsbStatus.ABNORMAL_LINE_SEARCH, 0).usable  # no step: the start
    assert not messages.verdict("lbfgsb", LbfgsbStatus.MAX_ITERATIONS, 10).usable
    assert messages.verdict("exact", ExactStatus.OPTIMAL, 3).text.startswith("certified global optimum")
    limit = messages.verdict("exact", ExactStatus.ITERATION_LIMIT, 3)
    assert not limit.usable and "not certified" in limit.text
    # the codes and messages written to result files are untouched
    assert (int(LbfgsbStatus.ABNORMAL_LINE_SEARCH), LbfgsbStatus.ABNORMAL_LINE_SEARCH.message) == (
        4, "ABNORMAL_TERMINATION_IN_LNSRCH")
    assert (int(ExactStatus.ITERATION_LIMIT), ExactStatus.ITERATION_LIMIT.message) == (
        2, "STOP: ITERATION LIMIT OF THE ACTIVE SET (NOT CERTIFIED)")


def _fake_result(n, status=LbfgsbStatus.ABNORMAL_LINE_SEARCH, solver="lbfgsb"):
    enum = LbfgsbStatus if solver == "lbfgsb" else ExactStatus
    return MetricResult(np.ones(n), 0.9, 25, int(status), enum(status).message, True, solver == "exact", 0, solver)


@needs_mirror
def test_learn_says_the_stop_in_plain_words_and_warns_of_too_many_weights(monkeypatch, capsys):
    monkeypatch.setattr(learn, "learn_metric", lambda F, r, solver: _fake_result(F.shape[1]))
    monkeypatch.setattr(learn, "optimality_gap", lambda *a: 0.0)
    code, out, err = _run(capsys, "learn", "--dataset", "Grey1977", "--representation", "cochlea",
                          "--solver", "lbfgsb")
    assert code == 0, err
    verdict = next(x for x in out.splitlines() if x.startswith("solver: "))
    assert "L-BFGS-B's usual stop" in verdict and "the result is usable" in verdict
    assert "(its code: ABNORMAL_TERMINATION_IN_LNSRCH)" in verdict
    (warning,) = err.splitlines()  # Grey1977: 16 sounds, 120 rated pairs; cochlea: 128 features
    assert warning.startswith("timbre-jax: warning: cochlea on Grey1977: 128 weights for 120 rated pairs: ")


@needs_mirror
def test_learn_is_quiet_when_there_are_fewer_weights_than_pairs(monkeypatch, capsys):
    monkeypatch.setattr(learn, "learn_metric", lambda F, r, solver: _fake_result(F.shape[1], ExactStatus.OPTIMAL,
                                                                                  "exact"))
    # Grey1977 and Grey1978 together: 240 rated pairs for 128 weights
    code, out, err = _run(capsys, "learn", "--datasets", "Grey1977,Grey1978", "--representation", "cochlea",
                          "--solver", "exact")
    assert code == 0 and err == "", err
    assert "solver: certified global optimum" in out


@needs_mirror
def test_table_warns_of_too_many_weights_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(table, "learn_metrics",
                        lambda problems, solver: [_fake_result(F.shape[1], ExactStatus.OPTIMAL, "exact")
                                                  for F, _ in problems])
    code, out, err = _run(capsys, "table", "--representations", "cochlea,stft", "--datasets", "Grey1977,McAdams1995",
                          "--solver", "exact", "--out", tmp_path)
    assert code == 0, err
    (warning,) = err.splitlines()  # 120 and 153 rated pairs; cochlea 128, stft 513 weights
    assert warning.startswith("timbre-jax: warning: 3 fits have at least as many weights as rated pairs (")
    assert "cochlea/Grey1977 128 for 120" in warning and "stft/McAdams1995 513 for 153" in warning
    assert "cochlea/McAdams1995" not in warning
    assert "warning" not in out
