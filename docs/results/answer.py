"""README's one-table answer, as markdown, from the CSVs of the runs in a results folder.

    python docs/results/answer.py docs/results/exact upstream              # published features
    python docs/results/answer.py docs/results/exact-extracted extracted   # our extraction

The folder holds table1_lbfgsb.csv and table1_optimum.csv (`timbre-jax table`),
null_summary.csv (`null`'s summary.csv), crossval.csv, zeroshot.csv and auc.csv
(`robustness`).  Medians over the datasets a representation has; robustness: the mean
area over those datasets and the median dB against stmf over the datasets with stmf.
"""
import csv, sys
import numpy as np
from pathlib import Path

res = Path(sys.argv[1])
source = sys.argv[2] if len(sys.argv) > 2 else ""
REPS = ["stft", "cochlea", "scattering", "stmf", "clap", "encodec", "mertav", "mertcat"]

def rows(p):
    return list(csv.DictReader(open(p))) if Path(p).exists() else []

def med(xs):
    xs = [float(x) for x in xs if x not in ("", None)]
    return np.median(xs) if xs else np.nan

paper = {r["dataset"]: r for r in rows(Path(__file__).resolve().parents[2] / "timbre_jax/reference/table1_pascal_lagrange_2024.csv")}
ours = {r["dataset"]: r for r in rows(res / "table1_lbfgsb.csv")}
opt = {r["dataset"]: r for r in rows(res / "table1_optimum.csv")}
null = rows(res / "null_summary.csv"); cv = rows(res / "crossval.csv"); zs = rows(res / "zeroshot.csv")
auc = rows(res / "auc.csv")
print("| representation | source | datasets | paper EV | our L-BFGS-B EV | optimum EV | null median EV | p < 0.05 | held-out EV | zero-shot P² euclidean / cosine | robustness area | dB vs stmf |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in REPS:
    ds = [x["dataset"] for x in null if x["representation"] == r]
    if not ds:
        continue
    f = lambda t: med([t[d][r] for d in ds if d in t and r in t[d]]) if t else np.nan
    nm = med([x["null_median"] for x in null if x["representation"] == r])
    sig = sum(float(x["p_value"]) < 0.05 for x in null if x["representation"] == r)
    ho = med([x["heldout_ev"] for x in cv if x["representation"] == r])
    def sp2(dist):
        v = [float(x["pearson"]) for x in zs if x["representation"] == r and x["distance"] == dist and x["dataset"] in ds]
        return np.median([np.sign(p) * p * p for p in v]) if v else np.nan
    a = [x for x in auc if x["representation"] == r]
    area = np.mean([float(x["auc"]) for x in a]) if a else np.nan
    db = med([x["rel_auc_db"] for x in a]) if r != "stmf" else np.nan
    fmt = lambda v: "—" if not np.isfinite(v) else f"{v:.2f}"
    print(f"| {r} | {source} | {len(ds)} | {fmt(f(paper))} | {fmt(f(ours))} | {fmt(f(opt))} | {fmt(nm)} | {sig}/{len(ds)} | {fmt(ho)} "
          f"| {sp2('euclidean'):+.3f} / {sp2('cosine'):+.3f} | {fmt(area)} | {'reference' if r == 'stmf' else '—' if not np.isfinite(db) else f'{db:+.1f}'} |")
