"""Time `timbre-jax extract --representation descriptors` on the benchmark's 21 studies from a
cold cache (the issue's bound: 60 s on the 2-core CPU), and report what the raw descriptors
span.

    TIMBRE_JAX_MIRROR=file:///path/to/timbre-data python benchmarks/descriptors.py --out /tmp/descriptors-bench

A fresh ``$TIMBRE_JAX_HOME`` (a temporary folder) is filled with the studies' audio and ratings
first (`timbre-jax data fetch`, not timed); the extraction is then one fresh process (imports
included), timed from outside, beside the time its store files record (``wall_seconds``: the
studies alone).  Then, from the stored raw values (``metadata["raw_features"]``): each study's
constant descriptors (which standardization sets to 0) and each descriptor's smallest and
largest value over all sounds.  Writes OUT/descriptors.json; the temporary home is removed at
the end unless --keep-home.  Exits 1 when the extraction took longer than the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

BOUND_S = 60.0
"""The issue's bound for the 21 studies, cold cache, on the 2-core CPU."""


def run(command: list[str], env: dict) -> float:
    """Wall seconds of ``command`` (which must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - t0


def spans(home: str, datasets: list[str]) -> dict:
    """Per study the seconds its store file records and its constant descriptors; per descriptor
    its unit, smallest and largest raw value (and the study of each) over every sound."""
    import numpy as np  # lazy: the parent imports the package after its argument parsing

    from timbre_jax.data import store  # lazy: as above

    studies, lows, highs, names, units = {}, {}, {}, None, None
    for d in datasets:
        meta = store.load(store.feature_file("extracted", "descriptors", d, root=Path(home))).metadata
        raw = np.asarray(meta["raw_features"], dtype=float)
        names, units = meta["dimension_names"], meta["dimension_units"]
        constant = [n for n, sd in zip(names, meta["raw_sd"]) if sd == 0.0]
        studies[d] = {"sounds": len(raw), "wall_seconds": meta["wall_seconds"], "constant": constant,
                      "finite": bool(np.all(np.isfinite(raw)))}
        for n, lo, hi in zip(names, raw.min(axis=0), raw.max(axis=0)):
            if n not in lows or lo < lows[n][0]:
                lows[n] = (float(lo), d)
            if n not in highs or hi > highs[n][0]:
                highs[n] = (float(hi), d)
    ranges = {n: {"unit": u, "min": lows[n][0], "min_study": lows[n][1], "max": highs[n][0],
                  "max_study": highs[n][1]} for n, u in zip(names, units)}
    return {"studies": studies, "ranges": ranges}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for descriptors.json")
    p.add_argument("--datasets", default="benchmark", help="studies (default: the benchmark's 21)")
    p.add_argument("--keep-home", action="store_true", help="keep the temporary $TIMBRE_JAX_HOME (default: removed)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if "TIMBRE_JAX_MIRROR" not in os.environ:
        print("set TIMBRE_JAX_MIRROR (e.g. file:///work/shared/timbre-data) or run with the network", file=sys.stderr)
    from timbre_jax.cli import names  # lazy: the parent needs only the names (it imports JAX)

    datasets = names.datasets(args.datasets, option="--datasets")
    home = tempfile.mkdtemp(prefix="timbre-jax-descriptors-bench-")
    env = {**os.environ, "TIMBRE_JAX_HOME": home}
    cli = [sys.executable, "-m", "timbre_jax.cli", "--quiet"]
    fetch_s = run([*cli, "data", "fetch", "--what", "ratings,audio"], env)
    seconds = run([*cli, "extract", "--representation", "descriptors", "--datasets", ",".join(datasets)], env)
    found = spans(home, datasets)
    inside = sum(s["wall_seconds"] for s in found["studies"].values())
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
              "load_average_1min": round(os.getloadavg()[0], 2), "datasets": len(datasets),
              "sounds": sum(s["sounds"] for s in found["studies"].values()), "fetch_s": round(fetch_s, 1),
              "extract_s": round(seconds, 1), "studies_s": round(inside, 1), "bound_s": BOUND_S, **found}
    print(f"extract descriptors: {seconds:.1f} s wall ({len(datasets)} studies, {result['sounds']} sounds, cold "
          f"cache, {result['machine']}; the bound: {BOUND_S:.0f} s); in the studies (no process start): "
          f"{inside:.1f} s; load average {result['load_average_1min']}")
    for d, s in found["studies"].items():
        if s["constant"] or not s["finite"]:
            print(f"  {d}: constant {', '.join(s['constant']) or 'none'}; finite {s['finite']}")
    for n, r in found["ranges"].items():
        print(f"  {n:30s} {r['min']:11.4g} ({r['min_study']}) .. {r['max']:11.4g} ({r['max_study']}) {r['unit']}")
    (out / "descriptors.json").write_text(json.dumps(result, indent=1))
    if args.keep_home:
        print(f"TIMBRE_JAX_HOME={home}")
    else:
        shutil.rmtree(home)
    return 0 if seconds <= BOUND_S else 1


if __name__ == "__main__":
    sys.exit(main())
