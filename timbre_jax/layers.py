"""The layer table: which folder holds which layer, and which layers each may import.

A module imports only modules of its own layer or of the layers listed before it
(``tests/test_layers.py`` checks every import of ``timbre_jax``, ``timbre_jax_extract`` and
``benchmarks``, and fails on a cycle; docs/architecture.md shows this table).  The order,
bottom first:

========== ===================================== =============================================
layer      where                                 what it holds
========== ===================================== =============================================
foundation ``errors``, ``progress``, ``layers``, the one exception root, progress bars, this table,
           ``version``                           the version
core       ``core/``                             the reward and its vocabulary: Pearson,
                                                 reductions, ratings, problems, status codes
data       ``data/``                             studies, ratings and features on disk
optim      ``optim/``                            the algorithms: L-BFGS-B, the exact optimum, NNLS
solvers    ``solvers/``                          solver objects over batches of problems
fit        ``fit/``                              learning metrics: one, a list, sweeps, resume
stats      ``stats/``                            bootstrap, rank metrics, scores, the analyses' methods
plots      ``plots/``                            tables, CSV and figures (they only consume results)
analyses   ``analyses/``                         run -> Result, write, summary
extract    ``timbre_jax_extract`` (``extract/``) representations computed from audio (torch)
cli        ``cli/``                              parsing and dispatch
face       ``timbre_jax`` (``__init__``)         the package's public face
========== ===================================== =============================================

Two rules beside the order: only ``cli`` imports ``timbre_jax_extract`` (the torch
boundary: ``timbre_jax`` never imports torch), and only lazily, inside the command that
extracts; an import inside a function body is lazy on purpose and says why in a
``# lazy:`` comment on its line.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("timbre_jax.errors", "timbre_jax.progress", "timbre_jax.layers", "timbre_jax.version")),
    ("core", ("timbre_jax.core",)),
    ("data", ("timbre_jax.data",)),
    ("optim", ("timbre_jax.optim",)),
    ("solvers", ("timbre_jax.solvers",)),
    ("fit", ("timbre_jax.fit",)),
    ("stats", ("timbre_jax.stats",)),
    ("plots", ("timbre_jax.plots",)),
    ("analyses", ("timbre_jax.analyses",)),
    ("extract", ("timbre_jax_extract",)),
    ("cli", ("timbre_jax.cli",)),
    ("face", ("timbre_jax",)),
)
"""(layer, module prefixes), bottom first; a module belongs to the layer of its longest
matching prefix."""

LAZY_MARK = "# lazy:"
"""The comment that an import inside a function body carries, with its reason."""


def layer_of(module: str) -> int:
    """The position in :data:`LAYERS` of a dotted module name of the package (or of
    ``timbre_jax_extract``); ``ValueError`` for a module outside both."""
    best, found = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    if found is None:
        raise ValueError(f"{module} is in no layer of timbre_jax.layers.LAYERS")
    return found


def name_of(index: int) -> str:
    """The name of the layer at position ``index``."""
    return LAYERS[index][0]
