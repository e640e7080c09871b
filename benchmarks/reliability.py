"""Time `timbre-jax reliability` on a 20-sound, 17-participant study (Lakatos2000_Comb's raw
ratings; the issue's bound: 2 s): the statistics of one study with 1,000 random halves
(``analyses.reliability.study_reliability``, best and median of --repeats), the same with the
split-half written as a loop over the splits (each half's mean and Pearson one split at a
time, the obvious code) for comparison, checked equal, the files and figure
(``analyses.reliability.write``), and the command end to end in a fresh process.

    python benchmarks/reliability.py --out /tmp/bench/reliability [--dataset Lakatos2000_Comb]
        [--splits 1000] [--repeats 5] [--quick]

--quick: 3 repeats, no fresh process.  Prints the times and the machine and writes
OUT/reliability_bench.json; the command's own outputs are in OUT/cli.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from timbre_jax.analyses import reliability
from timbre_jax.data import datasets
from timbre_jax.stats import reliability as rel


def seconds(work, repeats: int) -> tuple[float, float]:
    """(best, median) wall seconds of ``work()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def split_half_loop(X: np.ndarray, splits: int, seed: int) -> np.ndarray:
    """The Spearman–Brown split-half values one split at a time (the same halves)."""
    out = np.empty(splits)
    for k, first in enumerate(rel.halves(X.shape[0], splits, seed)):
        a, b = np.nanmean(X[first], axis=0), np.nanmean(X[~first], axis=0)
        both = np.isfinite(a) & np.isfinite(b)
        r = np.corrcoef(a[both], b[both])[0, 1]
        out[k] = 2 * r / (1 + r)
    return out


def end_to_end(dataset: str, splits: int, out: Path) -> tuple[float, int]:
    """(wall s, exit status) of the command in a fresh process (imports included)."""
    command = [sys.executable, "-m", "timbre_jax.cli", "--quiet", "reliability", "--datasets", dataset,
               "--splits", str(splits), "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, done.returncode


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="Lakatos2000_Comb", help="a study with per-participant ratings")
    p.add_argument("--splits", type=int, default=1000, help="random halves (default 1000)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls of each path (default 5)")
    p.add_argument("--quick", action="store_true", help="3 repeats, no fresh process")
    p.add_argument("--out", type=Path, required=True, help="output folder (the command's files go to OUT/cli)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    repeats = 3 if args.quick else args.repeats
    people = datasets.participants(args.dataset)  # fetched and checked once, not timed
    if people is None:
        print(datasets.no_participants_reason(args.dataset), file=sys.stderr)
        return 1
    X, sounds = people.pairs, int(people.ratings.shape[1])
    best, median = seconds(lambda: reliability.study_reliability(args.dataset, people, splits=args.splits), repeats)
    loop_best, _ = seconds(lambda: split_half_loop(X, args.splits, 0), repeats)
    same = bool(np.allclose(split_half_loop(X, args.splits, 0), rel.split_half(X, args.splits).values,
                            rtol=0, atol=1e-12))
    result = reliability.ReliabilityResult([reliability.study_reliability(args.dataset, people,
                                                                          splits=args.splits)])
    t0 = time.perf_counter()
    reliability.write(result, args.out / "files")
    write_s = time.perf_counter() - t0
    wall, status = (float("nan"), 0) if args.quick else end_to_end(args.dataset, args.splits, args.out / "cli")
    machine = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    record = dict(dataset=args.dataset, participants=people.m, sounds=sounds, pairs=int(X.shape[1]),
                  splits=args.splits, repeats=repeats, statistics_best_s=best, statistics_median_s=median,
                  split_half_loop_best_s=loop_best, loop_equal=same, write_s=write_s, command_wall_s=wall,
                  exit=status, machine=machine, date=time.strftime("%Y-%m-%d"))
    (args.out / "reliability_bench.json").write_text(json.dumps(record, indent=1))
    print(f"reliability of {args.dataset} ({people.m} participants, {sounds} sounds), {args.splits} splits: "
          f"statistics {best * 1e3:.1f} ms best, {median * 1e3:.1f} ms median of {repeats} ({machine})")
    print(f"split-half as a loop over the splits: {loop_best * 1e3:.1f} ms best; "
          f"{'equal' if same else 'DIFFERENT'} to 1e-12")
    print(f"files and figure: {write_s:.2f} s" + ("" if args.quick else
                                                  f"; the command in a fresh process: {wall:.2f} s, exit {status}"))
    return status if same else 1


if __name__ == "__main__":
    sys.exit(main())
