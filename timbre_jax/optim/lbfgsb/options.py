"""What a caller sets and what the solver reports: the options (:class:`LBFGSBOptions`,
frozen and hashable, so a static argument of ``jit``; :data:`DEFAULT_OPTIONS`, the
paper's settings) and the stopping reasons (:class:`Status`, with scipy's messages).
The float64 machine epsilon of the reference's curvature test and GCP safeguard is
:data:`timbre_jax.core.reductions.EPS`."""

from __future__ import annotations

from dataclasses import dataclass

from timbre_jax.core import reductions
from timbre_jax.core.reductions import Sums
from timbre_jax.core.status import StatusCode


class Status(StatusCode):
    """Why the solver stopped (RUNNING while it has not), with scipy's message.

    ``Status(code).message`` is the text; :meth:`converged` says which ends count as
    convergence.
    """

    RUNNING = 0, "RUNNING"
    CONVERGED_PGTOL = 1, "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"
    CONVERGED_FTOL = 2, "CONVERGENCE: REL_REDUCTION_OF_F <= FACTR*EPSMCH"
    MAX_ITERATIONS = 3, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"
    ABNORMAL_LINE_SEARCH = 4, "ABNORMAL_TERMINATION_IN_LNSRCH"

    @staticmethod
    def converged(status, iterations):
        """Whether a run with this final ``status`` and iteration count converged: a
        tolerance was met, or the line search failed after at least one accepted step
        (with tolerances of 1e-36, stagnation: the usual end).  Not converged: the
        iteration limit, a line search that failed before any step (the result is the
        start), or still running.  Arrays (NumPy or JAX) or scalars, elementwise."""
        tolerance = (status == Status.CONVERGED_PGTOL) | (status == Status.CONVERGED_FTOL)
        return tolerance | ((status == Status.ABNORMAL_LINE_SEARCH) & (iterations > 0))


@dataclass(frozen=True)
class LBFGSBOptions:
    """Options of :class:`LBFGSB`; frozen and hashable, so a static argument of ``jit``.

    scipy's names in brackets.  ``maxiter``: iteration limit; ``maxls``: evaluations per
    line search; ``history``: stored correction pairs [maxcor]; ``ftol``: stop when
    (f_prev - f) <= ftol max(|f_prev|, |f|, 1) [ftol = factr eps]; ``gtol``: stop when
    the projected gradient's inf-norm <= gtol [pgtol].  The defaults (1e-36) run to
    stagnation, as the paper does.  ``restart_on_stagnation``: see the package docstring;
    False reproduces scipy's stop.  ``invariant_sums``: the reductions
    (:mod:`timbre_jax.core.reductions`): True for fixed trees (the same rounding alone or in a
    vmapped batch, slower), False for plain ones; None, the default, means plain for a
    direct :class:`LBFGSB` and, in :class:`timbre_jax.solvers.Lbfgsb`, trees exactly
    when the problems run in lockstep.
    """

    maxiter: int = 10_000
    maxls: int = 50
    history: int = 10
    ftol: float = 1e-36
    gtol: float = 1e-36
    restart_on_stagnation: bool = True
    invariant_sums: bool | None = None

    def __post_init__(self):
        if self.maxls <= 0 or self.history <= 0 or self.maxiter <= 0:
            raise ValueError("maxiter, maxls and history must be positive")

    @property
    def sums(self) -> Sums:
        """The reductions these options ask for (None: plain)."""
        return reductions.sums(bool(self.invariant_sums))


DEFAULT_OPTIONS = LBFGSBOptions()
"""Every option at its default: the paper's settings, plain sums."""
