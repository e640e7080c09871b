"""The noise ceiling beside every EV: evaluate's and leaderboard's ceiling columns on
Lakatos2000_Comb (17 participants) against the numbers computed again here, and empty on
a study with mean ratings only."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import Exact, learn_metric
from timbre_jax.analyses import evaluate, leaderboard, robustness
from timbre_jax.core.pearson import pair_differences
from timbre_jax.data import datasets
from timbre_jax.stats import ceiling, reliability

pytestmark = needs_mirror


def loop_bounds(X):
    """rsatoolbox's leave-one-participant-out bounds, written out: each participant against
    the mean of the others and against the mean of all, averaged."""
    lower = [np.corrcoef(X[k], np.delete(X, k, 0).mean(0))[0, 1] for k in range(len(X))]
    upper = [np.corrcoef(X[k], X.mean(0))[0, 1] for k in range(len(X))]
    return np.mean(lower), np.mean(upper)


@pytest.fixture(scope="module")
def comb():
    fs = datasets.load("Lakatos2000_Comb", "cochlea")
    X = datasets.participants("Lakatos2000_Comb").pairs
    return fs, X


def test_evaluate_rows_carry_the_ceiling(comb):
    fs, X = comb
    rows = evaluate.run(["cochlea"], ["Lakatos2000_Comb", "Grey1977"], permutations=3, samples=0,
                        progress=False).rows
    (row,) = [r for r in rows if r.dataset == "Lakatos2000_Comb"]
    c = row.ceiling
    lower, upper = loop_bounds(X)
    assert (c["ceiling_lower"], c["ceiling_upper"]) == pytest.approx((lower, upper), abs=1e-12)
    assert (lower, upper) == pytest.approx((0.7225, 0.7586), abs=1e-4)  # the figures, from the raw file
    half = reliability.split_half(X, seed=0)
    assert c["ceiling_ev"] == half.median and c["participants"] == 17
    assert c["ev_of_ceiling"] == pytest.approx(row.ev_exact / half.median, rel=1e-9)
    assert c["heldout_ev_of_ceiling"] == pytest.approx(row.heldout_ev / half.median, rel=1e-9)
    fit = learn_metric(fs.features, fs.ratings, solver=Exact())
    d = pair_differences(fs.features) @ fit.weights ** -2.0
    r = np.mean([np.corrcoef(d, x)[0, 1] for x in X])
    assert c["participant_r"] == pytest.approx(r, abs=1e-6)
    assert c["participant_r"] <= upper  # no model of the mean beats the mean itself
    (grey,) = [r for r in rows if r.dataset == "Grey1977"]
    assert all(grey.ceiling[k] is None for k in ceiling.COLUMNS)
    line = "\n".join(evaluate.summary(evaluate.EvaluateResult(rows)))
    assert "cochlea/Lakatos2000_Comb: noise ceiling EV 0.954" in line and "Grey1977: noise ceiling" not in line


def test_leaderboard_rows_carry_the_ceiling(comb):
    fs, X = comb
    result = leaderboard.run(["cochlea"], ["Lakatos2000_Comb", "Grey1977"], samples=0, progress=False)
    ceil = ceiling.noise_ceiling(X, seed=0).ev
    rows = {(x["dataset"], x["distance"]): x for x in result.studies}
    euclid = rows[("Lakatos2000_Comb", "euclidean")]
    d = pair_differences(fs.features).sum(axis=1)
    assert euclid["ev_of_ceiling"] == pytest.approx(euclid["ev"] / ceil, rel=1e-9)
    assert euclid["participant_r"] == pytest.approx(np.mean([np.corrcoef(d, x)[0, 1] for x in X]), abs=1e-9)
    learned = rows[("Lakatos2000_Comb", "learned")]
    assert learned["heldout_ev_of_ceiling"] == pytest.approx(learned["heldout_ev"] / ceil, rel=1e-9)
    assert rows[("Grey1977", "learned")]["ceiling_ev"] is None
    pooled = {x["distance"]: x for x in result.rows}
    assert pooled["learned"]["ceiling_studies"] == 1
    assert pooled["learned"]["heldout_ev_of_ceiling_median"] == pytest.approx(learned["heldout_ev_of_ceiling"])


def test_robustness_marks_the_measured_noise(comb, tmp_path):
    """The noise of the mean ratings in δ units: the median over pairs of each pair's
    standard error across participants (written out here), on Fig. 1a and in the summary."""
    _, X = comb
    sem = np.median([np.std(x, ddof=1) / np.sqrt(len(x)) for x in X.T])
    result = robustness.run(["cochlea"], ["Lakatos2000_Comb", "Grey1977"], realizations=1, n_levels=2,
                            progress=False)
    assert set(result.measured) == {"Lakatos2000_Comb"}
    delta, m = result.measured["Lakatos2000_Comb"]
    assert m == 17 and delta == pytest.approx(sem, rel=1e-12)
    assert f"measured from its 17 participants: δ = {sem:.3f}" in "\n".join(robustness.summary(result))
    scaled = robustness.measured_noise(X, std_scale=True)
    assert scaled == pytest.approx(sem / np.std(X.mean(0)), rel=1e-12)
