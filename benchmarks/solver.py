"""Solver benchmark: timbre-jax batched L-BFGS-B against a scipy loop, and scaling.

    python benchmarks/solver.py --quick              # about a minute; run by the test suite
    python benchmarks/solver.py --out benchmarks/out # the full run (Table I problems, scaling)

(a) scipy: one problem at a time, ``scipy.optimize.minimize(method="L-BFGS-B")`` with an
exact vectorized numpy objective and gradient, the same NNLS start (scipy.optimize.nnls),
the bounds and settings of ``timbre_jax.solvers.Lbfgsb()`` (the paper's: [1, 1e15], maxls
50, ftol = gtol = 1e-36, memory 10; maxiter as given): the baseline a careful user would
write.  (b) timbre-jax: every problem of a representation in one compiled batch
(``learn_metrics(..., solver=Lbfgsb(maxiter=...))``).  Compilation is timed apart from
running (the first call minus the second).  Quality: EV_jax - EV_scipy on the same problems.
The same comparison runs on a robustness sub-sweep (``--sweep``: Grey1977, 9 levels x 5
realizations of noisy ratings, solved by one batched ``sweep.solve``).
Scaling: wall time and peak memory against the batch size (robustness-style problems on
one dataset) and against the number of features n; each point runs in its own process so
that its peak host RSS (or device memory on a GPU) is its own.

One module per job, beside this one: reference.py (the scipy loop and its cache; the fit
itself is tests/scipy_reference.py), timing.py (timbre-jax timed apart from compilation,
the Table I comparison), sweep_bench.py, scaling.py, plots.py, markdown_tables.py;
this file parses the arguments and writes the outputs.

The scipy reference is cached per problem in OUT/scipy.csv, so a long run resumes.  For
the representations where a Table I fit takes minutes (mertcat, stmf), ``--jax-fits
results/fits.csv`` takes timbre-jax's side from a ``timbre-jax table --out results`` run
instead of solving everything a second time (its seconds then include compilation).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from common import machine, write_rows
from markdown_tables import markdown
from plots import plot
from reference import scipy_reference, table_problems
from scaling import scaling
from sweep_bench import bench_sweep
from timing import bench_table

from timbre_jax.solvers import Lbfgsb


def main(argv=None):
    """Parse the arguments, run the jobs asked for, write OUT/solver.json, quality.csv,
    tables.md and scaling.png (each rewritten as the run goes, so a long run shows its
    progress)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 datasets, encodec, short runs (about a minute)")
    p.add_argument("--representations", default="encodec,cochlea,stft,mertav,clap,scattering,mertcat,stmf",
                   help="of the Table I comparison; 'none'")
    p.add_argument("--datasets", default=None, help="comma-separated (default: all 17)")
    p.add_argument("--scaling", default="yes", choices=["yes", "no", "only"],
                   help="run the scaling curves (only: skip the Table I comparison)")
    p.add_argument("--sweep", default="encodec,cochlea,stft",
                   help="representations of the robustness sub-sweep on Grey1977 (45 problems each); 'none'")
    p.add_argument("--maxiter", type=int, default=Lbfgsb().maxiter)
    p.add_argument("--out", default="benchmarks/out")
    p.add_argument("--jax-fits", default=None, metavar="FITS_CSV",
                   help="take timbre-jax's side from the fits.csv of a `timbre-jax table` run "
                        "(same settings) instead of solving again")
    p.add_argument("--reference-only", action="store_true",
                   help="only compute (and cache in OUT/scipy.csv) the scipy reference")
    args = p.parse_args(argv)
    from timbre_jax.data.registry import PAPER

    sweep_reps, realizations = [r for r in args.sweep.split(",") if r and r != "none"], 5
    if args.quick:
        reps, names, maxiter = ["encodec"], ["Patil2012_A3", "Grey1977"], 200
        sweep_reps, realizations = ["encodec"], 1
        batch_sizes, feature_sizes = [1, 8], [128, 512]
    else:
        reps, maxiter = [r for r in args.representations.split(",") if r and r != "none"], args.maxiter
        names = args.datasets.split(",") if args.datasets else list(PAPER)
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
        write_rows(out / "quality.csv", problems)
        print(f"{r}: scipy {row['scipy_s']:.1f} s, jax {row['jax_s']:.1f} s (+{row['compile_s']:.1f} s compile), "
              f"x{row['speedup']:.2f}; EV diff min {row['ev_diff_min']:+.4f} median {row['ev_diff_median']:+.4f}",
              flush=True)
        (out / "solver.json").write_text(json.dumps(result, indent=1))
    for r in sweep_reps if args.scaling != "only" else []:
        result["sweep"].append(bench_sweep(r, "Grey1977", realizations, maxiter))
        row = result["sweep"][-1]
        print(f"sweep {r}: scipy {row['scipy_s']:.1f} s, jax {row['jax_s']:.1f} s, x{row['speedup']:.2f}; "
              f"iterations {row['scipy_iterations']} / {row['jax_iterations']}; "
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
