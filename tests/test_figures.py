"""Every figure is readable on its own: a PNG is written, with a plain-words title, axis
labels, a colour bar where colours carry numbers, and a legend or caption saying what the
marks mean.  The figure object is captured just before it is saved."""

from __future__ import annotations

import numpy as np
import pytest

from timbre_jax import crossval, null, report
from timbre_jax.robustness import SweepRow, auc_table

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def captured(monkeypatch):
    """The figures handed to report.save_figure (still saved), in call order."""
    figs = []
    save = report.save_figure

    def spy(fig, path):
        figs.append(fig)
        return save(fig, path)

    monkeypatch.setattr(report, "save_figure", spy)
    return figs


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
    path = report.plot_area_heatmap(auc_table(rows()), datasets, ["encodec", "stmf"], tmp_path / "fig1b.png")
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
    path = report.plot_area_heatmap(auc, ["Grey1977"], ["encodec"], tmp_path / "fig1b.png")
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
    path = report.plot_robustness_curves(rows(), "Grey1977", 0.1 * 22 ** 0.5, tmp_path / "fig1a.png")
    assert is_png(path)
    fig, = captured
    ax = fig.axes[0]
    legend = ax.get_legend()
    entries = [t.get_text() for t in legend.get_texts()]
    assert any("δ̄ = 0.1·√22" in e and "typical noise of the human ratings" in e for e in entries)
    assert {"stmf", "encodec"} <= set(entries)
    title = legend.get_title().get_text()
    assert "± one standard deviation" in title and "3 noise realizations" in title
    assert ax.get_xlabel() == "noise level δ (log10)"
    assert ax.get_ylabel() == "explained variance of the human ratings"
    # an explicit count wins over the one read from the rows
    report.plot_robustness_curves(rows(), "Grey1977", 0.47, tmp_path / "fig1a.png", realizations=5)
    assert "5 noise realizations" in captured[1].axes[0].get_legend().get_title().get_text()


def test_null_crossval_and_weight_figures_say_what_they_show(tmp_path, captured):
    ev = np.r_[0.6, np.linspace(0.0, 0.4, 20)]
    s = null.summarize("cochlea", "Grey1977", ev)
    assert is_png(report.plot_null([("cochlea", "Grey1977", k, float(e), 1) for k, e in enumerate(ev)], [s], "cochlea",
                            tmp_path / "null.png"))
    cv = [crossval.CrossvalRow("cochlea", "Grey1977", 0.5, 0.4, 0.16, 0.2, 16)]
    assert is_png(report.plot_crossval(cv, tmp_path / "crossval.png"))
    assert is_png(report.plot_weights(np.linspace(1, 2, 8), "encodec", tmp_path / "w.png"))
    fig_null, fig_cv, fig_w = captured
    t = texts(fig_null)
    assert "randomly relabelled" in t and "true sound labels" in t and "20 relabellings" in t
    assert "95th percentile" in t
    t = texts(fig_cv)
    assert "in-sample explained variance" in t and "held-out explained variance" in t and "leave one sound out" in t
    t = texts(fig_w)
    assert "1/w²" in t and "feature index" in t
