"""The cross-validation figure (:mod:`timbre_jax.analyses.crossval`): in-sample against
held-out explained variance, each point named by its dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from timbre_jax.plots.style import (
    LEGEND_SIZE,
    caption,
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


def _name_points(ax, points) -> None:
    """Write each (x, y, name) beside its point, on the first side (right or left, then
    higher above, then below; a thin line to the point unless right beside it) where it
    covers neither a name already written nor another point."""
    from matplotlib.transforms import Bbox  # lazy: matplotlib loads only when a figure is drawn

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

    plt = pyplot()
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
        say_empty(ax, "no rows: " + (", ".join(no_features(r, d, source) for r, d in skipped_pairs(skipped))
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
