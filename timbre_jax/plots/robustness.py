"""The robustness figures (:mod:`timbre_jax.analyses.robustness`): Fig. 1a of the paper, the
explained variance of the human ratings against the noise level of the training ratings,
one curve per representation, and Fig. 1b, the area under each curve relative to stmf's."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from timbre_jax.plots.raters import mark_noise
from timbre_jax.plots.style import (
    LEGEND_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    caption,
    colorbar,
    missing_caption,
    no_features,
    provenance,
    pyplot,
    representations_in,
    save_figure,
    say_empty,
    skipped_pairs,
    style_axes,
)


def _participants(typical_noise: float) -> str:
    """'√22' when delta_bar = 0.1 sqrt(22) exactly, else the general formula."""
    m = (typical_noise / 0.1) ** 2
    return f"√{round(m)}" if abs(m - round(m)) < 1e-6 else "√(participants)"


def plot_robustness_curves(rows, dataset: str, typical_noise: float, path: Path,
                           realizations: int | None = None, *, representations=None, source: str = "",
                           solver: str = "", skipped=(), measured: tuple[float, int] | None = None) -> Path:
    """Fig. 1a: mean EV_human vs delta (log axis) per representation, error bars ± one
    standard deviation over the noise realizations (``realizations``: their number,
    counted from ``rows`` when not given), dashed line at the typical human noise
    delta_bar (none when ``typical_noise`` is NaN) and, given ``measured`` (δ, participants),
    a dotted line at the noise of the mean ratings measured from the participants.  The title names the dataset, the
    representations, ``source`` and ``solver``; each legend entry gives the EV at the
    smallest and the largest delta.  A representation of ``representations`` (or of
    ``skipped``: (representation, dataset, reason)) without rows on ``dataset`` gets a
    legend line saying it has no features there."""
    from matplotlib.lines import Line2D  # lazy: matplotlib loads only when a figure is drawn

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    reps = representations_in([x for x in rows if x.dataset == dataset])
    missing = [r for r in (representations or []) if r not in reps]
    missing += [r for r, _ in skipped_pairs(skipped, dataset=dataset) if r not in reps and r not in missing]
    counts = []
    for rep in reps:
        sel = [x for x in rows if x.representation == rep and x.dataset == dataset]
        deltas = np.array(sorted({x.delta for x in sel}))
        ev = [[x.ev_human for x in sel if x.delta == d] for d in deltas]
        counts += [len(e) for e in ev]
        means = [float(np.mean(e)) for e in ev]
        ax.errorbar(deltas, means, yerr=[np.std(e) for e in ev], marker="o", ms=3, capsize=2,
                    label=f"{rep}: P² {means[0]:.2f} → {means[-1]:.2f}")
    ax.set_xscale("log")
    n = realizations if realizations is not None else (max(counts) if counts else 0)
    if np.isfinite(typical_noise):  # unknown for an imported dataset (no participant count)
        ax.axvline(typical_noise, ls="--", color="k", lw=1,
                   label=f"δ̄ = 0.1·{_participants(typical_noise)} = {typical_noise:.2f}:\n"
                         "typical noise of the human ratings")
    if measured is not None:
        mark_noise(ax, measured[0], f"measured: {measured[0]:.3f}, the standard error\n"
                                    f"of the mean ratings ({measured[1]} participants)")
    ax.set_ylim(0, 1)
    if not reps:
        ax.set_xlim(0.1, 10)
        say_empty(ax, f"no curve: {', '.join(no_features(r, dataset, source) for r in missing) or 'no rows'}")
    shown = ", ".join(reps) or "no representation"
    prov = provenance(source, solver)
    style_axes(ax, title=f"{dataset}: metric learned on noisy ratings, scored on the human ratings\n"
                         "of the same pairs (in-sample: no sound held out)\n"
                         f"{shown}" + (f" ({prov})" if prov else ""),
               xlabel="noise level δ (noise std, rating units; log scale)",
               ylabel="in-sample explained variance P²\nof the human ratings (unitless)")
    spread = (f"points: mean over {n} noise realizations\n"
              f"error bars: ± one standard deviation\nover the {n} realizations"
              if n > 1 else "one noise realization per level\n(no error bars)")
    spread += "\nP² a → b: at the smallest → largest δ"
    handles, labels = ax.get_legend_handles_labels()
    for r in missing:
        handles.append(Line2D([], [], ls="", marker="x", color="0.5"))
        labels.append(f"{r}: no features for {dataset}" + (f"\nin the {source} source" if source else ""))
    ax.legend(handles, labels, fontsize=LEGEND_SIZE, title=spread, title_fontsize=LEGEND_SIZE, loc="upper left",
              bbox_to_anchor=(1.02, 1.0), alignment="left")
    caption(fig, "Each representation's metric is learned on the human dissimilarity ratings plus Gaussian "
                 "noise of standard deviation δ (clipped to [0, 1]), then scored by how much of the variance "
                 "of the original human ratings it explains (P², squared Pearson correlation: 1 = all, 0 = none). "
                 "In-sample with respect to the sounds: the human ratings scored are those of the same pairs the "
                 "metric was learned on (noisy); no sound is held out.")
    return save_figure(fig, path)


def plot_area_heatmap(auc: dict, datasets, representations, path: Path, *, source: str = "", solver: str = "",
                      skipped=()) -> Path:
    """Fig. 1b: datasets x representations; stmf column (first) = its area, others in dB vs stmf,
    annotated, with a colour bar, and a "mean over datasets" row when there is more than
    one dataset.  A cell without a number says why in words: no features for that pair,
    or an area but no stmf on that dataset to compare it with (the area is then printed).
    With no stmf sweep (or nothing to compare with it) there is no reference: every column
    then shows the area itself, and the title says so, rather than an empty figure.  The
    title names ``source`` and ``solver``; the caption lists the (representation,
    dataset) of ``skipped`` that are not in the table."""
    from matplotlib.patches import Rectangle  # lazy: matplotlib loads only when a figure is drawn

    plt = pyplot()
    cols, datasets = list(representations), list(datasets)
    has_stmf = any(r == "stmf" for r, _ in auc)
    relative = has_stmf and any(np.isfinite(auc[(r, d)]["rel_auc_db"]) for r, d in auc
                                if r != "stmf" and r in cols and d in datasets)
    if relative and "stmf" in cols:  # the reference first, as in the paper's Fig. 1b
        cols = ["stmf"] + [c for c in cols if c != "stmf"]
    with_mean = len(datasets) > 1
    table = np.full((len(datasets) + with_mean, len(cols)), np.nan)
    for i, d in enumerate(datasets):
        for j, r in enumerate(cols):
            a = auc.get((r, d))
            if a is None:
                continue
            table[i, j] = a["auc"] if (r == "stmf" or not relative) else a["rel_auc_db"]
    if with_mean:
        with warnings.catch_warnings():  # an all-empty column has an empty mean, said in its cell
            warnings.simplefilter("ignore", RuntimeWarning)
            table[-1] = np.nanmean(table[:-1], axis=0)
    fig, ax = plt.subplots(figsize=(1.05 * len(cols) + 3.4, 0.42 * len(table) + 1.6))
    ax.set_facecolor("0.94")  # a cell without a number: light grey, with its reason in words
    area_words = "area under the curve of explained variance against log10 δ (in-sample)"
    prov = provenance(source, solver)
    where = f" ({prov})" if prov else ""
    if relative:
        db = table.copy()
        if "stmf" in cols:
            db[:, cols.index("stmf")] = np.nan
        # symmetric around 0 dB, at least ±3 dB (a factor 2) so that small differences stay pale
        lim = max(float(np.nanmax(np.abs(db))) if np.isfinite(db).any() else 0.0, 3.0)
        cmap, vmin, vmax = "RdBu", -lim, lim
        im = ax.imshow(np.ma.masked_invalid(db), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        cbar_label = "dB relative to stmf\n= 10·log10(area / area of stmf)"
        labels = [("stmf\n(reference:\narea, unitless)" if c == "stmf" else f"{c}\n(dB)") for c in cols]
        title = f"Robustness to noisy training ratings{where}:\n{area_words}, relative to stmf"
        text = ("Area: under the Fig. 1a curve (in-sample explained variance P² of the human ratings of the "
                "pairs learned on, against log10 of the noise level δ); 0 = explains nothing, 2 = explains "
                "everything at every noise level. The stmf column gives its area; every other cell is 10·log10 "
                "of the ratio of its area to stmf's on the same dataset, in dB: above 0 (blue) more robust than "
                "stmf, below 0 (red) less robust, 0 dB as robust.")
        if "stmf" in cols:
            j = cols.index("stmf")
            ax.add_patch(Rectangle((j - 0.5, -0.5), 1, len(table), facecolor="0.9", edgecolor="none", zorder=0))
    else:
        finite = table[np.isfinite(table)]
        top = float(finite.max()) if finite.size else 1.0
        cmap, vmin, vmax = "viridis", 0.0, float(np.clip(np.ceil(top * 2) / 2, 0.5, 2.0))  # 0.5, 1, 1.5 or 2
        im = ax.imshow(np.ma.masked_invalid(table), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        cbar_label = "area (unitless, from 0 to 2)"
        labels = [f"{c}\n(area)" for c in cols]
        why = ("only stmf was swept, so there is nothing to compare with it" if has_stmf else
               "no stmf sweep in these results, so there is no stmf reference and no dB")
        title = (f"Robustness to noisy training ratings{where}:\n{area_words}\n"
                 + ("(only stmf: areas, no comparison)" if has_stmf else "(no stmf reference: areas, not dB)"))
        text = ("Area: under the Fig. 1a curve (in-sample explained variance P² of the human ratings of the "
                "pairs learned on, against log10 of the noise level δ); 0 = explains nothing, 2 = explains "
                f"everything at every noise level. Cells show the area itself: {why}.")
    colorbar(fig, im, ax, cbar_label, fraction=0.05 if len(table) > 3 else 0.08, pad=0.03)
    norm_color = plt.get_cmap(cmap)
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            v = table[i, j]
            is_mean = with_mean and i == len(datasets)
            if not np.isfinite(v):
                if is_mean:
                    txt = "no values"
                else:
                    a = auc.get((cols[j], datasets[i]))
                    if a is None:
                        txt = f"no {cols[j]}\nfeatures"
                    elif relative and ("stmf", datasets[i]) not in auc:
                        txt = f"area {a['auc']:.2f}\n(no stmf here:\nno dB)"
                    else:
                        txt = f"area {a['auc']:.2f}\n(≤ 0: no dB)"
                ax.text(j, i, txt, ha="center", va="center", fontsize=6.5, color="0.3", linespacing=1.1)
                continue
            is_db = relative and cols[j] != "stmf"
            txt = f"{v:+.1f}" if is_db else f"{v:.2f}"
            if relative and not is_db:
                color = "k"
            else:  # white text on dark cells, black on light ones
                r, g, b, _ = norm_color((np.clip(v, vmin, vmax) - vmin) / (vmax - vmin))
                color = "w" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "k"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7.5, color=color,
                    fontweight="bold" if is_mean else "normal")
    ax.set_xticks(range(len(cols)), labels, fontsize=TICK_SIZE)
    ax.set_yticks(range(len(table)), datasets + (["mean over datasets"] if with_mean else []), fontsize=TICK_SIZE)
    if with_mean:
        ax.axhline(len(datasets) - 0.5, color="k", lw=2)
        ax.get_yticklabels()[-1].set_fontweight("bold")
    if not datasets or not cols:
        say_empty(ax, "nothing to show: no areas" + (f" ({prov})" if prov else ""))
        text += " Nothing to show: no areas."
    ax.set_title(title, fontsize=TITLE_SIZE)
    if np.isnan(table).any():
        text += (" A grey cell without a number says why: no features for that pair"
                 + (", or no stmf on that dataset to compare the area with (the area is printed)" if relative else "")
                 + (". The mean row averages the datasets that have a value." if with_mean else "."))
    absent = [(r, d) for r, d in skipped_pairs(skipped) if not (r in cols and d in datasets)]
    caption(fig, text + missing_caption(absent, source))
    return save_figure(fig, path)
