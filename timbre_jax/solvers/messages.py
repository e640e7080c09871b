"""Plain words for what the fits report: the solvers' stops and the warnings a reader needs.

The solvers' status enums (:class:`timbre_jax.optim.lbfgsb.Status`, :class:`timbre_jax.optim.exact_lockstep.Status`)
keep their codes and their scipy-style ``.message`` strings: those are written to result
files whose bytes must not change.  This module only says what each one means for the
person reading it, and whether the result can be trusted, in one sentence
(:func:`verdict`).  :func:`too_many_weights` is the warning for fits that have at least as
many weights as rated pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from timbre_jax.optim.exact_lockstep import Status as ExactStatus
from timbre_jax.optim.lbfgsb.options import Status as LbfgsbStatus


@dataclass(frozen=True)
class Verdict:
    """``text``: what the solver's stop means, in plain words; ``usable``: whether the
    result is what the solver promises (L-BFGS-B: a converged local fit; exact: the
    certified global optimum)."""

    text: str
    usable: bool


_LBFGSB = {
    LbfgsbStatus.CONVERGED_PGTOL: Verdict(
        "converged: the projected gradient fell below its tolerance (a local optimum); the result is usable", True),
    LbfgsbStatus.CONVERGED_FTOL: Verdict(
        "converged: the objective stopped decreasing (its relative reduction fell below the tolerance); "
        "the result is usable", True),
    LbfgsbStatus.ABNORMAL_LINE_SEARCH: Verdict(
        "converged: the line search could not improve the last bits of the objective, L-BFGS-B's usual stop "
        "at the paper's tolerances (1e-36), not a failure; the result is usable", True),
    LbfgsbStatus.MAX_ITERATIONS: Verdict(
        "not converged: stopped at the iteration limit (--maxiter); the weights are an approximation, not a "
        "fit to trust: raise --maxiter or use --solver exact", False),
    LbfgsbStatus.RUNNING: Verdict("did not finish (stopped while running); the result is not usable", False),
}
_LBFGSB_NO_STEP = Verdict(
    "failed: the line search found no step from the start, so the weights are the start's; the result is not "
    "usable (try --init random, --starts, or --solver exact)", False)

_EXACT = {
    ExactStatus.OPTIMAL: Verdict(
        "certified global optimum: the optimality (KKT) conditions hold, no weights explain more of the "
        "variance; the result can be trusted", True),
    ExactStatus.NO_POSITIVE_CORRELATION: Verdict(
        "certified optimum, but no non-negative weighting correlates positively with the ratings: explained "
        "variance 0, these features explain none of them; the result can be trusted", True),
    ExactStatus.ITERATION_LIMIT: Verdict(
        "not certified: the exact solver stopped at its iteration limit; the explained variance may be below "
        "the true maximum, so read it as a lower bound", False),
}


def verdict(solver: str, status: int, iterations: int, message: str = "", converged: bool | None = None) -> Verdict:
    """What the stop of ``solver`` ("lbfgsb" or "exact") with final ``status`` after
    ``iterations`` means.  A solver or status this module does not know falls back to
    the solver's own ``message`` and ``converged`` verdict."""
    status = int(status)
    if solver == "lbfgsb" and status in set(LbfgsbStatus):
        if status == LbfgsbStatus.ABNORMAL_LINE_SEARCH and int(iterations) == 0:
            return _LBFGSB_NO_STEP
        return _LBFGSB[LbfgsbStatus(status)]
    if solver == "exact" and status in set(ExactStatus):
        return _EXACT[ExactStatus(status)]
    usable = bool(converged)
    return Verdict(f"{solver} ended with status {status} ({message or 'no message'}); "
                   f"{'converged by its own test' if usable else 'not converged'}", usable)


def verdict_of(result) -> Verdict:
    """:func:`verdict` of a :class:`timbre_jax.fit.learn.MetricResult`."""
    return verdict(result.solver, result.status, result.iterations, result.message, result.converged)


def too_many_weights(cells) -> str | None:
    """One warning line for the fits with at least as many weights (features) as rated
    pairs, or None when there is none.  ``cells``: (label, weights, rated pairs) per fit.

    With n >= p weights the fit has as many free numbers as ratings: but for the
    weights' non-negativity it fits any ratings exactly (EV 1 whatever the sounds), so a
    high explained variance says little about the representation (as evaluate's
    ``row_warnings`` says too)."""
    over = [(label, n, p) for label, n, p in cells if n >= p]
    if not over:
        return None
    if len(over) == 1:
        label, n, p = over[0]
        what = f"{label}: {n} weights for {p} rated pairs"
    else:
        what = (f"{len(over)} fits have at least as many weights as rated pairs ("
                + ", ".join(f"{label} {n} for {p}" for label, n, p in over) + ")")
    return (f"{what}: at least one weight per rating to fit, so a high explained variance can come from the "
            "number of weights rather than from the sounds (only the weights' non-negativity stops an exact fit "
            "of any ratings); compare it with `timbre-jax null` (relabelled sounds) or `crossval` (held-out sounds)")
