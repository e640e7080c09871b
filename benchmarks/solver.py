"""Solver benchmark: timbre-jax batched L-BFGS-B against a scipy loop, and scaling.

    python benchmarks/solver.py --quick              # about a minute; run by the test suite
    python benchmarks/solver.py --out benchmarks/out # the full run (Table I problems, scaling)

(a) scipy: one problem at a time, ``scipy.optimize.minimize(method="L-BFGS-B")`` with an
exact vectorized numpy objective and gradient, the same NNLS start (scipy.optimize.nnls),
the bounds and settings of ``timbre_jax.learn.DEFAULT`` (the paper's: [1, 1e15], maxls
50, ftol = gtol = 1e-36, memory 10; maxiter as given): the baseline a careful user would
write.  (b) timbre-jax: every problem of a representation
in one compiled batch (``learn_metrics``).  Compilation is timed apart from running
(the first call minus the second).  Quality: EV_jax - EV_scipy on the same problems.
The same comparison runs on a robustness sub-sweep (``--sweep``: Grey1977, 9 levels x 5
realizations of noisy ratings, solved by one batched ``sweep.solve``).
Scaling: wall time and peak memory against the batch size (robustness-style problems on
one dataset) and against the number of features n; each point runs in its own process so
that its peak host RSS (or device memory on a GPU) is its own.

The scipy reference is cached per problem in OUT/scipy.csv, so a long run resumes.  For
the representations where a Table I fit takes minutes (mertcat, stmf), ``--jax-fits
results/fits.csv`` takes timbre-jax's side from a ``timbre-jax table --out results`` run
instead of solving everything a second time (its seconds then include compilation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import scipy.optimize as so


def scipy_fit(D: np.ndarray, s: np.ndarray, maxiter: int):
    from timbre_jax.learn import DEFAULT as o  # the settings only; the code is scipy's

    x, _ = so.nnls(D, s, maxiter=10 * D.shape[1])
    w0 = np.clip(1 / np.sqrt(x + np.finfo(float).eps), o.lower, o.upper)
    sh = (s - s.mean()) / np.linalg.norm(s - s.mean())

    def f(w):
        d = D @ w ** -2.0
        dc = d - d.mean()
        nd = np.linalg.norm(dc)
        P = dc @ sh / nd
        return -P, 2.0 * (((sh - P * dc / nd) / nd) @ D) * w ** -3.0

    r = so.minimize(f, w0, jac=True, method="L-BFGS-B", bounds=[(o.lower, o.upper)] * D.shape[1],
                    options=dict(maxiter=maxiter, maxls=o.maxls, ftol=o.ftol, gtol=o.gtol, maxcor=o.history))
    return float(r.fun ** 2), int(r.nit)


def table_problems(rep: str, names):
    from timbre_jax import datasets
    from timbre_jax.table import load_available

    sets, _ = load_available(rep, names)
    return sets


def scipy_reference(rep: str, sets, maxiter: int, cache: Path | None = None) -> list[tuple]:
    """(EV, iterations, seconds) of the scipy loop for each feature set.  With ``cache`` (a
    CSV), finished problems are read back and each new one is appended as it ends, so an
    interrupted multi-hour reference run resumes where it stopped."""
    from timbre_jax.pearson import pair_differences

    done = {}
    if cache is not None and cache.exists():
        for row in read_csv(cache):
            if int(row["maxiter"]) == maxiter:
                done[(row["representation"], row["dataset"])] = (
                    float(row["ev_scipy"]), int(row["iterations_scipy"]), float(row["scipy_s"]))
    rows = [dict(representation=r, dataset=d, maxiter=maxiter, ev_scipy=v[0], iterations_scipy=v[1],
                 scipy_s=v[2]) for (r, d), v in done.items()]
    ref = []
    for s in sets:
        if (rep, s.dataset) not in done:
            t0 = time.perf_counter()
            ev, nit = scipy_fit(np.asarray(pair_differences(s.features)), s.pairs, maxiter)
            done[(rep, s.dataset)] = (ev, nit, time.perf_counter() - t0)
            print(f"  scipy {rep}/{s.dataset}: EV {ev:.4f}, {nit} iterations, "
                  f"{done[(rep, s.dataset)][2]:.1f} s", flush=True)
            if cache is not None:
                rows.append(dict(representation=rep, dataset=s.dataset, maxiter=maxiter, ev_scipy=ev,
                                 iterations_scipy=nit, scipy_s=done[(rep, s.dataset)][2]))
                write_csv(cache, rows)
        ref.append(done[(rep, s.dataset)])
    return ref


def timed_twice(solve):
    """``solve()`` twice: compile + run, then run alone (compiled shapes are cached).
    Returns (second result, run s, compile s = first - second).  Subtracting a
    1-iteration run's compile time instead is fragile: maxiter is a compile-time
    constant, so the real run compiles again, for a different time."""
    t0 = time.perf_counter()
    solve()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = solve()
    run = time.perf_counter() - t0
    return out, run, max(first - run, 0.0)


def jax_batch(problems, maxiter: int) -> tuple[list[tuple], float, float]:
    """timbre-jax on all problems: ((EV, iterations, message) each, run s, compile s)."""
    import timbre_jax

    ours, t_jax, compile_s = timed_twice(lambda: timbre_jax.learn_metrics(problems, maxiter=maxiter))
    return [(o.explained_variance, o.iterations, o.message) for o in ours], t_jax, compile_s


def jax_from_fits(rep: str, sets, fits: Path) -> tuple[list[tuple], float, float]:
    """timbre-jax's side read from the fits.csv of a ``timbre-jax table`` run (which solved
    the same problems with the same settings), so that an hour-long representation is not
    solved twice.  Its seconds include compilation (compile s is reported as NaN)."""
    rows = {(r["representation"], r["dataset"]): r for r in read_csv(fits)}
    missing = [s.dataset for s in sets if (rep, s.dataset) not in rows]
    if missing:
        raise SystemExit(f"{fits} has no {rep} fit for {', '.join(missing)}")
    got = [rows[(rep, s.dataset)] for s in sets]
    return ([(float(r["explained_variance"]), int(r["iterations"]), r["message"]) for r in got],
            sum(float(r["seconds"]) for r in got), float("nan"))


def bench_table(rep: str, names, maxiter: int, cache: Path | None = None,
                jax_fits: Path | None = None) -> tuple[dict, list[dict]]:
    """Both solvers on every available Table I problem of ``rep``: a summary row and one
    row per problem (the quality check of the solver: EV_jax - EV_scipy)."""
    sets = table_problems(rep, names)
    ref = scipy_reference(rep, sets, maxiter, cache)
    t_scipy = sum(r[2] for r in ref)
    if jax_fits is None:
        ours, t_jax, compile_s = jax_batch([(s.features, s.ratings) for s in sets], maxiter)
    else:
        ours, t_jax, compile_s = jax_from_fits(rep, sets, jax_fits)
    diff = np.array([o[0] - r[0] for o, r in zip(ours, ref)])
    it_jax = sum(o[1] for o in ours)
    it_scipy = sum(r[1] for r in ref)
    rows = [dict(representation=rep, dataset=s.dataset, ev_scipy=r[0], ev_jax=o[0],
                 ev_diff=o[0] - r[0], iterations_scipy=r[1], iterations_jax=o[1],
                 scipy_s=r[2], jax_message=o[2]) for s, o, r in zip(sets, ours, ref)]
    summary = dict(representation=rep, problems=len(sets), n=int(sets[0].features.shape[1]),
                   scipy_s=t_scipy, jax_s=t_jax, compile_s=compile_s,
                   speedup=t_scipy / t_jax, jax_fits_per_s=len(sets) / t_jax, scipy_fits_per_s=len(sets) / t_scipy,
                   jax_ms_per_iteration=1e3 * t_jax / max(it_jax, 1),
                   scipy_ms_per_iteration=1e3 * t_scipy / max(it_scipy, 1),
                   ev_diff_min=float(diff.min()), ev_diff_median=float(np.median(diff)),
                   worst_dataset=sets[int(diff.argmin())].dataset,
                   ev_jax_median=float(np.median([o[0] for o in ours])),
                   ev_scipy_median=float(np.median([r[0] for r in ref])))
    return summary, rows


def bench_sweep(rep: str, dataset: str, realizations: int, maxiter: int) -> dict:
    """A robustness sub-sweep: the 9 noise levels x ``realizations`` noisy rating sets of
    one dataset (what ``timbre-jax robustness`` solves), by the scipy loop and by one
    batched ``sweep.solve``; quality is EV on the ratings each fit was given."""
    from timbre_jax import datasets, robustness, sweep

    g = robustness.make_group(datasets.load(dataset, rep), robustness.levels(9), realizations, 0)
    rated = g.mask[0] > 0
    t0 = time.perf_counter()
    ref = np.array([scipy_fit(g.D[rated], y[rated], maxiter)[0] for y in g.ratings])
    t_scipy = time.perf_counter() - t0
    (out,), t_jax, compile_s = timed_twice(lambda: sweep.solve([g], maxiter=maxiter, progress=False))
    diff = out.pearson ** 2 - ref
    return dict(representation=rep, dataset=dataset, problems=g.K, n=int(g.D.shape[1]), scipy_s=t_scipy,
                jax_s=t_jax, compile_s=compile_s, speedup=t_scipy / t_jax,
                ev_diff_min=float(diff.min()), ev_diff_median=float(np.median(diff)))


def bytes_per_iteration(pairs: int, n: int, history: int = 10) -> int:
    """A lower bound on the memory traffic of one L-BFGS-B iteration (float64 bytes), the
    floor against which time per iteration is compared: one objective-and-gradient
    evaluation reads the pair-difference matrix twice (D w^-2, then r^T D; padded pairs
    included), the compact L-BFGS-B products read the history S, Y (2 m n) three times
    (Cauchy point, subspace step, memory update), and about 20 n-vectors are streamed
    (x, g, bounds, breakpoints and their sorted order, the step).  Line searches that
    need more than one evaluation add 2 p n each, so the true traffic is higher."""
    from timbre_jax.learn import padded_pairs

    return 8 * (2 * padded_pairs(pairs) * n + 3 * 2 * history * n + 20 * n)


def host_peak_bytes() -> int:
    """This process's peak resident memory.  VmHWM, not getrusage's ru_maxrss: Linux keeps
    ru_maxrss across execve, so a child started by a big parent would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scaling_point(kind: str, size: int, maxiter: int) -> dict:
    """One scaling measurement (run in a child process)."""
    import jax

    import timbre_jax  # noqa: F401
    from timbre_jax import datasets, robustness, sweep

    if kind == "batch":
        fs = datasets.load("Grey1977", "encodec")
        K = size
        reps = -(-K // 45)
        g = robustness.make_group(fs, robustness.levels(9), 5 * reps, 0)
        group = sweep.Group("Grey1977", g.D, g.ratings[:K], g.mask[:K])
    else:
        rng = np.random.default_rng(0)
        fs = datasets.load("Grey1977", "encodec")
        F = rng.random((16, size)) ** 4
        from timbre_jax.pearson import pair_differences
        group = sweep.Group("synthetic", np.asarray(pair_differences(F)), np.tile(fs.pairs, (4, 1)),
                            np.ones((4, len(fs.pairs))))
    out, run, compile_s = timed_twice(lambda: sweep.solve([group], maxiter=maxiter, progress=False))
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    peak = stats.get("peak_bytes_in_use") if stats else host_peak_bytes()
    iterations = int(out[0].iterations.sum())
    return dict(kind=kind, size=size, problems=group.K, run_s=run, compile_s=compile_s,
                fits_per_s=group.K / run, max_iterations=int(out[0].iterations.max()),
                iterations=iterations, ms_per_iteration=1e3 * run / max(iterations, 1),
                pairs=int(group.D.shape[0]),
                floor_bytes_per_iteration=bytes_per_iteration(group.D.shape[0], group.D.shape[1]),
                peak_bytes=int(peak),
                memory="device" if stats else "host RSS")


def scaling(kind: str, sizes, maxiter: int) -> list[dict]:
    rows = []
    for size in sizes:
        cmd = [sys.executable, __file__, "--point", kind, str(size), "--maxiter", str(maxiter)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  {kind} {size}: {rows[-1]['run_s']:.2f} s, {rows[-1]['fits_per_s']:.1f} fits/s", flush=True)
    return rows


def plot(batch, features, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    if batch:
        axes[0].loglog([r["size"] for r in batch], [r["fits_per_s"] for r in batch], "o-")
        axes[0].set(xlabel="problems in the batch (Grey1977, encodec)", ylabel="fits per second")
    if features:
        axes[1].loglog([r["size"] for r in features], [r["run_s"] / r["problems"] for r in features], "o-")
        axes[1].set(xlabel="number of features n", ylabel="seconds per fit (batch of 4)")
    fig.suptitle(f"timbre-jax scaling on {machine()}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    import io

    from timbre_jax.store import atomic_write_bytes

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue().encode()))


def compile_note(seconds: float) -> str:
    return "(compile incl.)" if np.isnan(seconds) else f"(+{seconds:.1f})"


def markdown(result: dict) -> str:
    """The tables of RESULTS.md for one run."""
    lines = [f"Machine: {result['machine']}; date {result['date']}; command `{result['command']}`; "
             f"maxiter {result['maxiter']}."]
    if result["table"]:
        lines += ["", "| representation | n | problems | scipy s | timbre-jax s (+compile) | ratio scipy/jax | "
                  "fits/s scipy / jax | ms/iteration scipy / jax | EV_jax - EV_scipy min (dataset) / median |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for r in result["table"]:
        lines.append(f"| {r['representation']} | {r['n']} | {r['problems']} | {r['scipy_s']:.1f} | "
                     f"{r['jax_s']:.1f} {compile_note(r['compile_s'])} | {r['speedup']:.2f} | "
                     f"{r['scipy_fits_per_s']:.3g} / {r['jax_fits_per_s']:.3g} | "
                     f"{r['scipy_ms_per_iteration']:.2f} / {r['jax_ms_per_iteration']:.2f} | "
                     f"{r['ev_diff_min']:+.4f} ({r['worst_dataset']}) / {r['ev_diff_median']:+.4f} |")
    if result.get("sweep"):
        lines += ["", "Robustness sub-sweep (9 levels x realizations of one dataset's ratings, EV on the "
                  "ratings each fit was given):", "",
                  "| representation | dataset | n | problems | scipy s | timbre-jax s (+compile) | ratio scipy/jax | "
                  "fits/s scipy / jax | EV_jax - EV_scipy min / median |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['representation']} | {r['dataset']} | {r['n']} | {r['problems']} | {r['scipy_s']:.1f} | "
                  f"{r['jax_s']:.1f} (+{r['compile_s']:.1f}) | {r['speedup']:.2f} | "
                  f"{r['problems'] / r['scipy_s']:.3g} / {r['problems'] / r['jax_s']:.3g} | "
                  f"{r['ev_diff_min']:+.4f} / {r['ev_diff_median']:+.4f} |" for r in result["sweep"]]
    for kind, label in (("batch", "problems in the batch"), ("features", "features n (batch of 4)")):
        if result.get(kind):
            lines += ["", f"| {label} | run s | compile s | fits/s | max iterations | peak memory MB |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {r['size']} | {r['run_s']:.2f} | {r['compile_s']:.1f} | {r['fits_per_s']:.2f} | "
                      f"{r['max_iterations']} | {r['peak_bytes'] / 2**20:.0f} ({r['memory']}) |" for r in result[kind]]
    if result.get("features") and "floor_bytes_per_iteration" in result["features"][0]:
        from timbre_jax.learn import padded_pairs

        lines += ["", "| features n | pairs (padded) | floor MB / iteration | ms / iteration | "
                  "floor GB/s (floor bytes / time) |", "|---|---|---|---|---|"]
        lines += [f"| {r['size']} | {r['pairs']} ({padded_pairs(r['pairs'])}) | {r['floor_bytes_per_iteration'] / 1e6:.1f} | {r['ms_per_iteration']:.3f} | "
                  f"{r['floor_bytes_per_iteration'] / r['ms_per_iteration'] / 1e6:.2f} |" for r in result["features"]]
    return "\n".join(lines) + "\n"


def machine() -> str:
    import jax

    dev = jax.devices()[0]
    if dev.platform != "cpu":
        return dev.device_kind
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"


def main(argv=None):
    from timbre_jax.learn import DEFAULT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 datasets, encodec, short runs (about a minute)")
    p.add_argument("--representations", default="encodec,cochlea,stft,mertav,clap,scattering,mertcat,stmf")
    p.add_argument("--datasets", default=None, help="comma-separated (default: all 17)")
    p.add_argument("--scaling", default="yes", choices=["yes", "no", "only"],
                   help="run the scaling curves (only: skip the Table I comparison)")
    p.add_argument("--sweep", default="encodec,cochlea,stft",
                   help="representations of the robustness sub-sweep on Grey1977 (45 problems each); 'none'")
    p.add_argument("--maxiter", type=int, default=DEFAULT.maxiter)
    p.add_argument("--out", default="benchmarks/out")
    p.add_argument("--jax-fits", default=None, metavar="FITS_CSV",
                   help="take timbre-jax's side from the fits.csv of a `timbre-jax table` run "
                        "(same settings) instead of solving again")
    p.add_argument("--reference-only", action="store_true",
                   help="only compute (and cache in OUT/scipy.csv) the scipy reference")
    p.add_argument("--point", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.point:
        print(json.dumps(scaling_point(args.point[0], int(args.point[1]), args.maxiter)))
        return 0
    from timbre_jax.registry import DATASETS

    sweep_reps, realizations = [r for r in args.sweep.split(",") if r and r != "none"], 5
    if args.quick:
        reps, names, maxiter = ["encodec"], ["Patil2012_A3", "Grey1977"], 200
        sweep_reps, realizations = ["encodec"], 1
        batch_sizes, feature_sizes = [1, 8], [128, 512]
    else:
        reps, maxiter = args.representations.split(","), args.maxiter
        names = args.datasets.split(",") if args.datasets else list(DATASETS)
        batch_sizes, feature_sizes = [1, 4, 16, 64, 256, 1024], [128, 513, 2204, 9984, 30976]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = dict(machine=machine(), date=date.today().isoformat(), command=" ".join(["python"] + sys.argv),
                  maxiter=maxiter, table=[], sweep=[], batch=[], features=[])
    problems = []
    cache = out / "scipy.csv"
    if args.reference_only:
        for r in reps:
            scipy_reference(r, table_problems(r, names), maxiter, cache)
        print(f"wrote {cache}")
        return 0
    jax_fits = Path(args.jax_fits) if args.jax_fits else None
    for r in reps if args.scaling != "only" else []:
        row, per_problem = bench_table(r, names, maxiter, cache, jax_fits)
        result["table"].append(row)
        problems += per_problem
        write_csv(out / "quality.csv", problems)
        print(f"{r}: scipy {row['scipy_s']:.1f} s, jax {row['jax_s']:.1f} s (+{row['compile_s']:.1f} s compile), "
              f"x{row['speedup']:.2f}; EV diff min {row['ev_diff_min']:+.4f} median {row['ev_diff_median']:+.4f}",
              flush=True)
        (out / "solver.json").write_text(json.dumps(result, indent=1))
    for r in sweep_reps if args.scaling != "only" else []:
        result["sweep"].append(bench_sweep(r, "Grey1977", realizations, maxiter))
        row = result["sweep"][-1]
        print(f"sweep {r}: scipy {row['scipy_s']:.1f} s, jax {row['jax_s']:.1f} s, x{row['speedup']:.2f}; "
              f"EV diff min {row['ev_diff_min']:+.4f}", flush=True)
        (out / "solver.json").write_text(json.dumps(result, indent=1))
    if args.scaling == "no":
        (out / "tables.md").write_text(markdown(result))
        print(f"wrote {out / 'solver.json'}, {out / 'quality.csv'} and {out / 'tables.md'}")
        return 0
    scale_iter = min(maxiter, 1000)
    result["batch"] = scaling("batch", batch_sizes, scale_iter)
    result["features"] = scaling("features", feature_sizes, scale_iter)
    (out / "solver.json").write_text(json.dumps(result, indent=1))
    plot(result["batch"], result["features"], out / "scaling.png")
    (out / "tables.md").write_text(markdown(result))
    print(f"wrote {out / 'solver.json'}, {out / 'quality.csv'}, {out / 'tables.md'} and {out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
