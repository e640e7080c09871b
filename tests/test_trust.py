"""Trust by default on a new study (#34): a study the package has never seen, added and
extracted as a user would, with more features (stft, 513) than rated pairs (8 sounds, 28
pairs), the case where L-BFGS-B stops at its iteration limit.

With the defaults every fitting command uses the certified solver and has nothing to
report; asked for the paper's L-BFGS-B with a limit it reaches (``--maxiter 5``, so that
the test stays short), null, crossval, robustness and learn print how many fits stopped
and flag them in their files; evaluate and leaderboard, which always fit with the exact
solver, do the same when that solver cannot certify (its column limit set to 1)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import needs_mirror, write_tone
from timbre_jax import cli
from timbre_jax.analyses import evaluate, leaderboard
from timbre_jax.solvers import Exact

STUDY, REP = "Trust8", "stft"
NAMES = ["--representations", REP, "--datasets", STUDY]
PAPER = ["--solver", "lbfgsb", "--maxiter", "5"]
OPTIONS = {"null": ["--permutations", "4"], "crossval": [], "robustness": ["--levels", "2", "--realizations", "1"]}


def _run(capsys, *argv) -> str:
    code = cli.main(["--quiet", *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out + err


def _csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def new_study(tmp_path, fresh_home, capsys):
    """8 harmonic tones (different spectra) with seeded ratings, added with `data add` and
    extracted in stft."""
    pytest.importorskip("timbre_jax_extract")
    audio = tmp_path / "audio"
    for k in range(8):
        write_tone(audio / f"tone{k}.aiff", 180.0 * 1.19 ** k, amp=0.1 + 0.05 * k)
    rng = np.random.default_rng(34)
    r = rng.uniform(size=(8, 8))
    r = (r + r.T) / 2
    np.fill_diagonal(r, 0)
    np.savetxt(tmp_path / "ratings.txt", r)
    out = _run(capsys, "data", "add", STUDY, "--audio", audio, "--ratings", tmp_path / "ratings.txt")
    assert f"--out results-{STUDY}" in out  # the hint proposes a folder named after the study
    _run(capsys, "extract", "--representation", REP, "--datasets", STUDY)
    return tmp_path


@pytest.mark.slow  # 39 s: four commands on a real study, twice; the defaults and the counts have fast tests
@needs_mirror
def test_a_new_study_defaults_to_the_certified_solver_and_no_unconverged_fit_is_silent(new_study, capsys,
                                                                                    monkeypatch):
    where = f"{REP} on {STUDY}"
    for command, flags in (("null", ("converged",)), ("crossval", ("in_sample_converged", "heldout_converged")),
                           ("robustness", ("converged",))):
        csv_name = {"null": "summary.csv", "crossval": "crossval.csv", "robustness": "auc.csv"}[command]
        default = new_study / f"default-{command}"
        out = _run(capsys, command, *NAMES, *OPTIONS[command], "--out", default)
        assert json.loads((default / "run.json").read_text())["settings"]["solver"]["solver"] == "exact"
        assert "did not converge" not in out and "not certified" not in out
        assert {(row[f], row["unconverged"]) for row in _csv(default / csv_name) for f in flags} == {("True", "0")}

        paper = new_study / f"paper-{command}"
        out = _run(capsys, command, *NAMES, *OPTIONS[command], *PAPER, "--out", paper)
        (line,) = [x for x in out.splitlines() if x.startswith(f"{command}: ")]
        stopped, total = (int(x.replace(",", "")) for x in line.split()[1:4:2])
        assert 0 < stopped <= total and f"({where}: {stopped})" in line, line
        (row,) = _csv(paper / csv_name)
        assert int(row["unconverged"]) == stopped and all(row[f] == "False" for f in flags), row
    assert {r["converged"] for r in _csv(new_study / "paper-null" / "null.csv")} >= {"False"}
    assert {r["converged"] for r in _csv(new_study / "paper-robustness" / "robustness.csv")} >= {"False"}

    out = _run(capsys, "learn", "--representation", REP, "--dataset", STUDY, "--out", new_study / "exact.npz")
    assert f"{where} (exact)" in out and "certified global optimum" in out and "of 1 fits" not in out
    out = _run(capsys, "learn", "--representation", REP, "--dataset", STUDY, *PAPER,
               "--out", new_study / "paper.npz")
    assert f"learn: 1 of 1 fits did not converge ({where}: 1)" in out
    assert json.loads(str(np.load(new_study / "paper.npz")["metadata"]))["converged"] is False

    # evaluate and leaderboard fit with the exact solver only: certified here, and flagged
    # where it stops at its limit.
    out = _run(capsys, "evaluate", *NAMES, "--permutations", "4", "--bootstrap", "0", "--out", new_study / "ev")
    (row,) = _csv(new_study / "ev" / "evaluate.csv")
    assert (row["uncertified"], row["null_certified"], row["heldout_certified"]) == ("0", "True", "True")
    out = _run(capsys, "leaderboard", *NAMES, "--bootstrap", "0", "--out", new_study / "lb")
    assert {r["uncertified"] for r in _csv(new_study / "lb" / "leaderboard_studies.csv")
            if r["distance"] == "learned"} == {"0"}
    for module in (evaluate, leaderboard):
        monkeypatch.setattr(module, "Exact", lambda: Exact(max_steps=1))
    out = _run(capsys, "evaluate", *NAMES, "--permutations", "4", "--bootstrap", "0", "--out", new_study / "ev1")
    (row,) = _csv(new_study / "ev1" / "evaluate.csv")
    assert int(row["uncertified"]) > 0 and row["null_certified"] == "False"
    assert f"evaluate: {row['uncertified']} of " in out and "were not certified" in out
    out = _run(capsys, "leaderboard", *NAMES, "--bootstrap", "0", "--out", new_study / "lb1")
    (learned,) = [r for r in _csv(new_study / "lb1" / "leaderboard_studies.csv") if r["distance"] == "learned"]
    assert int(learned["uncertified"]) > 0
    assert f"leaderboard: {learned['uncertified']} of " in out and "were not certified" in out
