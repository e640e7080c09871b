"""Benchmark of the exact solver against a scipy.optimize.nnls loop, in one run.

Both sides solve the same problems: the NNLS of the centred ratings on the centred,
unit-norm pair-difference columns over the rated pairs (the exact optimum of the fit,
see timbre_jax/exact.py).  Two workloads:

- **Table I**: every upstream (representation, dataset) problem available, timbre-jax
  as ``timbre-jax table --solver exact`` solves it (``learn_metrics(..., solver=Exact())``
  per representation).  Its time is taken twice: *cold* in a fresh process (one
  ``learn_metrics`` call per representation, compilation included: what a user waits
  for) and *warm* (the same calls again: the solver alone).
- **Robustness sub-sweep**: the 9 levels x 5 realizations of one dataset's noisy ratings
  (45 problems on one shared D), as ``timbre-jax robustness --solver exact`` solves them.

Run it on one core so that each side gets the same machine (the README's numbers come from
``taskset -c 0 python benchmarks/exact.py --out DIR``); it sets single-threaded XLA and
BLAS itself.  Writes ``DIR/exact.json`` and ``DIR/exact.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402


def scipy_ev(D: np.ndarray, s: np.ndarray) -> float:
    """The optimum by scipy: R^2 of the NNLS with intercept on the rated pairs."""
    rated = np.isfinite(s)
    A, b = D[rated] - D[rated].mean(0), s[rated] - s[rated].mean()
    norm = np.linalg.norm(A, axis=0)
    norm[norm == 0] = 1.0
    _, res = so.nnls(A / norm, b, maxiter=50 * A.shape[1])
    return float(1.0 - res ** 2 / (b @ b))


def table_problems(reps, names):
    from timbre_jax.data.datasets import load_available

    return {r: load_available(r, names)[0] for r in reps}


def bench_table(sets_by_rep) -> list[dict]:
    import timbre_jax
    from timbre_jax.core.pearson import pair_differences

    solver = timbre_jax.Exact()
    rows = []
    for rep, sets in sets_by_rep.items():
        if not sets:
            continue
        problems = [(fs.features, fs.ratings) for fs in sets]
        t0 = time.perf_counter()
        cold = timbre_jax.learn_metrics(problems, solver=solver)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        timbre_jax.learn_metrics(problems, solver=solver)
        t_warm = time.perf_counter() - t0
        Ds = [np.asarray(pair_differences(fs.features)) for fs in sets]
        t0 = time.perf_counter()
        ref = [scipy_ev(D, fs.pairs) for D, fs in zip(Ds, sets)]
        t_scipy = time.perf_counter() - t0
        diff = np.array([r.explained_variance for r in cold]) - np.array(ref)
        rows.append(dict(representation=rep, n=int(sets[0].features.shape[1]), problems=len(sets),
                         scipy_s=t_scipy, cold_s=t_cold, warm_s=t_warm,
                         certified=int(sum(r.certified for r in cold)),
                         at_one=int(sum(r.explained_variance > 1 - 1e-9 for r in cold)),
                         max_abs_ev_diff=float(np.abs(diff).max())))
        print(f"{rep:10s} {len(sets):3d} problems  scipy {t_scipy:7.3f} s  timbre-jax cold {t_cold:6.2f} s "
              f"warm {t_warm:6.3f} s  max |EV - scipy| {rows[-1]['max_abs_ev_diff']:.1e}", flush=True)
    return rows


def bench_sweep(reps, dataset: str, realizations: int) -> list[dict]:
    from timbre_jax import Exact
    from timbre_jax.data import datasets
    from timbre_jax.fit import sweep
    from timbre_jax.stats import degradation

    solver = Exact()
    rows = []
    for rep in reps:
        try:
            fs = datasets.load(dataset, rep)
        except Exception as e:  # a representation without this dataset is skipped, said
            print(f"sweep: skipped {rep}/{dataset}: {e}")
            continue
        g = degradation.make_group(fs, degradation.levels(9), realizations, 0)
        rated = g.mask[0] > 0
        t0 = time.perf_counter()
        (out,), _ = sweep.solve([g], solver, progress=False)
        t_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        sweep.solve([g], solver, progress=False)
        t_warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = np.array([scipy_ev(g.D[rated], y[rated]) for y in g.ratings])
        t_scipy = time.perf_counter() - t0
        diff = out.pearson ** 2 - ref
        rows.append(dict(representation=rep, dataset=dataset, n=int(g.D.shape[1]), problems=g.K, scipy_s=t_scipy,
                         cold_s=t_cold, warm_s=t_warm, max_abs_ev_diff=float(np.abs(diff).max())))
        print(f"sweep {rep:10s} {g.K} problems  scipy {t_scipy:7.3f} s  timbre-jax cold {t_cold:6.2f} s "
              f"warm {t_warm:6.3f} s  max |EV - scipy| {rows[-1]['max_abs_ev_diff']:.1e}", flush=True)
    return rows


def bench_sweeps(reps, names, permutations: int) -> list[dict]:
    """The three sweeps of the exact solver over every (representation, dataset) with
    data: robustness (9 levels x 5 realizations), the permutation null and
    leave-one-sound-out cross-validation, each timed per representation."""
    from timbre_jax import Exact
    from timbre_jax.analyses import base, null, robustness
    from timbre_jax.stats import heldout

    solver = Exact()
    rows = []
    for rep in reps:
        sets = base.load([rep], names, "upstream").sets.get(rep, [])
        if not sets:
            continue
        for kind, run in (("robustness", lambda sets=sets: robustness.noise_sweep(sets, solver, progress=False)[0]),
                          ("null", lambda sets=sets: null.relabelled_fits(sets, solver, K=permutations,
                                                                          progress=False)[0]),
                          ("crossval", lambda sets=sets: heldout.solve_folds(sets, solver, progress=False))):
            t0 = time.perf_counter()
            out = run()
            seconds = time.perf_counter() - t0
            if kind == "crossval":
                fits, certified = sum(len(r.pearson) for r in out), sum(int(r.certified.sum()) for r in out)
            elif kind == "robustness":
                fits, certified = len(out), sum(r.converged for r in out)
            else:
                fits, certified = len(out), len(out)  # the null's rows keep the EV only
            rows.append(dict(kind=kind, representation=rep, datasets=len(sets), fits=fits, certified=certified,
                             seconds=seconds))
            print(f"{kind:10s} {rep:10s} {len(sets):2d} datasets {fits:6d} fits {seconds:7.2f} s", flush=True)
    return rows


GOALS = {"robustness": 60.0, "null": 120.0, "crossval": 30.0}  # seconds, all representations (issue #26)


def markdown(result: dict) -> str:
    t = result["table"]
    tot = {k: sum(r[k] for r in t) for k in ("scipy_s", "cold_s", "warm_s", "problems", "certified", "at_one")}
    lines = [f"Machine: {result['machine']}; command `{result['command']}`.", "",
             "| representation | n | problems | scipy nnls loop s | timbre-jax cold s (compile incl.) | "
             "timbre-jax warm s | scipy / cold | scipy / warm | certified | EV* = 1 | max abs EV - scipy |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in t + [dict(representation="**all**", n="", max_abs_ev_diff=max(r["max_abs_ev_diff"] for r in t), **tot)]:
        lines.append(f"| {r['representation']} | {r['n']} | {r['problems']} | {r['scipy_s']:.3f} | {r['cold_s']:.2f} | "
                     f"{r['warm_s']:.3f} | {r['scipy_s'] / r['cold_s']:.2f} | {r['scipy_s'] / r['warm_s']:.1f} | "
                     f"{r['certified']} | {r['at_one']} | {r['max_abs_ev_diff']:.1e} |")
    if result["sweep"]:
        lines += ["", f"Robustness sub-sweep ({result['sweep'][0]['dataset']}, 9 levels x 5 realizations, one D):", "",
                  "| representation | n | problems | scipy nnls loop s | timbre-jax cold s | timbre-jax warm s | "
                  "scipy / cold | scipy / warm | max abs EV - scipy |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['representation']} | {r['n']} | {r['problems']} | {r['scipy_s']:.3f} | {r['cold_s']:.2f} | "
                  f"{r['warm_s']:.3f} | {r['scipy_s'] / r['cold_s']:.2f} | {r['scipy_s'] / r['warm_s']:.1f} | "
                  f"{r['max_abs_ev_diff']:.1e} |" for r in result["sweep"]]
    if result.get("sweeps"):
        lines += ["", "Sweeps with the exact solver, every representation on every dataset it has:", "",
                  "| sweep | representation | datasets | fits | certified | seconds |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['kind']} | {r['representation']} | {r['datasets']} | {r['fits']} | {r['certified']} | "
                  f"{r['seconds']:.1f} |" for r in result["sweeps"]]
        lines += ["", "| sweep | fits | seconds | goal s |", "|---|---|---|---|"]
        for kind, goal in GOALS.items():
            rows = [r for r in result["sweeps"] if r["kind"] == kind]
            lines.append(f"| **{kind}** | {sum(r['fits'] for r in rows)} | {sum(r['seconds'] for r in rows):.1f} | "
                         f"< {goal:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    import sys

    import jax

    from timbre_jax.data import registry
    from timbre_jax.data.store import atomic_write_bytes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--representations", default="all")
    ap.add_argument("--datasets", default="all")
    ap.add_argument("--sweep-dataset", default="Grey1977", help="dataset of the robustness sub-sweep ('none': skip)")
    ap.add_argument("--realizations", type=int, default=5)
    ap.add_argument("--sweeps", action="store_true", help="also time the robustness, null and crossval sweeps")
    ap.add_argument("--permutations", type=int, default=100, help="relabellings per dataset in the null sweep")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    reps = registry.parse_list(args.representations, registry.REPRESENTATIONS, "representation(s)")
    names = registry.parse_list(args.datasets, list(registry.PAPER), "dataset(s)")
    t0 = time.perf_counter()
    table = bench_table(table_problems(reps, names))
    sweep_rows = [] if args.sweep_dataset == "none" else bench_sweep(reps, args.sweep_dataset, args.realizations)
    result = dict(machine=f"{jax.devices()[0].platform}, {os.cpu_count()} cores visible, "
                          f"affinity {sorted(os.sched_getaffinity(0))}",
                  command="python benchmarks/exact.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  table=table, sweep=sweep_rows,
                  sweeps=bench_sweeps(reps, names, args.permutations) if args.sweeps else [],
                  wall_s=time.perf_counter() - t0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "exact.json", lambda fh: fh.write(json.dumps(result, indent=1).encode()))
    md = markdown(result)
    atomic_write_bytes(out / "exact.md", lambda fh: fh.write(md.encode()))
    print(md)


if __name__ == "__main__":
    main()
