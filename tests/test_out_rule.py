"""The --out rule (:mod:`timbre_jax.cli.outputs`): the same run into its folder resumes,
another run into a folder that holds results is refused before anything is loaded,
unrelated files may stay, and `learn` never replaces a file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import needs_mirror, write_tone
from timbre_jax import cli
from timbre_jax.analyses import audit, crossval, evaluate, leaderboard, null, robustness, table, transfer, zeroshot
from timbre_jax.cli import outputs
from timbre_jax.data import datasets
from timbre_jax.errors import UsageError
from timbre_jax.fit import processes
from timbre_jax.solvers import Exact

GREY = ["--representations", "cochlea", "--datasets", "Grey1977"]
NULL = ["null", "--solver", "exact", "--permutations", "5", *GREY]
ZEROSHOT = ["zeroshot", "--bootstrap", "0", *GREY]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["--quiet", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _no_data(*a, **k):
    raise AssertionError("data were loaded: the --out rule must be checked before")


def contents(folder) -> dict:
    """Every file under ``folder``: its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def unclaimed(folder, writes: str) -> list[str]:
    """Entries of ``folder`` that the command's file names (``WRITES``) do not cover."""
    covered = {p.name for pattern in outputs.written_names(writes) for p in folder.glob(pattern)}
    return sorted(p.name for p in folder.iterdir() if p.name not in covered | {outputs.MANIFEST})


@pytest.fixture(scope="module")
def null_folder(tmp_path_factory):
    """A folder holding the results of NULL (run once for the refusals below)."""
    out = tmp_path_factory.mktemp("null") / "results"
    assert cli.main(["--quiet", *NULL, "--out", str(out)]) == 0
    return out


# ----------------------------------------------------------------------------- the same run resumes

@needs_mirror
def test_the_same_run_twice_reads_its_fits_back_and_writes_the_same_files(tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    assert run(capsys, *NULL, "--out", out)[0] == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["command"] == "null"
    settings = manifest["settings"]
    assert (settings["datasets"], settings["representations"], settings["source"]) == (
        ["Grey1977"], ["cochlea"], "upstream")  # names resolved: --source auto was upstream
    assert (settings["permutations"], settings["seed"], settings["solver"]["solver"]) == (5, 0, "exact")
    assert not {"quiet", "out", "func"} & set(settings)
    assert unclaimed(out, null.WRITES) == []  # the rule knows every name null writes
    before = contents(out)

    def solve(self, batch):
        raise AssertionError("a saved fit was solved again")

    monkeypatch.setattr(Exact, "solve", solve)
    code, text, err = run(capsys, *NULL, "--out", out)
    assert code == 0, err
    after = contents(out)
    for name in ("null.csv", "summary.csv", "run.json"):
        assert after[name][0] == before[name][0], name
    chunks = {k: v for k, v in before.items() if k.startswith("chunks")}
    assert chunks and {k: after[k] for k in chunks} == chunks  # read back, not rewritten


# ----------------------------------------------------------------------------- another run is refused

@needs_mirror
@pytest.mark.parametrize("argv, differs", [
    (ZEROSHOT, "this run is `zeroshot`"),
    (["leaderboard", "--bootstrap", "0", *GREY], "this run is `leaderboard`"),
    (["data", "audit", "--permutations", "5", *GREY], "this run is `data audit`"),
    (["crossval", "--solver", "exact", *GREY], "this run is `crossval`"),
    (["null", "--solver", "exact", "--permutations", "5", "--representations", "cochlea", "--datasets",
      "Grey1977,Grey1978"], "this run has other datasets"),
    (["null", "--solver", "exact", "--permutations", "6", *GREY], "this run has other permutations"),
    (["null", "--solver", "exact", "--permutations", "5", "--seed", "1", *GREY], "this run has other seed"),
    (["null", "--solver", "lbfgsb", "--permutations", "5", *GREY], "this run has other solver"),
])
def test_another_run_into_a_folder_of_results_is_refused_before_loading(null_folder, argv, differs, monkeypatch,
                                                                         capsys):
    before = contents(null_folder)
    monkeypatch.setattr(datasets, "load", _no_data)
    code, out, err = run(capsys, *argv, "--out", null_folder)
    assert code == cli.EXIT_USAGE, err
    assert err.count("\n") == 1 and err.startswith(f"timbre-jax: error: --out {null_folder}: holds the results of "
                                                   "`null` on Grey1977 (cochlea; upstream, exact, permutations 5, "
                                                   "seed 0); "), err
    assert differs in err and "give another folder, or remove it to start over" in err
    assert contents(null_folder) == before


def test_files_of_an_unrecorded_run_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "load", _no_data)
    old = tmp_path / "old"
    (old / "chunks" / "cochlea").mkdir(parents=True)
    (old / "summary.csv").write_text("keep me\n")
    code, _, err = run(capsys, *NULL, "--out", old)
    assert code == cli.EXIT_USAGE
    assert f"--out {old}: holds files of an earlier run (chunks/, summary.csv) with no run.json" in err
    assert (old / "summary.csv").read_text() == "keep me\n" and not (old / "run.json").exists()


def test_an_unreadable_manifest_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "load", _no_data)
    (tmp_path / "run.json").write_text("{not json")
    code, _, err = run(capsys, *ZEROSHOT, "--out", tmp_path)
    assert code == cli.EXIT_USAGE and f"--out {tmp_path}: its run.json is unreadable" in err
    assert (tmp_path / "run.json").read_text() == "{not json"


# ----------------------------------------------------------------------------- what is allowed

@needs_mirror
def test_unrelated_files_stay_beside_the_results(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old.png").write_bytes(b"png")
    code, _, err = run(capsys, *ZEROSHOT, "--out", tmp_path)
    assert code == 0, err
    assert (tmp_path / "notes.txt").read_text() == "my notes\n" and (tmp_path / "figures" / "old.png").exists()
    assert "Grey1977" in (tmp_path / "zeroshot.csv").read_text()
    assert json.loads((tmp_path / "run.json").read_text())["command"] == "zeroshot"
    assert unclaimed(tmp_path, zeroshot.WRITES) == ["figures", "notes.txt"]


def test_a_manifest_whose_run_wrote_nothing_is_replaced(tmp_path):
    """A run stopped before its first file (an error in its data) holds nothing to lose."""
    outputs.claim(tmp_path, "null", {"datasets": ["Mine"], "permutations": 5}, null.WRITES)
    outputs.claim(tmp_path, "zeroshot", {"datasets": ["Mine"], "bootstrap": 0}, zeroshot.WRITES)
    assert json.loads((tmp_path / "run.json").read_text())["command"] == "zeroshot"
    (tmp_path / "zeroshot.csv").write_text("a result\n")
    with pytest.raises(UsageError, match="holds the results of `zeroshot` on Mine"):
        outputs.claim(tmp_path, "zeroshot", {"datasets": ["Mine"], "bootstrap": 10}, zeroshot.WRITES)


def test_only_process_zero_writes_the_manifest(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "index", lambda: 1)
    assert outputs.claim(tmp_path / "out", "null", {"permutations": 5}, null.WRITES) == tmp_path / "out"
    assert not (tmp_path / "out").exists()


def test_settings_are_what_determines_the_results():
    parse = cli.build_parser().parse_args
    base = ["robustness", *GREY, "--out", "a"]
    plain = outputs.settings(parse(base))
    assert outputs.settings(parse(["--quiet", *base[:-1], "b", "--chunk-groups", "2"])) == plain
    assert outputs.settings(parse([*base, "--seed", "1"])) != plain
    assert outputs.settings(parse([*base, "--std-scale"])) != plain
    assert outputs.command_of(parse(["data", "audit", "--out", "a"])) == "data audit"


def test_every_folder_command_names_the_files_it_writes():
    assert outputs.written_names(null.WRITES) == ["null.csv", "summary.csv", "null_*.png", "chunks"]
    assert outputs.written_names(transfer.WRITES) == ["transfer_*.csv", "transfer_*.png"]
    tables = {audit: "audit.csv", crossval: "crossval.csv", evaluate: "evaluate.csv", leaderboard: "leaderboard.csv",
              robustness: "robustness.csv", table: "table1.csv", zeroshot: "zeroshot.csv"}
    for module, csv in tables.items():
        found = outputs.written_names(module.WRITES)
        assert csv in found and not any("<" in name or "/" in name for name in found), module.__name__
        assert ("chunks" in found) == ("OUT/chunks" in module.WRITES), module.__name__


# ----------------------------------------------------------------------------- learn's files

@pytest.mark.parametrize("option, name", [("--out", "w.npz"), ("--plot", "w.png")])
def test_learn_never_replaces_a_file(option, name, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(datasets, "load", _no_data)
    path = tmp_path / name
    path.write_bytes(b"earlier weights")
    code, _, err = run(capsys, "learn", "--dataset", "Grey1977", "--representation", "cochlea", option, path)
    assert code == cli.EXIT_USAGE
    assert err == f"timbre-jax: error: {option} {path}: exists; learn never replaces a file: give another name, " \
                  "or remove it\n"
    assert path.read_bytes() == b"earlier weights"


# ----------------------------------------------------------------------------- the data add hint

def test_the_data_add_hint_proposes_a_folder_named_after_the_study(tmp_path, fresh_home, capsys):
    audio = tmp_path / "audio"
    for k, sound in enumerate(("a1", "b2", "c3", "d4")):
        write_tone(audio / f"{sound}.aiff", 220.0 * 2 ** (k / 4))
    r = np.random.default_rng(0).uniform(0.1, 0.9, (4, 4))
    np.savetxt(tmp_path / "ratings.txt", (r + r.T) / 2, fmt="%.6f")
    code, out, err = run(capsys, "data", "add", "Zacharakis2014", "--audio", audio, "--ratings",
                         tmp_path / "ratings.txt")
    assert code == 0, err
    suggested = [line for line in out.splitlines() if "--out" in line]
    assert suggested and all(line.endswith("--out results-Zacharakis2014") for line in suggested), out
