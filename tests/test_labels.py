"""Every number of a learned metric says how it was scored (issue #34): in-sample (the fit
saw the pairs it is scored on), held-out (it did not) or zero-shot (no fit), on every
figure and printed summary; and the leaderboard ranks by a held-out number, never an
in-sample one.  The first half uses constructed inputs; the second runs the commands on
small real data."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_mirror
from timbre_jax import cli
from timbre_jax.analyses import crossval, leaderboard
from timbre_jax.analyses.robustness import SweepRow
from timbre_jax.data.datasets import FeatureSet
from timbre_jax.plots.crossval import plot_crossval
from timbre_jax.plots.leaderboard import plot_leaderboard
from timbre_jax.plots.null import plot_null
from timbre_jax.plots.robustness import plot_area_heatmap, plot_robustness_curves
from timbre_jax.plots.transfer import plot_transfer
from timbre_jax.plots.weights import plot_weights
from timbre_jax.stats import rank_metrics, scores
from timbre_jax.stats.degradation import auc_table
from timbre_jax.stats.relabelling import compare_to_null


def labels(fig) -> str:
    """The words a reader reads first: the suptitle, each axes' title and axis labels, and
    the legends."""
    out = [fig._suptitle.get_text() if fig._suptitle is not None else ""]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return "\n".join(out)


# ----------------------------------------------------------------------------- held-out rank metrics


def _study(l=7, seed=0):
    """A study of ``l`` sounds with one unrated pair, and made-up fits (l + 1, p) whose
    folds differ from each other and from the in-sample fit."""
    rng = np.random.default_rng(seed)
    ratings = rng.uniform(0, 1, (l, l))
    ratings = (ratings + ratings.T) / 2
    np.fill_diagonal(ratings, np.nan)
    ratings[0, 3] = ratings[3, 0] = np.nan
    fs = FeatureSet("Made1999", "madeup", rng.standard_normal((l, 3)), ratings, tuple(f"s{k}" for k in range(l)))
    fits = rng.uniform(0.1, 2.0, (l + 1, l * (l - 1) // 2))
    return fs, fits


def test_each_anchor_is_scored_by_the_fold_that_left_it_out():
    fs, fits = _study()
    l = len(fs.sounds)
    H = scores.heldout_matrix(fits, l)
    st = scores.study(fs, fits)
    got = scores.numbers(st)
    # by hand: anchor k's row of the (symmetric) distance matrix of fold k, nothing else
    per_anchor = {m: [] for m in rank_metrics.ANCHOR_METRICS}
    for k in range(l):
        fold = scores.square(np.sqrt(fits[k + 1]), l)
        np.testing.assert_array_equal(H[k], fold[k])
        for m, values in rank_metrics.anchor_values(fold, fs.ratings).items():
            per_anchor[m].append(values[k])
    for m in rank_metrics.ANCHOR_METRICS:
        assert got[("learned", f"heldout_{m}")] == pytest.approx(np.nanmean(per_anchor[m]), abs=1e-12), m
    # the in-sample numbers are those of fit 0 alone, and differ from the held-out ones here
    in_sample = rank_metrics.study_metrics(scores.square(np.sqrt(fits[0]), l), fs.ratings)
    assert got[("learned", "anchor_spearman")] == pytest.approx(in_sample["anchor_spearman"], abs=1e-12)
    assert got[("learned", "anchor_spearman")] != pytest.approx(got[("learned", "heldout_anchor_spearman")])
    assert ("learned", "heldout_mae") not in got  # no held-out MAE: the folds' scales differ
    # a bootstrap sample scores the held-out rows it draws, each still by its own fold
    idx = np.array([0, 0, 1, 2, 4, 5, 6])
    valid = (idx[:, None] != idx[None, :]) & np.isfinite(fs.ratings[np.ix_(idx, idx)])
    want = rank_metrics.study_metrics(H[np.ix_(idx, idx)], fs.ratings[np.ix_(idx, idx)], valid=valid)
    assert scores.numbers(st, idx)[("learned", "heldout_ndcg")] == pytest.approx(want["ndcg"], abs=1e-12)


def _board(reps, in_sample, held_out, held_ev):
    """Leaderboard rows of constructed numbers: per representation its zero-shot
    (euclidean, cosine) and learned rows."""
    rows = []
    for r, a, b, e in zip(reps, in_sample, held_out, held_ev):
        for kind in ("euclidean", "cosine", "learned"):
            learned = kind == "learned"
            rows.append(dict(representation=r, distance=kind, studies=3, sounds=40,
                             anchor_spearman=a if learned else 0.3, anchor_kendall=0.2, triplet_agreement=0.6,
                             ndcg=0.9, mae=0.2, ev_median=0.9 if learned else 0.1,
                             heldout_ev_median=e if learned else np.nan,
                             **{f"heldout_{m}": (b if learned else np.nan) if m == "anchor_spearman"
                                else (0.5 if learned else np.nan) for m in rank_metrics.ANCHOR_METRICS}))
    return rows


def test_the_leaderboard_ranks_by_the_held_out_number_not_the_in_sample_one(tmp_path, captured, capsys):
    # in-sample order: crepe, mertcat, cochlea, stmf; held-out order: cochlea, stmf, mertcat, crepe
    rows = _board(["mertcat", "cochlea", "crepe", "stmf"], in_sample=[0.95, 0.7, 0.98, 0.6],
                  held_out=[0.2, 0.65, 0.05, 0.65], held_ev=[0.01, 0.40, 0.19, 0.30])
    assert leaderboard.ranking(rows) == ["cochlea", "stmf", "mertcat", "crepe"]  # a tie: the held-out EV decides
    ranked = leaderboard.with_ranks(rows)
    assert [(x["representation"], x["distance"]) for x in ranked] == [(x["representation"], x["distance"])
                                                                      for x in rows]  # the rows keep their order
    assert {x["representation"]: x["heldout_rank"] for x in ranked} == {"cochlea": 1, "stmf": 2, "mertcat": 3,
                                                                         "crepe": 4}
    assert list(ranked[0]) == [*rows[0], "heldout_rank"]  # the new column last
    # a representation without a held-out number comes last, whatever its in-sample number
    nan = _board(["a", "b"], in_sample=[0.99, 0.1], held_out=[np.nan, 0.0], held_ev=[np.nan, 0.0])
    assert leaderboard.ranking(nan) == ["b", "a"]

    plot_leaderboard(ranked, tmp_path / "leaderboard.png", source="upstream")
    (fig,) = captured
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["#1 cochlea", "#2 stmf", "#3 mertcat", "#4 crepe"]
    words = labels(fig)
    assert "ranked by the held-out per-anchor Spearman of the learned metric" in words
    assert {"learned, in-sample", "learned, held-out", "euclidean, zero-shot (no fit)",
            "cosine, zero-shot (no fit)"} <= set(words.split("\n"))

    result = leaderboard.LeaderboardResult(ranked, [], [], 0)
    lines = leaderboard.summary(result)
    assert lines[0].split()[:4] == ["rank", "representation", "distance", "scored"]
    table = [x.split() for x in lines[1:1 + 4 * 4]]  # 4 lines per representation
    assert [(x[0], x[1]) for x in table if x[0].isdigit()] == [("1", "cochlea"), ("2", "stmf"), ("3", "mertcat"),
                                                               ("4", "crepe")]
    cochlea = [x[1:] if x[0].isdigit() else x for x in table if "cochlea" in x]
    assert [" ".join(x[1:3]) for x in cochlea] == ["learned held-out", "learned in-sample", "euclidean zero-shot",
                                                   "cosine zero-shot"]
    assert all(" ".join(x[3:5]) == "(no fit)" for x in cochlea[2:])
    assert [x[-6] for x in cochlea[:2]] == ["0.650", "0.700"]  # per-anchor Spearman: held-out, then in-sample
    assert "never by an in-sample number" in "\n".join(lines)


# ----------------------------------------------------------------------------- every figure


def _sweep_rows(dataset="Grey1977"):
    return [SweepRow(rep, dataset, float(dl), float(dl) / 0.47, 0, ev, ev, 10, True)
            for k, rep in enumerate(("stmf", "encodec")) for dl, ev in zip((0.1, 1.0, 10.0), (0.8, 0.5, 0.2 / (1 + k)))]


def test_every_figure_says_in_sample_or_held_out(tmp_path, captured):
    ev = np.r_[0.6, np.linspace(0.0, 0.4, 20)]
    plot_null([("cochlea", "Grey1977", k, float(e), 1) for k, e in enumerate(ev)],
              [compare_to_null("cochlea", "Grey1977", ev)], "cochlea", tmp_path / "null.png")
    plot_crossval([crossval.CrossvalRow("cochlea", "Grey1977", 0.5, 0.4, 0.16, 0.2, 16)], tmp_path / "cv.png")
    plot_robustness_curves(_sweep_rows(), "Grey1977", 0.47, tmp_path / "fig1a.png")
    plot_area_heatmap(auc_table(_sweep_rows()), ["Grey1977"], ["stmf", "encodec"], tmp_path / "fig1b.png")
    names = ["Grey1977", "Grey1978"]
    plot_transfer("cochlea", names, np.array([[0.6, 0.1], [0.05, 0.5]]), np.array([0.2, 0.3]), 0.55, 0.075,
                  tmp_path / "transfer.png")
    plot_weights(np.linspace(1, 2, 8), "encodec", tmp_path / "w.png", ev=0.42)
    null, cv, fig1a, fig1b, transfer, weights = (labels(f) for f in captured)
    assert "in-sample explained variance" in null  # the observed EV and the null's alike
    assert "in-sample explained variance" in cv and "held-out explained variance" in cv
    assert "in-sample" in fig1a and "of the same pairs" in fig1a  # in-sample with respect to the sounds
    assert "(in-sample)" in fig1b
    assert "in-sample EV" in transfer and "(diagonal)" in transfer and "held-out study" in transfer
    assert "zero-shot (no fit, w = 1)" in [t.get_text() for t in captured[4].axes[0].get_yticklabels()]
    assert "in-sample explained variance P² = 0.420" in weights


def test_the_comparison_figures_of_the_leaderboard_say_held_out(tmp_path, captured):
    study = dict(distance="learned", dataset="Grey1977", source="upstream", heldout_ev=0.3, heldout_ev_low=0.2,
                 heldout_ev_high=0.4)
    rows = leaderboard.with_ranks(_board(["cochlea", "encodec"], [0.7, 0.8], [0.6, 0.1], [0.3, 0.05]))
    result = leaderboard.LeaderboardResult(rows, [{**study, "representation": r} for r in ("cochlea", "encodec")],
                                           [], 10)
    leaderboard.write(result, tmp_path)
    board, compare = captured
    assert "held-out" in labels(board) and "in-sample" in labels(board)
    t = labels(compare)
    assert "held-out EV of the learned metric" in t and "held-out explained variance" in t


# ----------------------------------------------------------------------------- printed summaries, real data


def _printed(capsys, *argv) -> str:
    assert cli.main(["--quiet", *argv]) == 0
    return capsys.readouterr().out


@needs_mirror
def test_every_printed_summary_says_in_sample_or_held_out(tmp_path, capsys):
    where = ["--representation", "cochlea", "--dataset", "Grey1977", "--solver", "exact"]
    assert "explained variance" in (out := _printed(capsys, "learn", *where)) and " in-sample (P = " in out
    many = ["--representations", "cochlea", "--datasets", "Grey1977", "--solver", "exact"]
    out = _printed(capsys, "table", *many, "--out", str(tmp_path / "table"))
    assert "in-sample: each metric scored on the pairs it was fitted on" in out
    out = _printed(capsys, "crossval", *many, "--out", str(tmp_path / "crossval"))
    assert "in-sample " in out and "held-out " in out
    out = _printed(capsys, "null", *many, "--permutations", "3", "--out", str(tmp_path / "null"))
    assert "in-sample EV: observed " in out
    out = _printed(capsys, "evaluate", "--representations", "cochlea", "--datasets", "Grey1977", "--permutations",
                   "3", "--bootstrap", "0", "--out", str(tmp_path / "evaluate"))
    header = next(x for x in out.splitlines() if x.startswith("representation"))
    assert "in-sample EV" in header and "held-out EV" in header
    out = _printed(capsys, "transfer", "--representations", "cochlea", "--datasets", "Grey1977,Grey1978",
                   "--out", str(tmp_path / "transfer"))
    assert "median in-sample EV" in out and "held-out study" in out
    out = _printed(capsys, "leaderboard", "--representations", "cochlea,encodec", "--datasets", "Grey1977",
                   "--bootstrap", "0", "--out", str(tmp_path / "leaderboard"))
    lines = out.splitlines()
    first = next(i for i, x in enumerate(lines) if x.split()[:1] == ["rank"])
    assert lines[first + 1].split()[:4] == ["1", lines[first + 1].split()[1], "learned", "held-out"]
