"""Tables and figures for publication: Table I, medians against the paper, CSV writing."""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

import numpy as np

from .registry import REPRESENTATIONS
from .store import atomic_write_bytes

SUMMARY_ROWS = ("median", "iqr")


def paper_table1() -> dict[tuple[str, str], float]:
    """Table I of Pascal & Lagrange (2024): explained variance per (representation, dataset)."""
    text = resources.files("timbre_jax").joinpath("reference/table1_pascal_lagrange_2024.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    return {(rep, row["dataset"]): float(row[rep]) for row in rows for rep in REPRESENTATIONS}


def median_iqr(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)])
    if v.size == 0:
        return float("nan"), float("nan")
    q1, q2, q3 = np.percentile(v, [25, 50, 75])
    return float(q2), float(q3 - q1)


def summarize(ev: dict[tuple[str, str], float], representations) -> dict[str, tuple[float, float]]:
    return {r: median_iqr([v for (rr, _), v in ev.items() if rr == r]) for r in representations}


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """Write a CSV atomically (floats with 6 decimals, missing cells empty)."""
    def fmt(x):
        if x is None or (isinstance(x, float) and not np.isfinite(x)):
            return ""
        return f"{x:.6f}" if isinstance(x, (float, np.floating)) else str(x)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([[fmt(x) for x in row] for row in rows])
    atomic_write_bytes(Path(path), lambda fh: fh.write(buf.getvalue().encode()))
    return Path(path)


def write_table1(path: Path, ev: dict[tuple[str, str], float], representations, datasets) -> Path:
    """DIR/table1.csv: rows = datasets then median and iqr; columns = representations."""
    rows = [[d] + [ev.get((r, d)) for r in representations] for d in datasets]
    summary = summarize(ev, representations)
    rows.append(["median"] + [summary[r][0] for r in representations])
    rows.append(["iqr"] + [summary[r][1] for r in representations])
    return write_csv(path, ["dataset", *representations], rows)


def markdown_table1(ev: dict[tuple[str, str], float], representations, datasets,
                    optimum: dict[tuple[str, str], float] | None = None) -> str:
    """Markdown: each cell 'ours (paper)', or 'ours (paper) [optimum]' when the global
    optimum EV* is given, then the median and IQR rows."""
    paper = paper_table1()

    def cell(x, ref, opt=None):
        ours = "—" if x is None else f"{x:.2f}"
        text = f"{ours} ({ref:.2f})" if ref is not None else ours
        return text if opt is None else f"{text} [{opt:.2f}]"

    lines = ["| dataset | " + " | ".join(representations) + " |",
             "|---|" + "---|" * len(representations)]
    opt = optimum or {}
    for d in datasets:
        lines.append(f"| {d} | " + " | ".join(cell(ev.get((r, d)), paper.get((r, d)), opt.get((r, d)))
                                              for r in representations) + " |")
    ours = summarize(ev, representations)
    best = summarize(opt, representations) if optimum else None
    # Compare like with like: the paper's median over the datasets we have values for.
    ref = summarize({k: paper[k] for k, v in ev.items() if v is not None and k in paper}, representations)
    for i, name in enumerate(SUMMARY_ROWS):
        lines.append(f"| **{name}** | " + " | ".join(cell(ours[r][i], ref[r][i], best[r][i] if best else None)
                                                     for r in representations) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- figures

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


def plot_robustness_curves(rows, dataset: str, typical_noise: float, path: Path) -> Path:
    """Fig. 1a: mean EV_human vs log10 delta per representation, error bars over
    realizations, dashed line at the typical human noise delta_bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    reps = [r for r in REPRESENTATIONS if any(x.representation == r and x.dataset == dataset for x in rows)]
    for rep in reps:
        sel = [x for x in rows if x.representation == rep and x.dataset == dataset]
        deltas = np.array(sorted({x.delta for x in sel}))
        ev = [[x.ev_human for x in sel if x.delta == d] for d in deltas]
        ax.errorbar(np.log10(deltas), [np.mean(e) for e in ev], yerr=[np.std(e) for e in ev],
                    marker="o", ms=3, capsize=2, label=rep)
    ax.axvline(np.log10(typical_noise), ls="--", color="k", lw=1, label=r"$\bar\delta$")
    ax.set(xlabel=r"$\log_{10}\delta$", ylabel="explained variance (human ratings)", title=dataset, ylim=(0, 1))
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def plot_area_heatmap(auc: dict, datasets, representations, path: Path) -> Path:
    """Fig. 1b: datasets x representations; stmf column = its area, others in dB vs stmf,
    annotated, with a mean row.  Empty cells where a value (or the stmf reference) is
    missing.  With no stmf sweep at all there is no reference: every column then shows
    the area itself (said in the title) rather than an empty figure."""
    import warnings

    plt = _pyplot()
    cols = list(representations)
    relative = any(r == "stmf" for r, _ in auc)
    table = np.full((len(datasets) + 1, len(cols)), np.nan)
    for i, d in enumerate(datasets):
        for j, r in enumerate(cols):
            a = auc.get((r, d))
            if a is None:
                continue
            table[i, j] = a["auc"] if (r == "stmf" or not relative) else a["rel_auc_db"]
    with warnings.catch_warnings():  # an all-empty column has an empty mean, shown empty
        warnings.simplefilter("ignore", RuntimeWarning)
        table[-1] = np.nanmean(table[:-1], axis=0) if len(datasets) else np.nan
    fig, ax = plt.subplots(figsize=(1.0 * len(cols) + 2, 0.38 * len(table) + 1.5))
    if relative:
        db = table.copy()
        if "stmf" in cols:
            db[:, cols.index("stmf")] = np.nan
        lim = np.nanmax(np.abs(db)) if np.isfinite(db).any() else 1.0
        ax.imshow(np.ma.masked_invalid(db), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        labels = [("stmf (area)" if c == "stmf" else f"{c} (dB)") for c in cols]
        title = "Area under EV vs log10 δ: STMF and relative area (dB)"
    else:
        ax.imshow(np.ma.masked_invalid(table), cmap="viridis", vmin=0, aspect="auto")
        labels = [f"{c} (area)" for c in cols]
        title = "Area under EV vs log10 δ (no stmf sweep: areas, no dB)"
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            if np.isfinite(table[i, j]):
                txt = f"{table[i, j]:+.1f}" if relative and cols[j] != "stmf" else f"{table[i, j]:.2f}"
                light = relative or table[i, j] > 0.6 * np.nanmax(table)  # readable on yellow
                ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="k" if light else "w")
    ax.set_xticks(range(len(cols)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(table)), list(datasets) + ["mean"], fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
