"""README's one-table answer, as markdown, from the CSVs of the runs in a results folder.

    python docs/results/answer.py docs/results/exact upstream              # published features
    python docs/results/answer.py docs/results/exact-extracted extracted   # our extraction

The folder holds table1_lbfgsb.csv and table1_optimum.csv (`timbre-jax table`),
null_summary.csv (`null`'s summary.csv), crossval.csv, zeroshot.csv and auc.csv
(`robustness`).  Medians over the datasets a representation has; robustness: the mean
area over those datasets and the median dB against stmf over the datasets with stmf.
"""
import csv
import sys
from pathlib import Path

import numpy as np

res = Path(sys.argv[1])
source = sys.argv[2] if len(sys.argv) > 2 else ""
REPS = ["stft", "cochlea", "scattering", "stmf", "clap", "encodec", "mertav", "mertcat", "crepe"]

def rows(p):
    return list(csv.DictReader(open(p))) if Path(p).exists() else []

def med(xs):
    xs = [float(x) for x in xs if x not in ("", None)]
    return np.median(xs) if xs else np.nan

def fmt(v):
    return "—" if not np.isfinite(v) else f"{v:.2f}"

def ev(t, r, ds):
    """Median EV of representation r over the datasets ds in table t."""
    return med([t[d][r] for d in ds if d in t and r in t[d]]) if t else np.nan

def sp2(r, ds, dist):
    """Median signed zero-shot P^2 of r with distance dist over ds."""
    v = [float(x["pearson"]) for x in zs if x["representation"] == r and x["distance"] == dist and x["dataset"] in ds]
    return np.median([np.sign(p) * p * p for p in v]) if v else np.nan

paper = {r["dataset"]: r for r in rows(Path(__file__).resolve().parents[2] / "timbre_jax/reference"
                                       / "table1_pascal_lagrange_2024.csv")}
ours = {r["dataset"]: r for r in rows(res / "table1_lbfgsb.csv")}
opt = {r["dataset"]: r for r in rows(res / "table1_optimum.csv")}
null = rows(res / "null_summary.csv")
cv = rows(res / "crossval.csv")
zs = rows(res / "zeroshot.csv")
auc = rows(res / "auc.csv")
print("| representation | source | datasets | paper EV | our L-BFGS-B EV | optimum EV | null median EV | p < 0.05 "
      "| held-out EV | zero-shot P² euclidean / cosine | robustness area | dB vs stmf |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in REPS:
    ds = [x["dataset"] for x in null if x["representation"] == r]
    if not ds:
        continue
    nm = med([x["null_median"] for x in null if x["representation"] == r])
    sig = sum(float(x["p_value"]) < 0.05 for x in null if x["representation"] == r)
    ho = med([x["heldout_ev"] for x in cv if x["representation"] == r])
    a = [x for x in auc if x["representation"] == r]
    area = np.mean([float(x["auc"]) for x in a]) if a else np.nan
    db = med([x["rel_auc_db"] for x in a]) if r != "stmf" else np.nan
    vs_stmf = "reference" if r == "stmf" else "—" if not np.isfinite(db) else f"{db:+.1f}"
    print(f"| {r} | {source} | {len(ds)} | {fmt(ev(paper, r, ds))} | {fmt(ev(ours, r, ds))} | {fmt(ev(opt, r, ds))} "
          f"| {fmt(nm)} | {sig}/{len(ds)} | {fmt(ho)} "
          f"| {sp2(r, ds, 'euclidean'):+.3f} / {sp2(r, ds, 'cosine'):+.3f} | {fmt(area)} | {vs_stmf} |")
