"""``python -m timbre_jax.cli``: the ``timbre-jax`` program."""

import sys

from timbre_jax.cli import main

sys.exit(main())
