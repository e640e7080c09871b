"""``python -m timbre_jax.cli``: the ``timbre-jax`` program."""

import sys

from . import main

sys.exit(main())
