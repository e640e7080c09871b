"""Fig. 1a with the listeners' own noise beside the synthetic one: ``python beside.py`` in
this folder, after the runs of README.md here.

Per study, each representation's synthetic curve (robustness/robustness.csv: the metric
learned on the mean ratings plus Gaussian noise of std δ, scored on the mean ratings) and,
in the same colour, its raters point (raters/raters_summary.csv, raters-stmf/...: the
metric learned on the mean of half the listeners, scored on the mean of all, median and 95%
interval over the splits) placed at the noise of a half's mean measured in δ units; the
paper's δ̄ dashed.  Writes beside_<study>.png.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from timbre_jax.plots.style import caption, pyplot, save_figure, style_axes

HERE = Path(__file__).resolve().parent


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    synthetic = rows(HERE / "robustness" / "robustness.csv")
    raters = [x for name in ("raters", "raters-stmf") if (HERE / name).is_dir()
              for x in rows(HERE / name / "raters_summary.csv")]
    plt = pyplot()
    for study in dict.fromkeys(x["dataset"] for x in raters):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        mine = [x for x in raters if x["dataset"] == study]
        for k, point in enumerate(mine):
            rep, colour = point["representation"], f"C{k}"
            curve = [x for x in synthetic if x["dataset"] == study and x["representation"] == rep]
            if curve:
                deltas = sorted({float(x["delta"]) for x in curve})
                mean = [np.mean([float(x["ev_human"]) for x in curve if float(x["delta"]) == d]) for d in deltas]
                ax.plot(deltas, mean, color=colour, lw=1, marker=".", ms=4)
            at, ev = float(point["delta_half"]), float(point["ev_full_median"])
            low, high = float(point["ev_full_low"]), float(point["ev_full_high"])
            ax.errorbar([at], [ev], yerr=[[ev - low], [high - ev]], color=colour, marker="o", ms=6, capsize=3,
                        ls="none", label=f"{rep}: {ev:.2f} [{low:.2f}, {high:.2f}]")
        bar = float(mine[0]["delta_bar"])
        ax.axvline(bar, color="k", ls="--", lw=1, label=f"the paper's δ̄ = {bar:.2f}")
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        style_axes(ax, title=f"{study}: rater noise, synthetic (lines) and real (points)",
                   xlabel="noise of the ratings learned on, δ (std, rating units; log scale)",
                   ylabel="explained variance P² of the\nmean ratings of all listeners")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), title="points: EV on everyone",
                  title_fontsize=7)
        caption(fig, f"Lines: the metric learned on the mean ratings plus Gaussian noise of standard deviation δ "
                     f"(clipped to [0, 1]), scored on the mean ratings (mean over the realizations). Points: the "
                     f"metric learned on the mean ratings of {mine[0]['half_a']} of the {mine[0]['participants']} "
                     f"listeners, scored on the mean of all (median and 95% interval over {mine[0]['splits']} "
                     f"random splits), placed at the measured noise of a half's mean, δ = {float(at):.3f} (median "
                     f"over pairs of sd/√raters). Both are in-sample with respect to the sounds.")
        save_figure(fig, HERE / f"beside_{study}.png")
        print(f"wrote {HERE / f'beside_{study}.png'}")


if __name__ == "__main__":
    main()
