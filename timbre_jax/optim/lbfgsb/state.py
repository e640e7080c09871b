"""The solver's state, :class:`LBFGSBState`: what :class:`~timbre_jax.optim.lbfgsb.driver.LBFGSB`
carries from one iteration to the next and what the line search (``more_thuente``) starts
from."""

from __future__ import annotations

from typing import NamedTuple

from jax import Array

from timbre_jax.optim.lbfgsb.memory import Memory


class LBFGSBState(NamedTuple):
    """Solver state; add a leading batch axis to every field under ``vmap``.

    x, g: (n,) current iterate and gradient; f: () objective.
    iteration: () int32, completed iterations (scipy's ``nit``).
    n_fev: () int32, objective evaluations (scipy's ``nfev``).
    status: () int32, a :class:`~timbre_jax.optim.lbfgsb.options.Status` (RUNNING while running).
    proj_grad_norm: () inf-norm of the projected gradient at x.
    memory: the :class:`~timbre_jax.optim.lbfgsb.memory.Memory` of correction pairs.
    """

    x: Array
    f: Array
    g: Array
    iteration: Array
    n_fev: Array
    status: Array
    proj_grad_norm: Array
    memory: Memory
