"""Time the raters analysis (issue #36's bound: 100 splits, the paper's 8 representations on
Lakatos2000_Comb and _Harm, the exact solver, one core, under 60 s): per representation, the
100 splits of each study as one group of problems on the study's shared pair differences
(``analyses.raters.rater_sweep``, what `timbre-jax raters` runs), the per-split loop it
replaces for comparison on one representation (a ``learn_metric`` on each half's mean,
checked equal), and the command end to end in a fresh process.

    taskset -c 0 python benchmarks/raters.py --out /tmp/bench/raters [--splits 100]
        [--representations all] [--loop encodec] [--quick]

The mirror has no stmf features for the Lakatos studies (too large for it): stmf is read from
the extracted source where `timbre-jax extract --representation stmf --datasets
Lakatos2000_Comb,Lakatos2000_Harm` put them, else skipped and said.  The script makes XLA
and BLAS single-threaded itself; pin the process to one core with taskset.  --quick: 10
splits, two small representations, no fresh process.  Prints the times and the machine and
writes OUT/raters_bench.json; the command's own outputs are in OUT/cli.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from timbre_jax.analyses import raters  # noqa: E402
from timbre_jax.data import datasets, registry  # noqa: E402
from timbre_jax.fit.learn import learn_metric  # noqa: E402
from timbre_jax.solvers import Exact  # noqa: E402
from timbre_jax.stats import halves, reliability  # noqa: E402

STUDIES = ("Lakatos2000_Comb", "Lakatos2000_Harm")


def feature_sets(rep: str) -> tuple[list, str]:
    """The representation's feature sets of the two studies and where they came from: the
    default source, else the extracted one (stmf), else none."""
    for source in ("auto", "extracted"):
        sets, missing = datasets.load_available(rep, STUDIES, source)
        if not missing:
            return sets, source
    return [], "none"


def per_split_loop(fs, people, count: int) -> tuple[float, np.ndarray]:
    """(seconds, EV on half B per split) of the obvious code: one learn_metric per split on
    half A's mean, scored on half B's."""
    in_a = halves.splits(0, fs.dataset, people.m, count)
    i, j = np.triu_indices(len(fs.sounds), 1)
    D = (fs.features[i] - fs.features[j]) ** 2
    t0 = time.perf_counter()
    found = []
    for row in in_a:
        a, b = reliability.half_means(people.pairs, row[None])[0], reliability.half_means(people.pairs, ~row[None])[0]
        fit = learn_metric(fs.features, a, solver=Exact())
        found.append(max(np.corrcoef(D @ fit.weights ** -2.0, b)[0, 1], 0.0) ** 2)
    return time.perf_counter() - t0, np.array(found)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--representations", default="all", help="comma list, or all (default: the paper's 8)")
    p.add_argument("--splits", type=int, default=100, help="splits per study (default 100)")
    p.add_argument("--loop", default="encodec", help="the representation timed as a per-split loop too")
    p.add_argument("--quick", action="store_true", help="10 splits, cochlea and encodec, no fresh process")
    p.add_argument("--out", type=Path, required=True, help="output folder (the command's files go to OUT/cli)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    reps = list(registry.REPRESENTATIONS) if args.representations == "all" else args.representations.split(",")
    count = args.splits
    if args.quick:
        reps, count = ["cochlea", "encodec"], 10
    t0 = time.perf_counter()
    people = {d: datasets.participants(d) for d in STUDIES}
    loading = time.perf_counter() - t0
    rows, skipped, total, fits, unconverged = [], [], 0.0, 0, 0
    for rep in reps:
        t0 = time.perf_counter()
        sets, source = feature_sets(rep)
        load_s = time.perf_counter() - t0
        if not sets:
            skipped.append(rep)
            print(f"{rep}: skipped, no features for {', '.join(STUDIES)} (extract them: see the docstring)")
            continue
        t0 = time.perf_counter()
        found, _ = raters.rater_sweep(sets, people, Exact(), count=count, progress=False)
        solve_s = time.perf_counter() - t0
        total += solve_s
        fits += len(found)
        unconverged += sum(not x.converged for x in found)
        row = dict(representation=rep, source=source, dims=sets[0].dims, fits=len(found), load_s=load_s,
                   solve_s=solve_s, ms_per_fit=1e3 * solve_s / len(found),
                   ev_b_median={d: float(np.median([x.ev_b for x in found if x.dataset == d])) for d in STUDIES})
        if rep == args.loop:
            loop_s, loop_ev = per_split_loop(sets[0], people[STUDIES[0]], count)
            batched = np.array([x.ev_b for x in found if x.dataset == STUDIES[0]])
            row.update(loop_s=loop_s, loop_studies=1, loop_max_ev_diff=float(np.max(np.abs(loop_ev - batched))))
        rows.append(row)
        print(f"{rep} ({source}, {row['dims']} dims): {len(found)} fits in {solve_s:.2f} s "
              f"({row['ms_per_fit']:.1f} ms a fit; loading {load_s:.2f} s)"
              + (f"; per-split loop on {STUDIES[0]}: {row['loop_s']:.2f} s, EV equal to "
                 f"{row['loop_max_ev_diff']:.1e}" if "loop_s" in row else ""))
    print(f"all: {fits} fits in {total:.1f} s of solving ({unconverged} not converged); participants loaded in "
          f"{loading:.2f} s; skipped: {', '.join(skipped) or 'none'}")
    command = None
    if not args.quick:
        argv = [sys.executable, "-m", "timbre_jax.cli", "--quiet", "raters", "--representations", ",".join(reps),
                "--datasets", ",".join(STUDIES), "--splits", str(count), "--out", str(args.out / "cli")]
        t0 = time.perf_counter()
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        command = dict(seconds=time.perf_counter() - t0, status=done.returncode,
                       wall_line=[x for x in done.stdout.splitlines() if x.startswith("wall time")])
        print(f"the command in a fresh process (source auto): {command['seconds']:.1f} s, exit {done.returncode}, "
              f"{command['wall_line']}")
    machine = f"{platform.processor() or platform.machine()} CPU, affinity {sorted(os.sched_getaffinity(0))}"
    report = dict(machine=machine, date=time.strftime("%Y-%m-%d"), splits=count, studies=STUDIES, rows=rows,
                  solve_s=total, fits=fits, unconverged=unconverged, skipped=skipped, command=command,
                  participants_s=loading)
    (args.out / "raters_bench.json").write_text(json.dumps(report, indent=1))
    print(f"machine: {machine}; wrote {args.out / 'raters_bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
