"""timbre-jax: learn weighted Euclidean timbre metrics from human dissimilarity ratings.

Importing the package enables float64 in JAX for the whole process (``jax_enable_x64``),
deliberately: the reward's gradient spans weights from 1 to 1e15 and would lose all
precision in float32, and a package that asked its users to flip the switch themselves
would see it forgotten.  Other JAX code in the same process gets float64 defaults too.
The solvers check the setting when they run (:func:`timbre_jax.solvers.batch.require_float64`)
and raise if it was switched off after the import.
"""

import jax

jax.config.update("jax_enable_x64", True)


from timbre_jax.data import datasets  # noqa: E402
from timbre_jax.fit.learn import MetricResult, learn_metric, learn_metrics, optimality_gap  # noqa: E402
from timbre_jax.solvers import Exact, Lbfgsb  # noqa: E402
from timbre_jax.version import __version__  # noqa: E402

__all__ = ["__version__", "datasets", "learn_metric", "learn_metrics", "Lbfgsb", "Exact", "MetricResult",
           "optimality_gap"]
