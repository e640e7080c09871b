"""No silent unconverged fit: every analysis counts the fits that did not converge, prints
the count, writes the flag beside its numbers, and says nothing more when all converged.

Unconverged fits are made on purpose: L-BFGS-B stopped after 3 iterations (``--maxiter 3``)
and the exact solver allowed one column (``Exact(max_steps=1)``: not certified)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import audit, crossval, evaluate, leaderboard, robustness, transfer
from timbre_jax.core.pearson import pair_indices
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.solvers import Exact
from timbre_jax.stats import convergence, degradation, heldout

# --- the module -------------------------------------------------------------------------


def test_tally_counts_the_fits_that_did_not_converge_where_they_are():
    found = convergence.tally([("stft", "A", True), ("stft", "A", False), ("mfcc", "B", False),
                               ("stft", "A", False), ("mfcc", "C", True)])
    assert (found.total, found.stopped, found.all_converged) == (5, 3, False)
    assert found.where == ((("stft", "A"), 2), (("mfcc", "B"), 1))
    assert convergence.tally([("stft", "A", True)]).all_converged
    assert convergence.tally([]).total == 0


def test_counted_adds_rows_that_keep_a_count_and_tally_agrees():
    found = convergence.counted([("r", "A", 10, 2), ("r", "B", 5, 0), ("r", "A", 3, 1)])
    assert (found.total, found.stopped, found.where) == (18, 3, ((("r", "A"), 3),))
    fits = convergence.each("r", "A", np.array([True, False, False])) + convergence.each("r", "B", True)
    assert convergence.tally(fits) == convergence.counted([("r", "A", 3, 2), ("r", "B", 1, 0)])
    assert convergence.count_unconverged(np.array([True, False, False])) == 2
    assert convergence.count_unconverged(True) == 0


def test_the_count_line_says_how_many_where_and_what_it_means_per_solver():
    found = convergence.counted([("stft", "Zacharakis2014", 21, 12), ("stft", "Grey1977", 2079, 0)])
    line = convergence.summary_line("null", found, "lbfgsb")
    assert line.startswith("null: 12 of 2,100 fits did not converge (stft on Zacharakis2014: 12): ")
    assert "lower bounds" in line and line.endswith("--solver exact gives the optimum")
    exact = convergence.summary_line("evaluate", found, "exact")
    assert exact.startswith("evaluate: 12 of 2,100 fits were not certified (stft on Zacharakis2014: 12)")
    assert "--solver exact" not in exact
    assert "constant solver's own test" in convergence.summary_line("null", found, "constant")
    assert convergence.summary_line("null", convergence.tally([("stft", "A", True)]), "lbfgsb") is None


def test_many_cells_are_cut_to_the_first_ones():
    found = convergence.counted([("r", f"D{k}", 2, 1) for k in range(7)])
    line = convergence.summary_line("table", found, "lbfgsb", shown=3)
    assert "(r on D0: 1, r on D1: 1, r on D2: 1, and 4 more)" in line and "D3" not in line


def test_report_is_empty_when_every_fit_converged_else_the_line_and_the_key_of_the_mark():
    assert convergence.report("null", convergence.tally([("r", "A", True)]), "lbfgsb", "p from such fits") == []
    lines = convergence.report("null", convergence.tally([("r", "A", False)]), "lbfgsb", "p from such fits")
    assert len(lines) == 2 and lines[0].startswith("null: 1 of 1 fits") and lines[1] == "* p from such fits"
    assert len(convergence.report("null", convergence.tally([("r", "A", False)]), "lbfgsb")) == 1
    assert convergence.marked("0.048", False) == "0.048*" and convergence.marked("0.048", True) == "0.048"


# --- the methods: what a row of fits says -----------------------------------------------


def test_the_folds_of_a_group_say_which_numbers_stand_on_unconverged_fits():
    flags = heldout.convergence_of(np.array([True, True, False, True]))
    assert (flags.unconverged, flags.in_sample, flags.heldout) == (1, True, False)
    flags = heldout.convergence_of(np.array([False, True, True]))
    assert (flags.unconverged, flags.in_sample, flags.heldout) == (1, False, True)


def _row(rep, delta, realization, ev, converged):
    return robustness.SweepRow(rep, "A", delta, np.nan, realization, ev, ev, 3, converged)


def test_an_area_counts_its_unconverged_fits_and_a_relative_area_stmfs_too():
    rows = [_row(rep, delta, k, ev, not (rep == "stmf" and delta == 1.0 and k == 0))
            for rep in ("stmf", "mfcc") for delta, ev in ((0.1, 0.8), (1.0, 0.5), (10.0, 0.1)) for k in range(2)]
    table = degradation.auc_table(rows)
    assert (table[("stmf", "A")]["unconverged"], table[("stmf", "A")]["converged"]) == (1, False)
    # mfcc's own fits all converged, but its dB is relative to stmf's area
    assert (table[("mfcc", "A")]["unconverged"], table[("mfcc", "A")]["converged"]) == (0, False)
    fine = degradation.auc_table([r for r in rows if r.representation == "mfcc"])
    assert (fine[("mfcc", "A")]["unconverged"], fine[("mfcc", "A")]["converged"]) == (0, True)


def study(l: int, n: int, seed: int, name: str) -> FeatureSet:
    """l sounds x n features rated by a hidden weighting plus noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(l, n))
    i, j = pair_indices(l)
    d = (((F[i] - F[j]) ** 2) * rng.uniform(0.2, 2.0, size=n)).sum(axis=1)
    s = d + rng.normal(scale=0.3 * d.std(), size=len(d))
    R = np.full((l, l), np.nan)
    R[i, j] = R[j, i] = (s - s.min()) / np.ptp(s)
    return FeatureSet(name, "rep", F, R, tuple(f"s{k}" for k in range(l)), metadata={"source": "test"})


A, B = study(10, 6, 0, "A"), study(9, 6, 1, "B")
CAPPED = Exact(max_steps=1)  # one column entered: the optimum of these studies needs more, not certified


def test_evaluate_flags_p_and_heldout_computed_from_uncertified_fits(monkeypatch, tmp_path):
    (row,) = evaluate.evaluate_sets([A], permutations=9, seed=0, samples=0, progress=False)
    assert (row.uncertified, row.null_certified, row.heldout_certified) == (0, True, True)
    calm = evaluate.summary(evaluate.EvaluateResult([row]))
    assert not any(line.startswith("evaluate:") for line in calm) and "*" not in "\n".join(calm[:3])
    monkeypatch.setattr(evaluate, "Exact", lambda: CAPPED)
    (row,) = evaluate.evaluate_sets([A], permutations=9, seed=0, samples=0, progress=False)
    assert not row.null_certified and not row.heldout_certified and 0 < row.uncertified <= 10 + 11
    lines = evaluate.summary(evaluate.EvaluateResult([row]))
    count = f"evaluate: {row.uncertified} of 21 fits were not certified (rep on A: {row.uncertified})"
    assert count in "\n".join(lines)
    assert f"{row.null_p:.3f}*" in lines[2] and f"{row.heldout_ev:.3f}*" in lines[2]
    (path,) = evaluate.write(evaluate.EvaluateResult([row]), tmp_path)
    with open(path, newline="") as fh:
        header, line = list(csv.reader(fh))
    at = header.index("uncertified")
    assert header[at:at + 3] == ["uncertified", "null_certified", "heldout_certified"]
    assert line[at:at + 3] == [str(row.uncertified), "False", "False"]


def test_transfer_says_which_rows_were_learned_by_an_uncertified_fit(monkeypatch, tmp_path):
    monkeypatch.setattr(transfer, "Exact", lambda: CAPPED)
    fits = transfer.learned([A, B])
    assert not any(f.certified for f in fits)
    names, ev, zeroshot = transfer.matrix([A, B], fits)
    result = transfer.result_of("rep", names, ev, zeroshot, certified=[f.certified for f in fits])
    lines = transfer.summary(result)
    assert "transfer: 2 of 2 fits were not certified (rep on A: 1, rep on B: 1)" in "\n".join(lines)
    assert f"in-sample {ev[0, 0]:.3f}*" in lines[1]
    (path, _) = transfer.write(result, tmp_path)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][-1] == "certified" and {r[-1] for r in rows[1:]} == {"False"}
    # unknown (a matrix built without its fits): empty cells, no count, no mark
    plain = transfer.result_of("rep", names, ev, zeroshot)
    assert not any("certified (" in line for line in transfer.summary(plain))


# --- the commands: the count printed, the flag written, silence when all converged ---------


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(capsys, *args) -> str:
    assert cli.main(["--quiet", *args]) == 0
    return capsys.readouterr().out


CELL = ["--representations", "cochlea", "--datasets", "Grey1977"]


@needs_mirror
def test_null_counts_its_unconverged_fits_and_marks_their_p(tmp_path, capsys):
    out = _run(capsys, "null", "--solver", "lbfgsb", "--maxiter", "3", *CELL, "--permutations", "5",
               "--out", str(tmp_path / "short"))
    fits = _csv(tmp_path / "short" / "null.csv")
    stopped = sum(r["converged"] == "False" for r in fits)
    assert len(fits) == 6 and stopped > 0
    (row,) = _csv(tmp_path / "short" / "summary.csv")
    assert int(row["unconverged"]) == stopped and row["converged"] == "False"
    assert f"null: {stopped} of 6 fits did not converge (cochlea on Grey1977: {stopped})" in out
    assert f"p = {float(row['p_value']):.3f}*" in out and "\n* p computed from fits that did not converge" in out
    out = _run(capsys, "null", "--solver", "exact", *CELL, "--permutations", "5", "--out", str(tmp_path / "exact"))
    (row,) = _csv(tmp_path / "exact" / "summary.csv")
    assert (row["unconverged"], row["converged"]) == ("0", "True")
    assert {r["converged"] for r in _csv(tmp_path / "exact" / "null.csv")} == {"True"}
    assert "did not converge" not in out and "certified" not in out and "*" not in out


@needs_mirror
def test_crossval_flags_the_heldout_ev_of_unconverged_folds(tmp_path, capsys):
    out = _run(capsys, "crossval", "--solver", "lbfgsb", "--maxiter", "3", *CELL, "--out", str(tmp_path / "short"))
    (row,) = _csv(tmp_path / "short" / "crossval.csv")
    assert int(row["unconverged"]) > 0 and row["heldout_converged"] == "False"
    assert f"held-out {float(row['heldout_ev']):.3f}*" in out
    assert f"crossval: {row['unconverged']} of 17 fits did not converge" in out
    out = _run(capsys, "crossval", "--solver", "exact", *CELL, "--out", str(tmp_path / "exact"))
    (row,) = _csv(tmp_path / "exact" / "crossval.csv")
    assert (row["unconverged"], row["in_sample_converged"], row["heldout_converged"]) == ("0", "True", "True")
    assert "did not converge" not in out and "*" not in out


@needs_mirror
def test_robustness_prints_the_count_and_counts_the_fits_behind_each_area(tmp_path, capsys):
    out = _run(capsys, "robustness", "--solver", "lbfgsb", "--maxiter", "3", *CELL, "--levels", "2",
               "--realizations", "1", "--out", str(tmp_path))
    stopped = sum(r["converged"] == "False" for r in _csv(tmp_path / "robustness.csv"))
    (area,) = _csv(tmp_path / "auc.csv")
    assert stopped > 0 and int(area["unconverged"]) == stopped and area["converged"] == "False"
    assert f"robustness: {stopped} of 2 fits did not converge (cochlea on Grey1977: {stopped})" in out


@needs_mirror
def test_table_marks_the_printed_cells_and_keeps_table1_csv_as_it_was(tmp_path, capsys):
    out = _run(capsys, "table", "--solver", "lbfgsb", "--maxiter", "3", "--representations", "cochlea",
               "--datasets", "Grey1977,Iverson1993_Whole", "--out", str(tmp_path))
    fits = _csv(tmp_path / "fits.csv")
    assert {r["converged"] for r in fits} == {"False"}
    table1 = (tmp_path / "table1.csv").read_text()
    assert "*" not in table1 and table1.splitlines()[0] == "dataset,cochlea"
    ev = {r["dataset"]: float(r["explained_variance"]) for r in fits}
    assert f"| Grey1977 | {ev['Grey1977']:.2f}* (" in out and "| **median** | " in out
    assert "table: 2 of 2 fits did not converge (cochlea on Grey1977: 1, cochlea on Iverson1993_Whole: 1)" in out


@needs_mirror
def test_learn_prints_the_count_line_and_keeps_converged_in_its_file(tmp_path, capsys):
    weights = tmp_path / "w.npz"
    out = _run(capsys, "learn", "--solver", "lbfgsb", "--maxiter", "3", "--representation", "cochlea",
               "--dataset", "Grey1977", "--out", str(weights))
    assert "learn: 1 of 1 fits did not converge (cochlea on Grey1977: 1)" in out
    assert json.loads(str(np.load(weights)["metadata"]))["converged"] is False
    out = _run(capsys, "learn", "--solver", "exact", "--representation", "cochlea", "--dataset", "Grey1977")
    assert "of 1 fits" not in out


@needs_mirror
def test_the_exact_analyses_count_uncertified_fits(monkeypatch, tmp_path):
    """leaderboard and audit with an exact solver that cannot certify: the count line and
    the column; with the real one, neither the line nor a non-zero count."""
    for module in (leaderboard, audit):
        monkeypatch.setattr(module, "Exact", lambda: CAPPED)
    board = leaderboard.run(["cochlea"], ["Grey1977"], samples=0, progress=False)
    (learned,) = [x for x in board.studies if x["distance"] == "learned"]
    assert learned["uncertified"] > 0
    assert any(line.startswith(f"leaderboard: {learned['uncertified']} of 17 fits were not certified")
               for line in leaderboard.summary(board))
    leaderboard.write(board, tmp_path)
    rows = _csv(tmp_path / "leaderboard_studies.csv")
    assert [r["uncertified"] for r in rows if r["distance"] == "learned"] == [str(learned["uncertified"])]
    assert {r["uncertified"] for r in rows if r["distance"] != "learned"} == {""}
    checked = audit.run(["cochlea"], ["Grey1977"], permutations=3)
    (record,) = checked.records
    assert record["uncertified"] > 0 and record["certified"] is False
    assert any(line.startswith(f"audit: {record['uncertified']} of 4 fits were not certified")
               for line in audit.summary(checked))
    monkeypatch.undo()
    board = leaderboard.run(["cochlea"], ["Grey1977"], samples=0, progress=False)
    assert [x["uncertified"] for x in board.studies if x["distance"] == "learned"] == [0]
    assert not any("certified" in line for line in leaderboard.summary(board))


def test_crossval_score_without_flags_counts_nothing():
    fs = A
    l = len(fs.sounds)
    distances = np.tile(np.arange(1.0, fs.pairs.size + 1), (l + 1, 1))
    row = crossval.score(fs, distances, 0.9)
    assert (row.unconverged, row.in_sample_converged, row.heldout_converged) == (0, True, True)
    flags = np.ones(l + 1, dtype=bool)
    flags[3] = False
    row = crossval.score(fs, distances, 0.9, flags)
    assert (row.unconverged, row.in_sample_converged, row.heldout_converged) == (1, True, False)
    assert pytest.approx(row.heldout_ev) == crossval.score(fs, distances, 0.9).heldout_ev
