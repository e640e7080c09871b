"""Figures for publication, one style for all: the sweeps' figures (Fig. 1a and 1b of the
paper, the permutation null, cross-validation) and the shared pieces the other figures use
(:func:`timbre_jax.plots.weights.plot_weights`, :mod:`timbre_jax.analyses.leaderboard`,
:mod:`timbre_jax.analyses.transfer`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.data.registry import REPRESENTATIONS
from timbre_jax.data.store import atomic_write_bytes

# One style for every figure of the package: the font sizes below, a plain-words title,
# axis labels in words with their units, and a caption under the axes (``caption``) that
# says what is plotted, so that a figure can be read without the code.  All are saved by
# ``save_figure`` (PNG, 130 dpi).

TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE, CAPTION_SIZE = 10, 9, 8, 8, 8


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Save a matplotlib figure atomically as PNG."""
    atomic_write_bytes(Path(path), lambda fh: fig.savefig(fh, format="png", dpi=130, bbox_inches="tight"))
    _pyplot().close(fig)
    return Path(path)


def style_axes(ax, title: str = "", xlabel: str = "", ylabel: str = "") -> None:
    """The package's figure style on one axes: title, axis labels and tick sizes."""
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)


def caption(fig, text: str) -> None:
    """Write ``text`` (paragraphs separated by newlines) under everything already drawn
    on ``fig``, left-aligned with it and wrapped to the figure's width."""
    import textwrap

    renderer = fig.canvas.get_renderer()
    boxes = [a.get_tightbbox(renderer) for a in fig.axes]
    x0 = min(b.x0 for b in boxes) / fig.bbox.width
    y0 = min(b.y0 for b in boxes) / fig.bbox.height
    x1 = max(b.x1 for b in boxes) / fig.bbox.width
    chars = max(40, int((x1 - x0) * fig.get_figwidth() * 15.5))  # ~15 characters per inch at 8 pt
    wrapped = "\n".join(textwrap.fill(p, chars) for p in text.split("\n"))
    fig.text(x0, y0 - 0.015, wrapped, ha="left", va="top", fontsize=CAPTION_SIZE, color="0.2")


def representations_in(rows) -> list[str]:
    """The representations of ``rows`` (anything with ``.representation``): the paper's in
    its column order, then any other (an embedder, crepe) in the order it first appears."""
    present = dict.fromkeys(x.representation for x in rows)
    return [r for r in REPRESENTATIONS if r in present] + [r for r in present if r not in REPRESENTATIONS]


def _participants(typical_noise: float) -> str:
    """'√22' when delta_bar = 0.1 sqrt(22) exactly, else the general formula."""
    m = (typical_noise / 0.1) ** 2
    return f"√{round(m)}" if abs(m - round(m)) < 1e-6 else "√(participants)"


# The words every figure uses for its quantities, and where its numbers come from.
EV_AXIS = "explained variance P² (unitless)"
IMPORTANCE_UNITS = "arbitrary units: only ratios count"


def provenance(source: str | None = None, solver: str | None = None) -> str:
    """Where a figure's numbers come from, in words: 'upstream features, exact solver'
    (the parts that are known; '' when neither is)."""
    return ", ".join(p for p in (f"{source} features" if source else "", f"{solver} solver" if solver else "") if p)


def no_features(representation: str, dataset: str | None = None, source: str | None = None) -> str:
    """'no stmf features for Grey1977 in the upstream source': the text a figure shows
    where a (representation, dataset) has no data."""
    return (f"no {representation} features" + (f" for {dataset}" if dataset else "")
            + (f" in the {source} source" if source else ""))


def skipped_pairs(skipped, representation: str | None = None, dataset: str | None = None) -> list[tuple[str, str]]:
    """The (representation, dataset) of ``skipped`` ((representation, dataset, reason)
    triples, as the analyses record them) that match, in order, without repeats."""
    return list(dict.fromkeys((r, d) for r, d, *_ in skipped
                              if representation in (None, r) and dataset in (None, d)))


def missing_caption(pairs, source: str | None = None) -> str:
    """' Not shown, no features in the upstream source: stmf for Grey1977, Grey1978.'"""
    by_rep: dict[str, list[str]] = {}
    for r, d in pairs:
        by_rep.setdefault(r, []).append(d)
    if not by_rep:
        return ""
    where = f" in the {source} source" if source else ""
    return (f" Not shown, no features{where}: "
            + "; ".join(f"{r} for {', '.join(ds)}" for r, ds in by_rep.items()) + ".")


def _say_empty(ax, text: str) -> None:
    """An axes with nothing to draw says why, in its middle."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=LABEL_SIZE, color="0.3",
            wrap=True)


def plot_robustness_curves(rows, dataset: str, typical_noise: float, path: Path,
                           realizations: int | None = None, *, representations=None, source: str = "",
                           solver: str = "", skipped=()) -> Path:
    """Fig. 1a: mean EV_human vs delta (log axis) per representation, error bars ± one
    standard deviation over the noise realizations (``realizations``: their number,
    counted from ``rows`` when not given), dashed line at the typical human noise
    delta_bar (none when ``typical_noise`` is NaN).  The title names the dataset, the
    representations, ``source`` and ``solver``; each legend entry gives the EV at the
    smallest and the largest delta.  A representation of ``representations`` (or of
    ``skipped``: (representation, dataset, reason)) without rows on ``dataset`` gets a
    legend line saying it has no features there."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
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
    ax.set_ylim(0, 1)
    if not reps:
        ax.set_xlim(0.1, 10)
        _say_empty(ax, f"no curve: {', '.join(no_features(r, dataset, source) for r in missing) or 'no rows'}")
    shown = ", ".join(reps) or "no representation"
    prov = provenance(source, solver)
    style_axes(ax, title=f"{dataset}: metric learned on noisy ratings, scored on the human ratings\n"
                         f"{shown}" + (f" ({prov})" if prov else ""),
               xlabel="noise level δ (noise std, rating units; log scale)",
               ylabel="explained variance P² of the human ratings\n(unitless)")
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
                 "of the original human ratings it explains (P², squared Pearson correlation: 1 = all, 0 = none).")
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
    import warnings

    from matplotlib.patches import Rectangle

    plt = _pyplot()
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
    area_words = "area under the curve of explained variance against log10 δ"
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
        text = ("Area: under the Fig. 1a curve (explained variance P² of the human ratings against log10 of the "
                "noise level δ); 0 = explains nothing, 2 = explains everything at every noise level. "
                "The stmf column gives its area; every other cell is 10·log10 of the ratio of its area to "
                "stmf's on the same dataset, in dB: above 0 (blue) more robust than stmf, below 0 (red) "
                "less robust, 0 dB as robust.")
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
        text = ("Area: under the Fig. 1a curve (explained variance P² of the human ratings against log10 of the "
                "noise level δ); 0 = explains nothing, 2 = explains everything at every noise level. "
                f"Cells show the area itself: {why}.")
    cbar = fig.colorbar(im, ax=ax, fraction=0.05 if len(table) > 3 else 0.08, pad=0.03)
    cbar.set_label(cbar_label, fontsize=LABEL_SIZE)
    fig.axes[-1].tick_params(labelsize=TICK_SIZE)
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
        _say_empty(ax, "nothing to show: no areas" + (f" ({prov})" if prov else ""))
        text += " Nothing to show: no areas."
    ax.set_title(title, fontsize=TITLE_SIZE)
    if np.isnan(table).any():
        text += (" A grey cell without a number says why: no features for that pair"
                 + (", or no stmf on that dataset to compare the area with (the area is printed)" if relative else "")
                 + (". The mean row averages the datasets that have a value." if with_mean else "."))
    absent = [(r, d) for r, d in skipped_pairs(skipped) if not (r in cols and d in datasets)]
    caption(fig, text + missing_caption(absent, source))
    return save_figure(fig, path)


def plot_null(rows, summaries, representation: str, path: Path, *, source: str = "", solver: str = "",
              skipped=()) -> Path:
    """Permutation null of one representation (:mod:`timbre_jax.analyses.null`): observed EV (red,
    its value and p-value beside it) against the null distribution (grey) and its 95th
    percentile (black bar), one column per dataset.  ``rows``: (representation, dataset,
    permutation, ev, iterations).  The title names the representation, ``source`` and
    ``solver`` (so that the figures of two sources differ); a dataset of ``skipped``
    ((representation, dataset, reason)) gets a column saying it has no features."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    sums = [s for s in summaries if s.representation == representation]
    absent = [d for _, d in skipped_pairs(skipped, representation=representation) if d not in {s.dataset for s in sums}]
    columns = [s.dataset for s in sums] + absent
    fig, ax = plt.subplots(figsize=(0.8 * len(columns) + 3.0, 4))
    for i, s in enumerate(sums):
        null = [r[3] for r in rows if r[0] == representation and r[1] == s.dataset and r[2] > 0]
        ax.scatter(np.full(len(null), i) + np.random.default_rng(i).uniform(-0.2, 0.2, len(null)), null,
                   s=4, color="0.6")
        ax.plot([i - 0.3, i + 0.3], [s.null_p95] * 2, color="k", lw=1.5, zorder=2)
        ax.scatter([i], [s.observed_ev], color="C3", marker="D", s=25, zorder=3)
        ax.annotate(f"P² {s.observed_ev:.2f}\np = {s.p_value:.2g}", (i, s.observed_ev), xytext=(5, 0),
                    textcoords="offset points", fontsize=6.5, va="center", color="C3")
    for i in range(len(sums), len(columns)):
        ax.text(i, 0.5, no_features(representation, source=source).replace(" in the ", "\nin the "), rotation=90,
                ha="center", va="center", fontsize=6.5, color="0.3")
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    ax.set_xlim(-0.6, max(len(columns), 1) - 0.2)
    ax.set_ylim(0, 1.02)
    if not columns:
        _say_empty(ax, no_features(representation, source=source))
    prov = provenance(source, solver)
    observed = (f"\n{sums[0].dataset}: observed P² {sums[0].observed_ev:.3f} (p = {sums[0].p_value:.3g})"
                if len(sums) == 1 else "")
    style_axes(ax, title=f"Permutation test: {representation}" + (f" ({prov})" if prov else "") + observed
                         + "\nexplained variance with the true sound labels vs with shuffled labels",
               xlabel="dataset", ylabel="explained variance P² of the human ratings\n(unitless)")
    K = max((s.permutations for s in sums), default=0)
    handles = [Line2D([], [], ls="", marker="D", color="C3", label="true sound labels (observed)"),
               Line2D([], [], ls="", marker="o", ms=3, color="0.6",
                      label=f"sounds randomly relabelled\n({K} relabellings per dataset)"),
               Line2D([], [], color="k", lw=1.5, label="95th percentile of the\nrelabelled explained variances")]
    ax.legend(handles=handles, fontsize=LEGEND_SIZE, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption(fig, "Permutation test: each grey dot is a metric learned, exactly as the real one, on the same "
                 "ratings after the sounds were randomly relabelled (rows and columns of the dissimilarity "
                 "matrix shuffled together), which breaks any link between sounds and ratings. A red diamond "
                 "above the black bar beats 95% of the relabellings (permutation p-value, printed beside it, "
                 "about 0.05 or less); one inside the grey cloud is no better than chance.")
    return save_figure(fig, path)


def _name_points(ax, points) -> None:
    """Write each (x, y, name) beside its point, on the first side (right or left, then
    higher above, then below; a thin line to the point unless right beside it) where it
    covers neither a name already written nor another point."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    ax.apply_aspect()  # an equal-aspect axes moves when drawn: place the names where it will be
    pixels = ax.transData.transform([(x, y) for x, y, _ in points]) if points else []
    marks = [Bbox.from_extents(px - 3, py - 3, px + 3, py + 3) for px, py in pixels]
    placed = []
    sides = [((3, 2), "left", "bottom"), ((-3, 2), "right", "bottom"), ((3, 9), "left", "bottom"),
             ((-3, 9), "right", "bottom"), ((3, 16), "left", "bottom"), ((-3, 16), "right", "bottom"),
             ((3, -4), "left", "top"), ((-3, -4), "right", "top")]
    for k, (x, y, name) in enumerate(points):
        others = placed + marks[:k] + marks[k + 1:]
        for offset, ha, va in sides:
            line = dict(arrowstyle="-", lw=0.4, color="0.6", shrinkA=0, shrinkB=2) if offset != sides[0][0] else None
            t = ax.annotate(name, (x, y), xytext=offset, textcoords="offset points", fontsize=6, color="0.3",
                            ha=ha, va=va, arrowprops=line)
            box = t.get_window_extent(renderer)
            if not any(box.overlaps(b) for b in others) or (offset, ha, va) == sides[-1]:
                placed.append(box)
                break
            t.remove()


def plot_crossval(rows, path: Path, *, source: str = "", solver: str = "", skipped=()) -> Path:
    """Cross-validation (:mod:`timbre_jax.analyses.crossval`): in-sample EV against held-out EV,
    one colour per representation, each point named by its dataset (up to 24 points);
    ``rows``: :class:`timbre_jax.analyses.crossval.CrossvalRow`.  The title names the
    representations, ``source``, ``solver`` and the median EVs; the caption lists
    ``skipped`` ((representation, dataset, reason))."""

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    reps = representations_in(rows)
    for rep in reps:
        sel = [x for x in rows if x.representation == rep]
        ax.scatter([x.in_sample_ev for x in sel], [x.heldout_ev for x in sel], label=rep, s=18)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="held-out = in-sample\n(nothing lost on unseen sounds)")
    ax.set(xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), aspect="equal")  # a margin: held-out EV is often 0
    if len(rows) <= 24:  # once the limits are set: the names are placed in pixels
        _name_points(ax, [(x.in_sample_ev, x.heldout_ev, x.dataset) for x in rows])
    if not rows:
        _say_empty(ax, "no rows: " + (", ".join(no_features(r, d, source) for r, d in skipped_pairs(skipped))
                                      or "nothing was fitted"))
    prov = provenance(source, solver)
    medians = (f"\nmedian P²: in-sample {np.median([x.in_sample_ev for x in rows]):.2f}, "
               f"held-out {np.median([x.heldout_ev for x in rows]):.2f}" if rows else "")
    style_axes(ax, title="Does the learned metric generalize to sounds it has not seen?\n"
                         f"{', '.join(reps) or 'no representation'}" + (f" ({prov})" if prov else "") + medians,
               xlabel="in-sample explained variance P² (unitless)\n(metric learned on all pairs, scored on the "
                      "same pairs)",
               ylabel="held-out explained variance P² (unitless)\n(leave one sound out)")
    ax.legend(fontsize=LEGEND_SIZE, loc="upper left")
    caption(fig, "One point per dataset and representation. Held out: for each sound, a metric is learned "
                 "without the pairs that involve it and predicts those pairs; the predictions of all sounds "
                 "are pooled and correlated with the human ratings (explained variance = squared correlation, "
                 "0 when negative). Points far below the dashed line fit the ratings they were learned on much "
                 "better than new sounds." + missing_caption(skipped_pairs(skipped), source))
    return save_figure(fig, path)


def _value_labels(ax, xs, values, width=None, fmt="{:.2f}") -> None:
    """Each bar's value over it, and 'n/a' where it has none (NaN)."""
    for x, v in zip(xs, values):
        if np.isfinite(v):
            ax.annotate(fmt.format(v), (x, max(v, 0.0)), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=6, rotation=90 if width is not None and width < 0.3 else 0)
        else:
            ax.annotate("n/a", (x, 0.0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=6, color="0.4", rotation=90)
