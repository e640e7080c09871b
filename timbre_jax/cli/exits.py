"""The command line's exit statuses and the one rule that gives them (see
:func:`timbre_jax.cli.exit_status`)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1         # the data, the files or the machine: fix them
EXIT_USAGE = 2        # the command line: fix the command (argparse uses 2 as well)
EXIT_INTERRUPTED = 130

EXIT_HELP = ("exit status: 0 done; 1 the data (a file unreadable or malformed, ratings out of range, features "
             "missing that cannot be fetched, a failed download, write or check); 2 the command (an unknown name, "
             "a bad or empty option, an --out that cannot be written); 130 interrupted.")
