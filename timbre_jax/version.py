"""The package's version, defined once: pyproject.toml reads it from here (``dynamic``),
``timbre_jax.__version__`` and ``timbre-jax --version`` show it."""

__version__ = "0.1.0"
