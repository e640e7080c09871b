"""Time the comparison with the field end to end: `timbre-jax leaderboard` over the paper's
8 representations and the 17 built-in studies (by default), with bootstrap intervals, in a fresh
process (compilation included).

    python benchmarks/field.py --out docs/results/leaderboard [--bootstrap 1000]

Prints the wall time and the machine; the outputs are the command's own files in --out.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder of the leaderboard")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples per study (default 1000)")
    p.add_argument("--datasets", default=None, help="comma list of studies (default: the 17 built-in ones)")
    args = p.parse_args()
    if args.datasets is None:
        from timbre_jax.data import registry

        args.datasets = ",".join(registry.PAPER)
    command = [sys.executable, "-m", "timbre_jax.cli", "--quiet", "leaderboard", "--out", args.out,
               "--bootstrap", str(args.bootstrap), "--datasets", args.datasets]
    t0 = time.perf_counter()
    done = subprocess.run(command, check=False)
    seconds = time.perf_counter() - t0
    print(f"leaderboard, 8 representations, bootstrap {args.bootstrap}: {seconds:.1f} s wall on "
          f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), exit {done.returncode}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
