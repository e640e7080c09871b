"""Every figure is readable on its own: a PNG is written, with a plain-words title that
names the representation, the source, the solver and the dataset where they apply (and
the explained variance where there is one), axis labels with their units, a colour bar
where colours carry numbers, a legend or caption saying what the marks mean, and words
where a representation or dataset has no data.  The figure object is captured just
before it is saved; the second half of the file checks this on small real data."""

from __future__ import annotations

import numpy as np

from conftest import needs_mirror
from timbre_jax.analyses import crossval, leaderboard, null
from timbre_jax.analyses.robustness import SweepRow
from timbre_jax.plots.crossval import plot_crossval
from timbre_jax.plots.null import plot_null
from timbre_jax.plots.robustness import plot_area_heatmap, plot_robustness_curves
from timbre_jax.plots.weights import plot_weights
from timbre_jax.solvers import Exact
from timbre_jax.stats.degradation import auc_table
from timbre_jax.stats.relabelling import compare_to_null

PNG = b"\x89PNG\r\n\x1a\n"
def texts(fig) -> str:
    """Every piece of text on the figure (titles, labels, ticks, legends, captions)."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))


def colorbars(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG


def rows(reps=("stmf", "encodec"), datasets=("Grey1977", "Grey1978"), realizations=3):
    deltas = np.logspace(-1, 1, 4)
    out = []
    for k, rep in enumerate(reps):
        for d in datasets:
            for i, dl in enumerate(deltas):
                for r in range(realizations):
                    ev = 0.8 / (1 + i) / (1 + k) + 0.01 * r
                    out.append(SweepRow(rep, d, float(dl), float(dl / 0.47), r, ev, ev, 10, True))
    return out


def test_fig1b_with_stmf_has_a_db_colour_bar_and_a_mean_row(tmp_path, captured):
    datasets = ["Grey1977", "Grey1978"]
    path = plot_area_heatmap(auc_table(rows()), datasets, ["encodec", "stmf"], tmp_path / "fig1b.png")
    assert is_png(path)
    fig, = captured
    # the reference column first, as in the paper
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()] == ["stmf", "encodec"]
    (cbar,) = colorbars(fig)
    assert "dB relative to stmf" in cbar.get_ylabel() and "10·log10(area / area of stmf)" in cbar.get_ylabel()
    heat = fig.axes[0]
    assert "area under the curve of explained variance against log10 δ" in heat.get_title()
    assert [t.get_text() for t in heat.get_yticklabels()] == datasets + ["mean over datasets"]
    assert "more robust than stmf" in texts(fig)


def test_fig1b_one_cell_without_stmf_is_readable(tmp_path, captured):
    auc = auc_table(rows(reps=("encodec",), datasets=("Grey1977",)))
    path = plot_area_heatmap(auc, ["Grey1977"], ["encodec"], tmp_path / "fig1b.png")
    assert is_png(path)
    fig, = captured
    (cbar,) = colorbars(fig)
    assert "area" in cbar.get_ylabel()
    lo, hi = cbar.get_ylim()
    assert lo == 0 and hi > auc[("encodec", "Grey1977")]["auc"]  # the cell is not the top of its own scale
    heat = fig.axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == ["Grey1977"]  # no redundant mean row
    assert "no stmf reference" in heat.get_title()


def test_fig1a_legend_says_what_the_dashed_line_and_error_bars_are(tmp_path, captured):
    path = plot_robustness_curves(rows(), "Grey1977", 0.1 * 22 ** 0.5, tmp_path / "fig1a.png")
    assert is_png(path)
    fig, = captured
    ax = fig.axes[0]
    legend = ax.get_legend()
    entries = [t.get_text() for t in legend.get_texts()]
    assert any("δ̄ = 0.1·√22" in e and "typical noise of the human ratings" in e for e in entries)
    assert {"stmf", "encodec"} <= {e.split(":")[0] for e in entries}
    title = legend.get_title().get_text()
    assert "± one standard deviation" in title and "3 noise realizations" in title
    assert ax.get_xlabel() == "noise level δ (noise std, rating units; log scale)"
    assert ax.get_ylabel() == "in-sample explained variance P²\nof the human ratings (unitless)"
    # an explicit count wins over the one read from the rows
    plot_robustness_curves(rows(), "Grey1977", 0.47, tmp_path / "fig1a.png", realizations=5)
    assert "5 noise realizations" in captured[1].axes[0].get_legend().get_title().get_text()


def test_null_crossval_and_weight_figures_say_what_they_show(tmp_path, captured):
    ev = np.r_[0.6, np.linspace(0.0, 0.4, 20)]
    s = compare_to_null("cochlea", "Grey1977", ev)
    assert is_png(plot_null([("cochlea", "Grey1977", k, float(e), 1) for k, e in enumerate(ev)], [s], "cochlea",
                            tmp_path / "null.png"))
    cv = [crossval.CrossvalRow("cochlea", "Grey1977", 0.5, 0.4, 0.16, 0.2, 16)]
    assert is_png(plot_crossval(cv, tmp_path / "crossval.png"))
    assert is_png(plot_weights(np.linspace(1, 2, 8), "encodec", tmp_path / "w.png"))
    fig_null, fig_cv, fig_w = captured
    t = texts(fig_null)
    assert "randomly relabelled" in t and "true sound labels" in t and "20 relabellings" in t
    assert "95th percentile" in t
    t = texts(fig_cv)
    assert "in-sample explained variance" in t and "held-out explained variance" in t and "leave one sound out" in t
    t = texts(fig_w)
    assert "1/w²" in t and "feature index" in t


def titles(fig) -> str:
    """The figure's suptitle and every axes' title."""
    own = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return "\n".join([own] + [ax.get_title() for ax in fig.axes])


def assert_axes_labelled(fig) -> None:
    """Every axes that is not a colour bar has both axis labels, and every colour bar has one."""
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel() or ax.get_xlabel(), "colour bar without a label"
        else:
            assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axes {ax.get_title()!r}"


# ----------------------------------------------------------------------------- real data


@needs_mirror
def test_robustness_figures_name_what_is_missing_and_where_they_come_from(tmp_path, captured):
    """stmf has no upstream features for Grey1977: Fig. 1b says so in the cell (and shows
    encodec's area there) instead of leaving the row blank, and Fig. 1a's legend says so."""
    from timbre_jax.analyses import robustness

    result = robustness.run(["stmf", "encodec"], ["Grey1977", "Barthet2010"], source="upstream", solver=Exact(),
                            n_levels=2, realizations=1, progress=False)
    robustness.write(result, tmp_path)
    by_name = dict(zip(["Grey1977", "Barthet2010", "fig1b"], captured))
    heat = by_name["fig1b"]
    cells = [t.get_text() for t in heat.axes[0].texts]
    assert "no stmf\nfeatures" in cells
    assert any(c.startswith("area ") and "no stmf here" in c for c in cells)  # encodec on Grey1977
    assert "relative to stmf" in heat.axes[0].get_title()
    assert_axes_labelled(by_name["Grey1977"])
    legend = [t.get_text() for t in by_name["Grey1977"].axes[0].get_legend().get_texts()]
    assert any(e.startswith("stmf: no features for Grey1977") for e in legend)
    assert any(e.startswith("encodec: P² ") for e in legend)  # the EV at the smallest and largest delta
    # given the source and solver, both figures name them with the dataset and representations
    plot_robustness_curves(result.rows, "Barthet2010", 0.5, tmp_path / "a.png", source="upstream",
                                  solver="exact", skipped=result.skipped)
    t = titles(captured[-1])
    assert all(w in t for w in ("Barthet2010", "stmf", "encodec", "upstream features", "exact solver"))
    plot_area_heatmap(auc_table(result.rows), ["Grey1977", "Barthet2010"], ["stmf", "encodec"],
                             tmp_path / "b.png", source="upstream", solver="exact")
    assert "upstream features, exact solver" in titles(captured[-1])


@needs_mirror
def test_null_figures_of_two_sources_have_different_titles(tmp_path, captured):
    from timbre_jax.data import datasets, imported

    fs = datasets.load("Grey1977", "cochlea", "upstream")
    np.save(tmp_path / "mine.npy", fs.features[:, ::-1].copy())
    imported.import_features(tmp_path / "mine.npy", "Grey1977", "cochlea", source="mine")
    for src in ("upstream", "mine"):
        result = null.run(["cochlea", "stmf"], ["Grey1977"], source=src, solver=Exact(), permutations=4,
                          progress=False)
        null.write(result, tmp_path / src)
    up, mine = captured
    assert titles(up) != titles(mine)
    for fig, src in ((up, "upstream"), (mine, "mine")):
        t = titles(fig)
        assert all(w in t for w in ("cochlea", f"{src} features", "exact solver", "Grey1977: observed P² "))
        assert_axes_labelled(fig)
        assert any(x.get_text().startswith("P² ") for x in fig.axes[0].texts)  # the observed EV by its diamond


@needs_mirror
def test_crossval_transfer_and_weight_map_titles(tmp_path, captured):
    from timbre_jax.analyses import transfer
    from timbre_jax.data import datasets
    from timbre_jax.fit import learn

    cv = crossval.run(["cochlea"], ["Grey1977", "Barthet2010"], source="upstream", solver=Exact(), progress=False)
    plot_crossval(cv.rows, tmp_path / "cv.png", source="upstream", solver="exact", skipped=cv.skipped)
    tr = transfer.run(["cochlea"], ["Grey1977", "Grey1978"], source="upstream")
    transfer.write(tr, tmp_path)
    fs = datasets.load("Barthet2010", "stmf", "upstream")
    res = learn.learn_metric(fs.features, fs.ratings, solver=Exact())
    plot_weights(res.weights, "stmf", tmp_path / "map_stmf.png", ev=res.explained_variance, solver="exact",
                        source="upstream", datasets=["Barthet2010"])
    fig_cv, fig_tr, fig_w = captured
    t = titles(fig_cv)
    assert all(w in t for w in ("cochlea", "upstream features", "exact solver", "median P²: in-sample"))
    assert {x.get_text() for x in fig_cv.axes[0].texts} >= {"Grey1977", "Barthet2010"}  # the points are named
    t = titles(fig_tr)
    assert all(w in t for w in ("cochlea", "upstream features", "exact solver", "median in-sample EV"))
    assert fig_tr.axes[0].get_xlabel() == "scored on (study)"
    t = titles(fig_w)
    assert all(w in t for w in ("stmf: Barthet2010", "upstream features", "exact solver",
                                f"explained variance P² = {res.explained_variance:.3f}"))
    for fig in (fig_cv, fig_tr, fig_w):
        assert_axes_labelled(fig)
    labels = " ".join(ax.get_xlabel() + " " + ax.get_ylabel() for ax in fig_w.axes)
    assert "(Hz)" in labels and "(cycles/octave)" in labels and "frequency channel (index" in labels
    assert "arbitrary units" in labels  # the colour bars


@needs_mirror
def test_leaderboard_figures_say_which_representation_has_no_features(tmp_path, captured):
    result = leaderboard.run(["cochlea", "stmf"], ["Grey1977", "Barthet2010"], source="upstream", samples=20,
                             progress=False)
    leaderboard.write(result, tmp_path)
    board, *compare = captured
    t = titles(board)
    assert all(w in t for w in ("cochlea", "stmf", "2 studies", "upstream features", "exact solver",
                                "ranked by the held-out"))  # in the order of the ranking
    assert_axes_labelled(board)
    grey = next(f for f in compare if "Grey1977" in titles(f))
    assert "upstream features, exact solver" in titles(grey)
    assert "no stmf features" in texts(grey)
    assert_axes_labelled(grey)
