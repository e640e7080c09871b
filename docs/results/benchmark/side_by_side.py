"""The side-by-side table of docs/results.md: the timbre benchmark's published rows beside
ours on its 21 studies.

usage: python docs/results/benchmark/side_by_side.py [FOLDER ...]   (default: this file's folder)

Each FOLDER holds what the commands of docs/results.md wrote: ``leaderboard/leaderboard.csv``,
``evaluate.csv`` and ``transfer/transfer_<representation>.csv``; the rows of several folders
(runs of other representations: ``docs/results/descriptors``) are joined.  Prints a Markdown table.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

# Quoted from the benchmark (github.com/tiianhk/timbremetrics): examples/results.yaml at commit
# 065bf50 (its frame-aligned MFCC pads every sound to its study's longest), and, for the
# frame-aligned MFCC with the pair-by-pair padding this package uses, the README of its
# pad_to_the_longer_length version.  Pooled per-anchor Spearman L2 /
# cosine, then L2's Kendall, triplet agreement, NDCG and MAE.
PUBLISHED = [
    ("MFCC, time-averaged", "results.yaml", (0.383, 0.395, 0.290, 0.691, 0.892, 0.189)),
    ("MFCC, frame-aligned (pairs padded)", "README", (0.442, 0.448, 0.342, 0.722, 0.905, 0.169)),
    ("MFCC, frame-aligned (study padded)", "results.yaml", (0.442, 0.451, 0.342, 0.722, 0.905, 0.168)),
    ("CLAP (LAION audio), time-averaged", "results.yaml", (0.444, 0.443, 0.343, 0.721, 0.911, 0.152)),
    ("EnCodec, frame-aligned", "results.yaml", (0.316, 0.331, 0.232, 0.654, 0.886, 0.185)),
    ("EnCodec, time-averaged", "results.yaml", (0.354, 0.342, 0.269, 0.676, 0.889, 0.181)),
    ("JTFS, frame-aligned", "results.yaml", (0.279, 0.328, 0.209, 0.641, 0.884, 0.295)),
]
ORDER = ("mfcc", "mfcc-aligned", "stft", "cochlea", "scattering", "stmf", "crepe", "descriptors")


def read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def main(folders: list[Path]) -> None:
    board = {(r["representation"], r["distance"]): r
             for folder in folders for r in read(folder / "leaderboard" / "leaderboard.csv")}
    rows = [r for folder in folders for r in read(folder / "evaluate.csv")]
    transfers = {p.stem.removeprefix("transfer_"): p for folder in folders for p in (folder / "transfer").glob("*.csv")}
    reps = [r for r in ORDER if (r, "euclidean") in board]
    print("| representation | weights | zero-shot Spearman L2 / cosine | Kendall | triplet | NDCG | MAE "
          "| learned Spearman in-sample / held-out | median EV in-sample / held-out | null p < 0.05 "
          "| median transferred EV |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, where, (s2, sc, k, t, n, m) in PUBLISHED:
        print(f"| {name} (published, {where}) | — | {s2:.3f} / {sc:.3f} | {k:.3f} | {t:.3f} | {n:.3f} | {m:.3f} "
              "| — | — | — | — |")
    for rep in reps:
        e, c, learned = board[(rep, "euclidean")], board[(rep, "cosine")], board[(rep, "learned")]
        mine = [r for r in rows if r["representation"] == rep]
        dims = mine[0]["dims"]
        ev = statistics.median(float(r["ev_exact"]) for r in mine)
        held = statistics.median(float(r["heldout_ev"]) for r in mine)
        beats = sum(float(r["null_p"]) < 0.05 for r in mine)
        transfer = read(transfers[rep])
        moved = statistics.median(float(r["ev"]) for r in transfer if r["in_sample"] != "True")
        print(f"| {rep} (ours) | {dims} | {float(e['anchor_spearman']):.3f} / {float(c['anchor_spearman']):.3f} "
              f"| {float(e['anchor_kendall']):.3f} | {float(e['triplet_agreement']):.3f} | {float(e['ndcg']):.3f} "
              f"| {float(e['mae']):.3f} "
              f"| {float(learned['anchor_spearman']):.3f} / {float(learned['heldout_anchor_spearman']):.3f} "
              f"| {ev:.3f} / {held:.3f} | {beats}/{len(mine)} | {moved:.3f} |")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]] or [Path(__file__).parent])
