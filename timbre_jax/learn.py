"""Learn the weights of a perceptual metric: NNLS warm start, then L-BFGS-B on -P.

Two solvers fit the same problem (``solver=``): ``"lbfgsb"``, the paper's method, and
``"exact"``, the certified global optimum of :mod:`timbre_jax.exact`.

The batched core is :func:`solve_grouped`: ``G`` groups of problems, each group sharing
one pair-difference matrix ``D`` (a dataset in one representation) and holding ``K``
problems that differ only in their ratings and mask (noisy ratings of the robustness
sweep, relabelled sounds of the permutation null, held-out sounds of cross-validation).
The inner ``vmap`` leaves ``D`` unbatched, so ``D @ x`` becomes one (p, n) x (n, K)
product and ``D`` is never copied per problem.

:func:`learn_metric` and :func:`learn_metrics` are the user-facing entry points.  The
fit's settings are one frozen :class:`FitOptions` (the L-BFGS-B options and the box of
the weights; :data:`DEFAULT` is the paper's), a static argument of :func:`solve_grouped`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax import Array

from . import exact, lbfgsb
from .errors import FitError, UsageError
from .lbfgsb import LBFGSB, LBFGSBOptions
from .nnls import EPS, nnls, warm_start
from .pearson import condensed, pair_differences, pearson_and_grad, standardize_ratings
from .ratings import asymmetry, first_infinite_pair, pair_of_index
from .reductions import INVARIANT
from .sharding import pad_to_devices, per_device, place

STARTS_SPREAD = 1.0  # standard deviation, in ln w, of the extra starts around the first
SOLVERS = ("lbfgsb", "exact")
STATUS = {"lbfgsb": lbfgsb.Status, "exact": exact.Status}  # each solver's status codes


@dataclass(frozen=True)
class FitOptions(LBFGSBOptions):
    """Everything that sets the paper's fit: the L-BFGS-B options (the fields of
    :class:`~timbre_jax.lbfgsb.LBFGSBOptions`: ``maxiter``, ``maxls``, ``history``,
    ``ftol``, ``gtol``, ``restart_on_stagnation``, ``invariant_sums``) and the box of the
    weights, ``lower <= w <= upper``.  Frozen and hashable: a static argument of
    :func:`solve_grouped`, and part of the fingerprints of saved sweeps and tables.
    """

    lower: float = 1.0
    upper: float = 1e15

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.lower <= self.upper:
            raise UsageError(f"the weights' bounds must satisfy 0 < lower <= upper; got [{self.lower}, {self.upper}]")


DEFAULT = FitOptions()
"""The paper's settings: every field at its default."""


def fit_options(options: FitOptions | None = None, maxiter: int | None = None) -> FitOptions:
    """``options`` (default :data:`DEFAULT`), with ``maxiter`` in place of its own if given:
    the convenience keyword of the public functions."""
    options = DEFAULT if options is None else options
    return options if maxiter is None else replace(options, maxiter=maxiter)


def require_float64() -> None:
    """Raise unless JAX computes in float64: ``import timbre_jax`` switches it on, so this
    fails only when other code switched it off afterwards (the weights span 1 to 1e15, and
    in float32 the reward's gradient keeps no correct digit)."""
    if not jax.config.jax_enable_x64:
        raise UsageError("JAX's float64 is off (jax_enable_x64 = False), and the fits need it: "
                         "call jax.config.update('jax_enable_x64', True) before fitting")


def explained_variance(pearson):
    """P^2 for P > 0, else 0: distances that anti-correlate with the ratings explain none
    of them (only the exact solver can report P <= 0, when no weighting does better)."""
    P = np.asarray(pearson, dtype=np.float64)
    return np.where(P > 0, P, 0.0) ** 2


def converged(status, solver: str, iterations):
    """Whether each fit of ``solver`` ended regularly (arrays, elementwise): see
    :meth:`timbre_jax.lbfgsb.Status.converged` (not at the iteration limit, not by a line
    search that failed before a single step was accepted) and
    :meth:`timbre_jax.exact.Status.converged` (certified)."""
    return STATUS[solver].converged(np.asarray(status), np.asarray(iterations))


def degenerate_start(D, ratings) -> bool:
    """Whether the NNLS warm start of (D (p, n), ratings (p,)) is x = 0, i.e. every weight
    at 1/sqrt(eps): no non-negative combination of the features fits the ratings better
    than zero.  x = 0 solves the NNLS exactly when D^T s <= 0 (its KKT condition), e.g.
    for ratings shifted below zero: the paper's start has no intercept, so it depends on
    the offset of the ratings (the exact solver does not)."""
    return bool(np.all(np.asarray(D).T @ np.asarray(ratings) <= 0))


def status_message(status: int, solver: str = "lbfgsb") -> str:
    """The message of ``solver``'s status code (``"UNKNOWN"`` for a code it does not have)."""
    try:
        return STATUS[solver](int(status)).message
    except ValueError:
        return "UNKNOWN"


@dataclass(frozen=True)
class MetricResult:
    """One learned metric.

    With ``solver="lbfgsb"``, ``converged`` is False when the iteration limit stopped
    the solver, when the line search failed before any step was accepted (the weights
    are then the start), or when the reward is not finite; with the paper's 1e-36
    tolerances the usual end is stagnation of the line search, reported in ``message``.
    ``degenerate_start`` is True when the NNLS warm start was x = 0 (every weight equal,
    :func:`degenerate_start`): the paper's start has no intercept, so ratings shifted by
    a constant can give it.  With
    ``solver="exact"``, ``certified`` is True when the optimality (KKT) conditions were
    verified on every feature: ``pearson`` is then the global maximum of P.
    """

    weights: np.ndarray
    pearson: float
    iterations: int
    status: int
    message: str
    start: int = 0  # which start gave this fit (0: the NNLS or random start itself)
    solver: str = "lbfgsb"
    degenerate_start: bool = False  # the NNLS start was x = 0 (see :func:`degenerate_start`)

    @property
    def explained_variance(self) -> float:
        return float(explained_variance(self.pearson))

    @property
    def converged(self) -> bool:
        return bool(converged(self.status, self.solver, self.iterations)) and bool(np.isfinite(self.pearson))

    @property
    def certified(self) -> bool:
        """True for an exact fit whose global optimality was verified."""
        return self.solver == "exact" and self.converged


# ----------------------------------------------------------------------------- input

def as_pairs(ratings, l: int, name: str | None = None) -> np.ndarray:
    """Condensed pair ratings (p,) from an (l, l) matrix or a (p,) vector; NaN = unrated.

    An (l, l) matrix must be symmetric off the diagonal (NaN on both sides counts as
    equal, NaN on one side only does not; the diagonal is ignored): only its upper
    triangle is read, so a lower-triangular matrix would otherwise lose every rating.
    Only NaN means unrated: +inf or -inf is an error.  Errors name the first offending
    pair (i, j) and are prefixed with ``name`` when given.
    """
    where = f"{name}: " if name else ""
    r = np.asarray(ratings, dtype=np.float64)
    p = l * (l - 1) // 2
    if r.shape == (l, l):
        bad = first_infinite_pair(r)
        if bad is not None:
            i, j = bad
            raise FitError(f"{where}rating of pair ({i}, {j}) is {r[i, j]}; use NaN for an unrated pair")
        why = asymmetry(r)
        if why:
            raise FitError(f"{where}{why}; give the full symmetric matrix (NaN = unrated)")
        return condensed(r)
    if r.shape == (p,):
        inf = np.flatnonzero(np.isinf(r))
        if inf.size:
            i, j = pair_of_index(int(inf[0]), l)
            raise FitError(f"{where}rating of pair ({i}, {j}) is {r[inf[0]]}; use NaN for an unrated pair")
        return r
    raise FitError(f"{where}ratings have shape {r.shape}; expected ({l}, {l}) or ({p},) for {l} sounds")


def check_problem(features, ratings, name: str = "problem") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one problem; returns features (l, n), pair ratings (p,) and mask (p,)."""
    F = np.asarray(features, dtype=np.float64)
    if F.ndim != 2:
        raise FitError(f"{name}: features must be (sounds, features), got shape {F.shape}")
    l, n = F.shape
    if l < 3:
        raise FitError(f"{name}: {l} sounds; at least 3 are needed")
    if n == 0:
        raise FitError(f"{name}: no features (n = 0)")
    bad = np.flatnonzero(~np.isfinite(F).all(axis=1))
    if bad.size:
        raise FitError(f"{name}: non-finite features for sound(s) {', '.join(map(str, bad))}")
    s = as_pairs(ratings, l, name)
    mask = np.isfinite(s)  # NaN only: as_pairs refuses inf
    if mask.sum() < 3:
        raise FitError(f"{name}: {int(mask.sum())} rated pairs; at least 3 are needed")
    if np.ptp(s[mask]) == 0:
        raise FitError(f"{name}: ratings are constant over the rated pairs (zero variance)")
    D = np.asarray(pair_differences(F))
    if np.all(np.ptp(D[mask], axis=0) == 0):
        raise FitError(f"{name}: distances are constant over the rated pairs for every weight (zero variance)")
    return F, np.where(mask, s, 0.0), mask.astype(np.float64)


def random_start(n: int, seed: int, options: FitOptions = DEFAULT) -> np.ndarray:
    """Thoret et al. (2021) start: |1 + 0.01 N(0, 1)|, projected into the options' bounds."""
    w = np.abs(1.0 + 0.01 * np.random.default_rng(seed).standard_normal(n))
    return np.clip(w, options.lower, options.upper)


def extra_starts(w0: np.ndarray, count: int, seed, options: FitOptions = DEFAULT) -> list[np.ndarray]:
    """``count`` starts w0 * exp(STARTS_SPREAD * N(0, 1)) (one draw per weight), projected
    into the bounds.  Why: run to stagnation, L-BFGS-B is chaotic on the
    ill-conditioned problems (stft): a change in the last bits of the start moves the
    end point by up to 0.05 in explained variance, for scipy as for us.  The best of a
    few starts is a robust optimum where one start is a draw."""
    rng = np.random.default_rng(seed)
    return [np.clip(w0 * np.exp(STARTS_SPREAD * rng.standard_normal(w0.shape)), options.lower, options.upper)
            for _ in range(count)]


def host_nnls_start(D: np.ndarray, s: np.ndarray, options: FitOptions = DEFAULT) -> np.ndarray:
    """The NNLS warm start w0 = 1 / sqrt(x + eps) (n,) of the rated pairs D (p, n), s (p,),
    in the bounds of ``options``, computed on the host by ``scipy.optimize.nnls`` (the
    paper's NNLS) on unit-norm columns, as :func:`timbre_jax.nnls.nnls` solves it.

    Sequence mode (the CPU) starts from it: one problem at a time, the JAX active set
    factors a (2p, p) QR afresh at every step, which cost more per problem than the whole
    fit on the small representations, where scipy updates one factorization.  Lockstep
    (the GPU) keeps the JAX NNLS inside the compiled batch."""
    D = np.asarray(D, dtype=np.float64)
    scale = np.sqrt(np.sum(D * D, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    try:
        x, _ = scipy.optimize.nnls(D / scale, np.asarray(s, dtype=np.float64), maxiter=10 * D.shape[1])
    except RuntimeError:  # no convergence in 10 n steps (never seen): the JAX active set
        x = np.asarray(nnls(jnp.asarray(D), jnp.asarray(s)))
    else:
        x = x / scale
    return np.clip(1.0 / np.sqrt(x + EPS), options.lower, options.upper)


@jax.jit
def _nnls_start(D, s, lower, upper):
    """The NNLS start (n,) of (D (p, n), s (p,)) in the bounds [lower, upper], outside a
    solve (the seed of the extra starts); with fixed-tree sums, as it always was computed."""
    return jnp.clip(warm_start(D, s, sums=INVARIANT), lower, upper)


# ----------------------------------------------------------------------------- solver

def _objective(w, D, s_hat, mask, sums):
    P, g = pearson_and_grad(D, w, s_hat, mask, sums)
    return -P, -g


def default_lockstep() -> bool:
    """Whether problems run in lockstep (``vmap``) by default: yes on accelerators, no on
    the CPU.  A vmapped ``while_loop`` iterates until the slowest problem has finished and
    evaluates both sides of every branch (line search included) for all problems; on a
    GPU that is the price of filling the device, on a CPU it only multiplies the work
    (measured on 2 cores, Table I cochlea: 15.3 s in lockstep, about 2 s in sequence)."""
    return jax.default_backend() != "cpu"


def _over(f, xs: tuple, lockstep: bool, in_axes: tuple):
    """Apply ``f`` over the leading axis of the arguments ``xs`` whose ``in_axes`` is 0
    (those with None are shared): vmapped, or one after the other inside the same
    compiled program (``lax.map``)."""
    if lockstep:
        return jax.vmap(f, in_axes=in_axes)(*xs)
    mapped = tuple(x if a == 0 else None for x, a in zip(xs, in_axes))
    return jax.lax.map(lambda m: f(*(x if a is None else mi for x, a, mi in zip(xs, in_axes, m))), mapped)


@partial(jax.jit, static_argnames=("options", "init", "lockstep", "solver"))
def solve_grouped(D: Array, s: Array, mask: Array, w0: Array | None = None, *,
                  options: FitOptions = DEFAULT, init: str = "nnls", lockstep: bool = True, solver: str = "lbfgsb"):
    """Fit G x K problems; D (G, p, n) shared within a group, s and mask (G, K, p).

    ``options``: the fit's :class:`FitOptions` (static).  ``solver="exact"`` returns the
    certified optimum of :func:`timbre_jax.exact.solve` (``w0``, ``init`` and the
    L-BFGS-B options then play no part; its status codes are
    :class:`timbre_jax.exact.Status`).

    ``w0`` (G, K, n) is used when ``init="given"``; otherwise the NNLS warm start is
    computed on each problem's own ratings.  ``lockstep`` vmaps the problems (GPU);
    otherwise they run one after the other in the same compiled call (CPU; see
    :func:`default_lockstep`).  Unless ``options.invariant_sums`` says otherwise, the sums
    are fixed trees in lockstep and plain in sequence (:mod:`timbre_jax.reductions`).
    The two modes differ only in the rounding of fused
    reductions (last bits; about 1e-10 in P after hundreds of iterations).  With several
    devices the G axis is split over them (G must be a multiple of the device count, see
    :func:`timbre_jax.sharding.pad_to_devices`) and each device solves its own groups
    with no communication.  Returns (weights (G, K, n), pearson (G, K), iterations (G, K),
    status (G, K)).
    """
    if options.invariant_sums is None:  # fixed-tree sums only where problems share a vmap
        options = replace(options, invariant_sums=lockstep)
    local = partial(_solve_local, options=options, init=init, lockstep=lockstep, solver=solver)
    args = (D, s, mask) if w0 is None else (D, s, mask, w0)
    return per_device(local, *args)


def _solve_local(D, s, mask, w0=None, *, options: FitOptions, init: str, lockstep: bool, solver: str):
    """:func:`solve_grouped` on the groups held by one device."""
    sums = options.sums
    minimizer = LBFGSB(partial(_objective, sums=sums), options)
    lower = jnp.full(D.shape[-1], options.lower)
    upper = jnp.full(D.shape[-1], options.upper)

    def one(Dg, sk, mk, wk):
        if solver == "exact":
            sol = exact.solve(Dg, sk, mk)
            return exact.weights(sol.u), sol.pearson, sol.iterations, sol.status
        if init == "nnls":
            wk = warm_start(Dg, sk, mk, sums=sums)  # LBFGSB.run projects it into the bounds
        s_hat = standardize_ratings(sk, mk, sums)
        state = minimizer.run(wk, lower, upper, Dg, s_hat, mk)
        return state.x, -state.f, state.iteration, state.status

    batched = None if w0 is None else 0  # the NNLS start needs no w0 array at all

    def group(Dg, sg, mg, wg):
        return _over(one, (Dg, sg, mg, wg), lockstep, in_axes=(None, 0, 0, batched))

    return _over(group, (D, s, mask, w0), lockstep, in_axes=(0, 0, 0, batched))


def padded_pairs(p: int) -> int:
    """Pair axis length used for p pairs: the next power of two.  The batch-invariant sums
    pad to it anyway, and fewer distinct shapes mean fewer compilations."""
    return 1 << max(p - 1, 0).bit_length()


def chunk_size(p: int, n: int, K: int, budget_bytes: float | None = None, history: int = DEFAULT.history) -> int:
    """How many groups fit the memory budget: D (p n) plus per problem the L-BFGS-B
    history (2 m n, m = ``history``) and a few dozen work vectors, all float64."""
    if budget_bytes is None:
        budget_bytes = _memory_budget()
    per_group = 8 * (p * n + K * (2 * history + 40) * n + K * p * history)
    return max(1, int(budget_bytes // per_group))


def _memory_budget() -> float:
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return 0.5 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return 2e9  # host: 2 GB working set per chunk keeps a 24 GB machine comfortable


# ----------------------------------------------------------------------------- API

def _results(weights, pearson, iterations, status, solver: str) -> list[MetricResult]:
    return [
        MetricResult(np.asarray(w), float(P), int(it), int(st), status_message(st, solver), solver=solver)
        for w, P, it, st in zip(weights, pearson, iterations, status)
    ]


def learn_metrics(problems: Sequence[tuple], *, solver: str = "lbfgsb", init: str = "nnls", seed: int = 0,
                  maxiter: int | None = None, lockstep: bool | None = None, starts: int = 1,
                  options: FitOptions | None = None) -> list[MetricResult]:
    """Learn one metric per (features (l_i, n), ratings) problem, in one compiled batch.

    Problems may have different numbers of sounds but share ``n``; they are padded to a
    common pair count with masks.  ``ratings`` is an (l, l) matrix or a condensed (p,)
    vector; NaN marks an unrated pair.  ``init`` is ``"nnls"`` (warm start, the paper's)
    or ``"random"`` (Thoret et al. 2021, seeded by ``seed + problem index``).
    ``lockstep`` (default: :func:`default_lockstep`) vmaps the problems rather than
    solving them in sequence within the compiled call.  ``starts`` > 1 also solves each
    problem from ``starts - 1`` log-normal perturbations of its start
    (:func:`extra_starts`, seeded by ``(seed, problem index)``) and keeps the fit with
    the highest P on the fitted ratings; the first start is always among them, so P can
    only rise.  The result's ``start`` says which one won.  ``options``: the fit's
    :class:`FitOptions` (default :data:`DEFAULT`, the paper's); ``maxiter``, if given,
    replaces its iteration limit.

    ``solver="exact"`` returns the global optimum instead (:mod:`timbre_jax.exact`):
    weights in [1, 1e15] whose P is the largest any weights can reach, certified by the
    optimality conditions (``result.certified``).  It has no start, so ``init``,
    ``seed``, ``maxiter``, ``starts`` and the L-BFGS-B options belong to ``"lbfgsb"`` only.
    """
    if solver not in SOLVERS:
        raise UsageError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    if solver == "exact" and starts != 1:
        raise UsageError("starts applies to the lbfgsb solver; the exact solver has no start")
    if init not in ("nnls", "random"):
        raise UsageError(f"init must be 'nnls' or 'random', got {init!r}")
    if starts < 1:
        raise UsageError(f"starts must be at least 1, got {starts}")
    options = fit_options(options, maxiter)
    require_float64()
    problems = list(problems)
    if not problems:
        raise FitError("no problems given: pass a list of (features, ratings) pairs")
    checked = [check_problem(F, r, name=f"problem {i}") for i, (F, r) in enumerate(problems)]
    ns = {F.shape[1] for F, _, _ in checked}
    if len(ns) != 1:
        raise FitError(f"all problems in a batch must share the number of features; got {sorted(ns)}")
    n = ns.pop()
    # Unrated pairs carry no information: keep only the rated rows of each D (a joint
    # metric over several datasets would otherwise carry every cross-dataset pair).
    rated = [(np.asarray(pair_differences(F))[m > 0], sg[m > 0]) for F, sg, m in checked]
    if lockstep is None:
        lockstep = default_lockstep()
    first = None
    if init == "random":
        first = [random_start(n, seed + g, options) for g in range(len(rated))]
    elif solver == "lbfgsb" and not lockstep:
        first = [host_nnls_start(Dg, sg, options) for Dg, sg in rated]
    if solver == "exact":
        return _solve_bucketed(rated, None, options, lockstep, solver)
    results = _solve_bucketed(rated, first, options, lockstep)
    if init == "nnls":
        results = [replace(r, degenerate_start=degenerate_start(Dg, sg)) for r, (Dg, sg) in zip(results, rated)]
    if starts == 1:
        return results
    # In lockstep the NNLS start is computed again here (cheap next to the fits) rather
    # than passed to the first solve, so that start 0 stays the very call that starts=1 makes.
    w0 = first or [np.asarray(_nnls_start(Dg, sg, options.lower, options.upper)) for Dg, sg in rated]
    extra = [extra_starts(w0[g], starts - 1, (seed, g), options) for g in range(len(rated))]
    which = [(g, j) for g in range(len(rated)) for j in range(1, starts)]
    tried = _solve_bucketed([rated[g] for g, _ in which], [extra[g][j - 1] for g, j in which], options, lockstep)
    for (g, j), r in zip(which, tried):
        if np.isfinite(r.pearson) and r.pearson > results[g].pearson:
            results[g] = replace(r, start=j, degenerate_start=results[g].degenerate_start)
    return results


def _solve_bucketed(rated, starts, options: FitOptions, lockstep: bool, solver: str = "lbfgsb") -> list[MetricResult]:
    """:func:`_solve_rated` over problems of any sizes: in lockstep the fixed-tree sums make
    padding harmless (one call); in sequence the sums are plain, so each problem keeps
    the shape it has when solved alone: one call per padded pair count (at most 3 for
    <= 20 sounds)."""
    # The exact solver is not chaotic (its optimum does not hang on the last bits of a sum),
    # so every problem can share the largest shape: one compilation.
    one_shape = lockstep or solver == "exact"
    key = (lambda g: 0) if one_shape else (lambda g: padded_pairs(len(rated[g][1])))
    results: list[MetricResult | None] = [None] * len(rated)
    for k in sorted({key(g) for g in range(len(rated))}):
        members = [g for g in range(len(rated)) if key(g) == k]
        out = _solve_rated([rated[g] for g in members], None if starts is None else [starts[g] for g in members],
                           options, lockstep, solver)
        for g, r in zip(members, out):
            results[g] = r
    return results  # type: ignore[return-value]


def solve_packed(problems, starts, options: FitOptions, lockstep: bool, solver: str = "lbfgsb"):
    """Pack problems into one batch and solve it with one compiled call.

    ``problems``: G tuples (D (p_g, n), ratings (K_g, p_g), mask (K_g, p_g)), the K_g
    problems of a tuple sharing its D.  Pairs are padded (masked) to a common power of
    two, and each tuple's problems to K = max K_g by repeating its first one, so that
    every problem is well posed.  ``starts``: G arrays (K_g, n) of L-BFGS-B starts,
    padded the same way, or None for the NNLS start solved in the batch.  Returns the padded D (G, p, n) and, as numpy
    arrays, weights (G, K, n), pearson, iterations, status (G, K); rows past K_g are
    padding."""
    p = padded_pairs(max(D.shape[0] for D, _, _ in problems))
    if solver == "exact":
        p = max(p, exact.MIN_PAIRS)
    G, K, n = len(problems), max(r.shape[0] for _, r, _ in problems), problems[0][0].shape[1]
    D = np.zeros((G, p, n))
    s = np.zeros((G, K, p))
    m = np.zeros((G, K, p))
    w0 = None if starts is None else np.zeros((G, K, n))
    for g, (Dg, rg, mg) in enumerate(problems):
        pg, kg = rg.shape[1], rg.shape[0]
        D[g, :pg], s[g, :kg, :pg], m[g, :kg, :pg] = Dg, rg, mg
        s[g, kg:, :pg], m[g, kg:, :pg] = rg[0], mg[0]
        if w0 is not None:
            w0[g, :kg], w0[g, kg:] = starts[g], starts[g][0]
    if solver == "exact" and not lockstep:
        sol = exact.solve_problems(D, s, m)  # compiles its active-set loop once for every n
        out = exact.weights(sol.u), sol.pearson, sol.iterations, sol.status
    else:
        arrays = [D, s, m] if w0 is None else [D, s, m, w0]
        arrays, _ = pad_to_devices(*arrays)
        out = solve_grouped(*place(*arrays), options=options, init="nnls" if starts is None else "given",
                            lockstep=lockstep, solver=solver)
    return (D, *(np.asarray(o)[:G] for o in out))


def _solve_rated(rated, starts, options: FitOptions, lockstep: bool, solver: str = "lbfgsb") -> list[MetricResult]:
    """:func:`solve_packed` over single problems (D (p_i, n), s (p_i,)); ``starts`` (n,)
    each, or None for the NNLS start."""
    problems = [(Dg, sg[None], np.ones((1, len(sg)))) for Dg, sg in rated]
    _, *out = solve_packed(problems, None if starts is None else [np.asarray(w)[None] for w in starts], options,
                           lockstep, solver)
    return _results(*(o[:, 0] for o in out), solver=solver)


def learn_metric(features, ratings, *, solver: str = "lbfgsb", init: str = "nnls", seed: int = 0,
                 maxiter: int | None = None, starts: int = 1, options: FitOptions | None = None) -> MetricResult:
    """Learn the weights w (n,) that maximise P(d_w^2, ratings) for one problem.

    ``features`` (l, n), ``ratings`` (l, l) or condensed (p,), NaN = unrated pair;
    ``solver``, ``starts``, ``maxiter``, ``options``: see :func:`learn_metrics`.
    """
    return learn_metrics([(features, ratings)], solver=solver, init=init, seed=seed, maxiter=maxiter,
                         starts=starts, options=options)[0]


def optimality_gap(features, ratings, weights) -> float:
    """EV* - EV(weights) >= 0: how far any weights (from any tool) are from the global
    optimum of the fit, in explained variance (P^2, 0 for P <= 0).

    ``features`` (l, n), ``ratings`` (l, l) or condensed (p,) with NaN = unrated,
    ``weights`` (n,) positive.  0 means the weights are optimal.
    """
    F, s, mask = check_problem(features, ratings, name="optimality_gap")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (F.shape[1],) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise FitError(f"weights must be {F.shape[1]} positive finite numbers, got shape {w.shape}")
    best = learn_metric(F, np.where(mask > 0, s, np.nan), solver="exact")
    D = np.asarray(pair_differences(F))[mask > 0]
    d, r = D @ w ** -2.0, s[mask > 0]
    P = float(np.corrcoef(d, r)[0, 1]) if np.ptp(d) > 0 else 0.0
    # The optimum's own rounding (~1e-15) must not make a gap negative.
    return max(best.explained_variance - float(explained_variance(P)), 0.0)
