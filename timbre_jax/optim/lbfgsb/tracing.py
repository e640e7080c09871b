"""How the solver's code branches when JAX traces it.  :func:`one_at_a_time` chooses,
from the sums the options ask for, between the two formulations of the package
docstring (one problem at a time, where ``lax.cond`` and an early-stopping
``while_loop`` skip work, or problems in lockstep under ``vmap``, where every branch
runs); :func:`select` is the branch-free choice between two pytrees that both use where
a traced scalar decides which value to keep."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array

from timbre_jax.core import reductions
from timbre_jax.core.reductions import Sums


def one_at_a_time(sums: Sums) -> bool:
    """Whether to trace the formulation for one problem at a time (plain sums: learn's
    sequence mode on the CPU), where ``lax.cond`` and a ``while_loop`` that stops early
    skip work, rather than the one for problems in lockstep under ``vmap`` (fixed-tree
    sums), where every branch runs for every problem.  Both are correct either way."""
    return sums is reductions.PLAIN


def select(pred: Array, a, b):
    """Pytree ``a`` where ``pred`` else ``b`` (pred is a scalar)."""
    return jax.tree.map(lambda u, v: jnp.where(pred, u, v), a, b)
