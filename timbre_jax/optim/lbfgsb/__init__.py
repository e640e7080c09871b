"""L-BFGS-B in pure JAX: bound-constrained limited-memory BFGS, vmappable and jittable.

A port of the algorithm of Byrd, Lu, Nocedal & Zhu (1995), "A limited memory algorithm
for bound constrained optimization", SIAM J. Sci. Comput. 16(5), in the form of
L-BFGS-B 3.0 (Morales & Nocedal 2011), which is what ``scipy.optimize.minimize(method=
"L-BFGS-B")`` runs.  Every iteration (:class:`LBFGSB`, in ``driver.py``) follows the
reference code step by step:

1. :func:`cauchy_point` (``cauchy.py``) -- the generalized Cauchy point (GCP) along the
   projected steepest-descent path, on the compact L-BFGS model ``B = theta I - W M W^T``,
   ``W = [Y^T, theta S^T]`` (n, 2m).
2. :func:`subspace_minimization` (``subspace.py``) -- the direct primal method on the
   variables free at the GCP, then the 3.0 projection / backtracking safeguard.
3. :func:`line_search` (``more_thuente.py``) -- More-Thuente (``dcsrch`` / ``dcstep``)
   with ftol=1e-3, gtol=0.9, xtol=0.1 and the maximum step allowed by the bounds.
4. :func:`update_memory` (``memory.py``) -- the correction pair (s, y), skipped unless the
   curvature ``s^T y`` exceeds ``eps * (-g^T s)``, and the middle matrix ``M`` of the model.

The options and stopping reasons are in ``options.py``; the state carried from one
iteration to the next (:class:`LBFGSBState`) in ``state.py``.

Where the reference code loops over variables or breakpoints, this one uses masks and
array kernels, in one of two formulations chosen when JAX traces, by the sums the options
ask for (``tracing.py``).  With fixed-tree sums (``invariant_sums=True``: problems in
lockstep under ``vmap``, the GPU), where every branch runs for every problem: the GCP
evaluates the slope and curvature of the piecewise quadratic on every segment of the path
at once, after one sort of the breakpoints (the per-breakpoint rank-one updates of
``p = W^T d`` and ``c = W^T (x_cp - x)`` become cumulative sums over (n, 2m) arrays), and
the subspace step's sums over the free variables are (m, n) x (n, m) products.  With
plain sums (one problem at a time: learn's sequence mode on the CPU), where ``lax.cond``
and ``while_loop`` skip what they do not need: the GCP walks the breakpoints in order and
stops at the first segment holding the minimizer (:func:`cauchy_walk` in ``cauchy.py``;
on the paper's problems before the first or second of them), and the free sums are the
memory's totals less the sums over the few active variables (:func:`free_active_grams`
in ``subspace.py``).  Both give the same iterates up to rounding.  The index sets of free
variables are boolean masks; the history is a fixed (m, n) ring (see :class:`Memory`)
with its unused rows zero.

Everything is float64 (enabled by importing :mod:`timbre_jax`), runs under ``jax.jit``
and ``jax.vmap``: with a batch of problems each one stops on its own, and a finished
problem is left exactly as it was (``lax.while_loop`` selects its old state).  The
options are one frozen (hashable) :class:`LBFGSBOptions`, a static argument wherever the
solver is jitted; the stopping reasons are :class:`Status`, an ``IntEnum`` whose members
carry scipy's messages (inside jitted code the status is an int32 array compared with
them).  Every reduction comes from the :class:`~timbre_jax.core.reductions.Sums` the options
choose: plain by default, fixed trees (``invariant_sums=True``) where a problem must
round the same alone or in a vmapped batch.

Deviations from the reference at the level of rounding or of cases it mishandles: the
GCP's prefix sums (trees) and closed-form segment values (both) associate sums
differently from the sequential updates; ``M`` is formed explicitly (2m x 2m) from the
same factorization ``bmv`` uses; the matrix of the subspace problem is rebuilt each
iteration rather than updated for the variables entering or leaving (``formk``); the first
line-search step is clipped to ``stpmax`` (where rounding would make the reference's
``dcsrch`` report an input error); ties between breakpoints are taken in index order
(the reference's heap takes them in an arbitrary order).  On well-conditioned problems
the iterates equal scipy's to ~1e-15.

One deviation in behaviour, on by default (``restart_on_stagnation``): a line search
that ends without any decrease of f while the memory holds pairs is treated like a
failed line search (memory emptied, retry from the same x by steepest descent) instead
of stopping with "REL_REDUCTION_OF_F" at once.  The run stops only when even steepest
descent makes no progress.  Until that event the iterates are the reference's; after
it, f can only be lower.  On ill-conditioned problems run to stagnation (ftol = 0) the
reference often stops at such a point although a fresh start of the memory still
progresses.

Module constants read when JAX traces (``WALK_STEPS``, ``ACTIVE_CAP``) must be changed
in the module that reads them (``cauchy``, ``subspace``), not here.
"""

from timbre_jax.optim.lbfgsb.cauchy import CauchyPoint, cauchy_point
from timbre_jax.optim.lbfgsb.driver import LBFGSB, correction_pair, projected_gradient_norm, search_direction
from timbre_jax.optim.lbfgsb.memory import Memory, empty_memory, middle_matrix, pairs_oldest_first, update_memory
from timbre_jax.optim.lbfgsb.more_thuente import (
    LS_FTOL,
    LS_GTOL,
    LS_XTOL,
    STPMAX_UNCONSTRAINED,
    LineSearchResult,
    dcstep,
    line_search,
    max_step,
)
from timbre_jax.optim.lbfgsb.options import DEFAULT_OPTIONS, LBFGSBOptions, Status
from timbre_jax.optim.lbfgsb.state import LBFGSBState
from timbre_jax.optim.lbfgsb.subspace import subspace_minimization

__all__ = [
    "DEFAULT_OPTIONS",
    "LBFGSB",
    "LS_FTOL",
    "LS_GTOL",
    "LS_XTOL",
    "STPMAX_UNCONSTRAINED",
    "CauchyPoint",
    "LBFGSBOptions",
    "LBFGSBState",
    "LineSearchResult",
    "Memory",
    "Status",
    "cauchy_point",
    "correction_pair",
    "dcstep",
    "empty_memory",
    "line_search",
    "max_step",
    "middle_matrix",
    "pairs_oldest_first",
    "projected_gradient_norm",
    "search_direction",
    "subspace_minimization",
    "update_memory",
]
