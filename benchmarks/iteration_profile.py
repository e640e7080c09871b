"""Where an L-BFGS-B iteration's time goes on one CPU core, against scipy's.

    taskset -c 1 python benchmarks/iteration_profile.py --representations encodec,stft

For each representation: one real problem (``--dataset``, default Barthet2010, which all
8 representations have), the paper's objective (``solvers.lbfgsb.objective``) and start (the NNLS
start of scipy.optimize.nnls, the same for both solvers), run for ``--maxiter``
iterations by

* scipy: ``scipy.optimize.minimize(method="L-BFGS-B")`` with the exact numpy objective of
  tests/scipy_reference.py (unpadded pairs, one thread);
* ours: ``LBFGSB.run`` in sequence mode (plain sums), as
  ``solvers.lbfgsb.solve_padded(lockstep=False)`` traces it, on the unpadded pairs and on
  the pairs padded to a power of two as ``Lbfgsb(lockstep=False).solve`` pads them.

ms/iteration = time / iterations, the minimum of ``--repeats`` interleaved runs (the
machine is shared); the time is this process's CPU time (``--wall``: wall time).  Then
the parts of our iteration, each jitted alone on a realistic state (after ``--warm``
iterations, memory full), less the cost of calling a jitted function that does nothing:
the objective (one evaluation), the Cauchy point, the subspace minimization, the search
direction (GCP + subspace), the line search (with its evaluations), the memory update,
and a whole ``update``.

XLA and BLAS are made single-threaded here (set before JAX starts); pin the process to
one core with ``taskset``.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from timbre_jax.core.pearson import pair_differences, standardize_ratings  # noqa: E402
from timbre_jax.core.problems import check_problem  # noqa: E402
from timbre_jax.core.reductions import PLAIN  # noqa: E402
from timbre_jax.data import datasets  # noqa: E402
from timbre_jax.optim import lbfgsb  # noqa: E402
from timbre_jax.optim.lbfgsb.cauchy import generalized_cauchy_point  # noqa: E402
from timbre_jax.solvers import Lbfgsb  # noqa: E402
from timbre_jax.solvers.batch import padded_pairs  # noqa: E402
from timbre_jax.solvers.lbfgsb import objective  # noqa: E402

# benchmarks/ is a folder of scripts, not a package: the shared fit is found beside it.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from scipy_reference import nnls_start, scipy_minimize  # noqa: E402

# CPU time of this process by default: on a core shared with other jobs, wall time
# counts their slices too (--wall to measure wall time).
clock = time.process_time

OBJECTIVE = partial(objective, sums=PLAIN)
PAPER = Lbfgsb()  # the paper's settings: bounds, maxiter


def problem(rep: str, dataset: str):
    """D (p, n) of the rated pairs, ratings s (p,), and the NNLS start w0 (n,)."""
    fs = datasets.load(dataset, rep)
    F, s, mask = check_problem(fs.features, fs.ratings)
    rated = mask > 0
    D = np.asarray(pair_differences(F))[rated]
    return D, s[rated], nnls_start(D, s[rated])


def scipy_run(D, s, w0, maxiter: int):
    """Seconds, iterations, evaluations and final f of scipy's L-BFGS-B."""
    t0 = clock()
    r = scipy_minimize(D, s, w0, maxiter)
    return clock() - t0, int(r.nit), int(r.nfev), float(r.fun)


def padded(D, s, pad: bool):
    """D, s_hat, mask as learn passes them (pairs padded to a power of two if ``pad``)."""
    p = D.shape[0]
    P = padded_pairs(p) if pad else p
    Dp = np.zeros((P, D.shape[1]))
    Dp[:p] = D
    sp, mk = np.zeros(P), np.zeros(P)
    sp[:p], mk[:p] = s, 1.0
    sh = standardize_ratings(jnp.asarray(sp), jnp.asarray(mk), PLAIN)
    return jnp.asarray(Dp), sh, jnp.asarray(mk)


def solver(maxiter: int) -> lbfgsb.LBFGSB:
    """The paper's solver as learn's sequence mode builds it (plain sums)."""
    return lbfgsb.LBFGSB(OBJECTIVE, Lbfgsb(maxiter=maxiter, invariant_sums=False).options(lockstep=False))


def bounds(n: int):
    lower, upper = PAPER.bounds
    return jnp.full(n, lower), jnp.full(n, upper)


def compiled_run(n: int, maxiter: int, args):
    run, (lower, upper) = solver(maxiter).run, bounds(n)
    return jax.jit(lambda w0, *a: run(w0, lower, upper, *a)).lower(jnp.ones(n), *args).compile()


def ours_run(run, w0, args):
    t0 = clock()
    st = run(jnp.asarray(w0), *args)
    jax.block_until_ready(st)
    return clock() - t0, int(st.iteration), int(st.n_fev), float(st.f)


def time_part(fn, env: dict, calls: int | None = None, trials: int = 5) -> float:
    """Seconds per call of the jitted fn(env), less the cost of calling a jitted function
    of the same arguments that does nothing.

    Every array reaches fn through ``env`` (a dict, the jitted argument): arrays closed
    over would be constants that XLA folds, and a part repeated inside one compiled loop
    would have its loop-invariant work hoisted out of the loop.  Minimum per call over
    ``trials`` batches of ``calls`` calls."""
    f = jax.jit(fn)
    noop = jax.jit(lambda e: e["x"][0] if "x" in e else 0.0)
    jax.block_until_ready(f(env))
    jax.block_until_ready(noop(env))
    t0 = clock()
    jax.block_until_ready(f(env))
    k = calls or int(min(max(0.1 / max(clock() - t0, 1e-6), 3), 2000))

    def per_call(g):
        best = np.inf
        for _ in range(trials):
            t0 = clock()
            for _ in range(k):
                out = g(env)
            jax.block_until_ready(out)
            best = min(best, (clock() - t0) / k)
        return best

    return max(per_call(f) - per_call(noop), 0.0)


def breakdown(D, sh, mk, w0, warm: int) -> dict:
    """ms per call of each part of an iteration, at the state after ``warm`` iterations."""
    n = D.shape[1]
    full = solver(PAPER.maxiter)
    lower, upper = bounds(n)
    state = compiled_run(n, warm, (D, sh, mk))(jnp.asarray(w0), D, sh, mk)
    state = state._replace(status=jnp.zeros_like(state.status))  # RUNNING again: update must work
    env = dict(x=state.x, g=state.g, f=state.f, lower=lower, upper=upper, D=D, sh=sh, mk=mk,
               mem=state.memory, state=state)

    def args(e):
        return e["D"], e["sh"], e["mk"]

    def gcp(e):
        return generalized_cauchy_point(e["x"], e["g"], e["lower"], e["upper"], e["mem"], PLAIN)

    def direction(e):
        return lbfgsb.search_direction(e["x"], e["g"], e["lower"], e["upper"], e["mem"], PLAIN)

    def line_search(e):
        return lbfgsb.line_search(OBJECTIVE, args(e), e["state"], e["z"], e["lower"], e["upper"],
                                  jnp.array(True), maxls=full.options.maxls, sums=PLAIN)

    env["cp"] = jax.jit(gcp)(env)
    env["z"] = jax.jit(direction)(env)[0]
    ls = jax.jit(line_search)(env)
    s, y, sy, ss = lbfgsb.correction_pair(env["x"], env["g"], env["z"], ls, PLAIN)
    env.update(s=s, y=y, sy=sy, ss=ss)
    cp = env["cp"]
    t0 = jnp.where(env["g"] > 0, (env["x"] - 1.0) / jnp.abs(env["g"]), jnp.inf)

    def t(fn):
        return 1e3 * time_part(fn, env)

    return dict(
        n_brk=int(jnp.sum(~cp.free & (cp.xcp != env["x"]))),
        free=int(jnp.sum(cp.free)),
        at_bound=int(jnp.sum(env["x"] <= PAPER.bounds[0])),
        ls_fev=int(ls.n_fev),
        objective=t(lambda e: OBJECTIVE(e["x"], *args(e))),
        cauchy=t(gcp),
        argsort=1e3 * time_part(lambda e: jnp.argsort(e["x"], stable=True), dict(x=t0)),
        subspace=t(lambda e: lbfgsb.subspace_minimization(e["x"], e["g"], e["cp"], e["lower"], e["upper"],
                                                          e["mem"], PLAIN)),
        direction=t(direction),
        line_search=t(line_search),
        memory=t(lambda e: lbfgsb.update_memory(e["mem"], e["s"], e["y"], e["sy"], e["ss"], PLAIN)),
        update=t(lambda e: full.update(e["state"], e["lower"], e["upper"], *args(e))),
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--representations", default="encodec,cochlea,stft,clap,scattering,mertcat,stmf")
    p.add_argument("--dataset", default="Barthet2010")
    p.add_argument("--maxiter", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm", type=int, default=50, help="iterations before the breakdown's state")
    p.add_argument("--no-breakdown", action="store_true")
    p.add_argument("--no-runs", action="store_true", help="only the breakdown")
    p.add_argument("--wall", action="store_true", help="wall time instead of this process's CPU time")
    a = p.parse_args(argv)
    global clock
    clock = time.perf_counter if a.wall else time.process_time
    print(f"affinity {sorted(os.sched_getaffinity(0))}, XLA_FLAGS={os.environ['XLA_FLAGS']!r}, "
          f"{'wall' if a.wall else 'process CPU'} time", flush=True)
    rows = []
    for rep in a.representations.split(","):
        D, s, w0 = problem(rep, a.dataset)
        n = D.shape[1]
        unpadded, pad = padded(D, s, False), padded(D, s, True)
        if not a.no_runs:
            runs = {"ours": compiled_run(n, a.maxiter, unpadded), "ours_pad": compiled_run(n, a.maxiter, pad)}
        best = {}
        for _ in range(0 if a.no_runs else a.repeats):  # interleaved: the machine is shared
            for name, res in [("scipy", scipy_run(D, s, w0, a.maxiter)),
                              ("ours", ours_run(runs["ours"], w0, unpadded)),
                              ("ours_pad", ours_run(runs["ours_pad"], w0, pad))]:
                if name not in best or res[0] < best[name][0]:
                    best[name] = res
        row = dict(rep=rep, n=n, pairs=D.shape[0])
        for name, (sec, nit, nfev, fval) in best.items():
            row[name] = 1e3 * sec / max(nit, 1)
            row[name + "_nit"], row[name + "_nfev"], row[name + "_f"] = nit, nfev, fval
        if not a.no_breakdown:
            row.update(breakdown(*unpadded, w0, a.warm))
        rows.append(row)
        print(row, flush=True)
    print()
    print(f"{a.dataset}, {a.maxiter} iterations at most, minimum of {a.repeats} runs")
    print("| representation | n | pairs | scipy ms/it | ours ms/it (padded) | ratio | iterations scipy / ours "
          "| evaluations scipy / ours |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows if not a.no_runs else []:
        print(f"| {r['rep']} | {r['n']} | {r['pairs']} | {r['scipy']:.3f} | {r['ours']:.3f} ({r['ours_pad']:.3f}) "
              f"| {r['scipy'] / r['ours']:.2f} | {r['scipy_nit']} / {r['ours_nit']} "
              f"| {r['scipy_nfev']} / {r['ours_nfev']} |")
    if not a.no_breakdown:
        parts = ["objective", "cauchy", "argsort", "subspace", "direction", "line_search", "memory", "update"]
        print()
        print("ms per call, state after the warm-up (line search: with its evaluations; update: one iteration)")
        print("| representation | n | " + " | ".join(parts) + " | ls evals | free / at bound |")
        print("|---|---|" + "---|" * (len(parts) + 2))
        for r in rows:
            print(f"| {r['rep']} | {r['n']} | " + " | ".join(f"{r[k]:.3f}" for k in parts)
                  + f" | {r['ls_fev']} | {r['free']} / {r['at_bound']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
