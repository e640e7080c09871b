"""The solvers of the fit, as objects: :class:`Lbfgsb` (the paper's) and :class:`Exact`
(the certified optimum).  See :mod:`timbre_jax.solvers.solver` for the protocol they
share; every module of this package is imported here, so a solver placed in it is
registered by name for the command line."""

import importlib
import pkgutil

from timbre_jax.solvers.exact import Exact
from timbre_jax.solvers.lbfgsb import Lbfgsb
from timbre_jax.solvers.solver import Solver, available, named, options_of

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Exact", "Lbfgsb", "Solver", "available", "named", "options_of"]
