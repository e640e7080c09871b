"""Tables for publication: Table I, medians against the paper, CSV writing (the figures: one
module per family beside this one, in the style of :mod:`timbre_jax.plots.style`)."""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

import numpy as np

from timbre_jax.data.registry import REPRESENTATIONS
from timbre_jax.data.store import atomic_write_bytes

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
