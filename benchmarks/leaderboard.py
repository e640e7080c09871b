"""Time the leaderboard's bootstrap: `timbre-jax leaderboard` for one representation over the
benchmark's 21 studies with 1,000 bootstrap samples, end to end in a fresh process, and the
bootstrap scoring alone, the batched path (``scores.intervals``: every sample's rank metrics of
every distance in one stack) beside the per-sample path it replaced (``scores.numbers`` on each
sample), on the same samples and checked equal to the last bit.

    python benchmarks/leaderboard.py --representation toy-aligned --out /tmp/bench/leaderboard
        [--datasets benchmark] [--bootstrap 1000] [--per-sample 100] [--source auto]

The per-sample path runs on the first --per-sample samples of each study only (it takes about
10 ms a sample at l = 16) and is scaled to --bootstrap.  Prints the times and the machine and
writes OUT/leaderboard_bench.json; the command's own outputs are in OUT/cli.
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

from timbre_jax.analyses import base
from timbre_jax.data import registry
from timbre_jax.solvers import Exact
from timbre_jax.stats import heldout, scores


def end_to_end(rep: str, datasets: str, source: str, samples: int, out: Path) -> tuple[float, int]:
    """(wall s, exit status) of the command in a fresh process (imports and fits included)."""
    command = [sys.executable, "-m", "timbre_jax.cli", "--quiet", "leaderboard", "--representations", rep,
               "--datasets", datasets, "--source", source, "--bootstrap", str(samples), "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, done.returncode


def bootstrap_paths(rep: str, datasets: list[str], source: str, samples: int, per_sample: int) -> dict:
    """The bootstrap scoring of every study, both paths: seconds of the batched one for
    ``samples`` samples, seconds of the per-sample one for the first ``per_sample`` of them,
    and whether the two agree there bit for bit (NaN where both are NaN)."""
    loaded = base.load([rep], datasets, source)
    sets = loaded.sets[rep]
    fits = heldout.solve_folds(sets, Exact(), progress=False)
    studies = [scores.study(fs, res.distances) for fs, res in zip(sets, fits)]
    batched = per = 0.0
    identical, values = True, 0
    for st in studies:
        drawn = scores.samples_of(st.fs.dataset, len(st.fs.sounds), samples, 0)
        t0 = time.perf_counter()
        _, arrays = scores.intervals(st, drawn)
        batched += time.perf_counter() - t0
        t0 = time.perf_counter()
        old = [scores.numbers(st, idx) for idx in drawn[:per_sample]]
        per += time.perf_counter() - t0
        for key, v in arrays.items():
            want = np.array([o[key] for o in old])
            identical &= bool(np.array_equal(want, v[:per_sample], equal_nan=True))
            values += want.size
    return dict(studies=len(studies), sounds=sum(len(st.fs.sounds) for st in studies), batched_s=batched,
                per_sample_s=per, per_sample_scaled_s=per * samples / max(per_sample, 1),
                values_compared=values, identical=identical, skipped=len(loaded.skipped))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--representation", required=True, help="one representation (aligned or not)")
    p.add_argument("--datasets", default="benchmark", help="comma list of studies or a selection (default benchmark)")
    p.add_argument("--source", default="auto", help="features: auto (default), upstream, extracted, ...")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples per study (default 1000)")
    p.add_argument("--per-sample", type=int, default=100, help="samples per study for the per-sample path (100)")
    p.add_argument("--out", type=Path, required=True, help="output folder (the command's files go to OUT/cli)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    selection = registry.SELECTIONS.get(args.datasets)
    datasets = list(selection) if selection is not None else args.datasets.split(",")
    wall, status = end_to_end(args.representation, args.datasets, args.source, args.bootstrap, args.out / "cli")
    paths = bootstrap_paths(args.representation, datasets, args.source, args.bootstrap, args.per_sample)
    machine = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    result = dict(representation=args.representation, datasets=args.datasets, bootstrap=args.bootstrap,
                  per_sample=args.per_sample, command_wall_s=wall, exit=status, machine=machine,
                  date=time.strftime("%Y-%m-%d"), **paths)
    (args.out / "leaderboard_bench.json").write_text(json.dumps(result, indent=1))
    print(f"leaderboard {args.representation} on {paths['studies']} studies ({paths['sounds']} sounds), "
          f"bootstrap {args.bootstrap}: {wall:.1f} s wall in a fresh process, exit {status} ({machine})")
    print(f"bootstrap scoring alone: batched {paths['batched_s']:.1f} s; per-sample "
          f"{paths['per_sample_s']:.1f} s for {args.per_sample} samples a study, "
          f"{paths['per_sample_scaled_s']:.1f} s scaled to {args.bootstrap}; "
          f"{'identical' if paths['identical'] else 'DIFFERENT'} on {paths['values_compared']} values")
    return status if paths["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
