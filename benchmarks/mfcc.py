"""Time the timbre benchmark's MFCC baselines: `timbre-jax extract` of ``mfcc`` (time-averaged)
and ``mfcc-aligned`` (frame-aligned pairs) on the benchmark's 21 studies from a cold cache,
beside the naive per-pair loop (zero-pad the shorter sound, two full librosa MFCCs per pair,
compare) on the same studies, one core.

    TIMBRE_JAX_MIRROR=file:///path/to/timbre-data python benchmarks/mfcc.py --out /tmp/mfcc-bench

A fresh ``$TIMBRE_JAX_HOME`` (a temporary folder) is filled with the studies' audio and ratings
first (`timbre-jax data fetch`, not timed); each extraction is then a fresh process (imports
included) with the machine's default threading.  The naive loop runs in a child process with
one thread (OMP/OpenBLAS/MKL at 1) and checks the stored aligned pairs against its own: the
largest relative difference is printed.  Writes OUT/mfcc.json; the temporary home is removed
at the end unless --keep-home (then its path is printed: `timbre-jax leaderboard` can read it).
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

ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def run(command: list[str], env: dict) -> float:
    """Wall seconds of ``command`` (which must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - t0


def stored_seconds(home: str, representation: str, dataset: str) -> float:
    """The extraction time a store file records (``wall_seconds``: the study, without the process start)."""
    from timbre_jax.data import store  # lazy: the parent imports the package after its argument parsing

    path = store.feature_file("extracted", representation, dataset, root=Path(home))
    return float(store.load(path).metadata["wall_seconds"])


def naive(datasets: list[str], out: Path) -> None:
    """The per-pair loop on ``datasets`` (in this process: start it with one thread), timed
    per study, and its largest relative difference from the stored ``mfcc-aligned`` pairs."""
    import librosa  # lazy: the child process only, after its thread variables are set
    import numpy as np  # lazy: as above

    from timbre_jax.core.aligned import FIELDS, compare, from_pairs  # lazy: as above
    from timbre_jax.data import audio, store  # lazy: as above
    from timbre_jax.data.sounds import stimuli  # lazy: as above

    def coefficients(y, sr):
        return librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40, n_fft=2048, hop_length=512, window="hann", center=True,
                                    pad_mode="reflect", power=2.0, n_mels=128, htk=True, mel_norm=None, fmin=0.0,
                                    fmax=sr / 2, dtype=np.float64, dct_type=2, norm="ortho").T

    rows = []
    for d in datasets:
        study = stimuli(d)
        loaded = [audio.load(f) for f in study.files]
        waves, sr = [w for w, _ in loaded], loaded[0][1]
        t0 = time.perf_counter()
        compared = []
        for i, j in zip(*np.triu_indices(len(waves), 1)):
            n = max(len(waves[i]), len(waves[j]))
            a, b = (coefficients(np.pad(waves[k], (0, n - len(waves[k]))), sr) for k in (i, j))
            compared.append((*compare(a, b), len(a)))
        seconds = time.perf_counter() - t0
        reference = from_pairs(compared, len(waves))
        stored = store.load(store.feature_file("extracted", "mfcc-aligned", d)).features
        worst = max(float(np.max(np.abs(np.asarray(getattr(stored, f), float) - getattr(reference, f))
                                 / np.maximum(np.abs(getattr(reference, f)), 1e-300))) for f in FIELDS)
        rows.append({"dataset": d, "pairs": len(compared), "naive_s": round(seconds, 3), "max_rel_diff": worst})
        print(f"naive {d}: {len(compared)} pairs, {seconds:.1f} s, largest relative difference {worst:.2e}",
              flush=True)
    out.write_text(json.dumps(rows, indent=1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for mfcc.json")
    p.add_argument("--datasets", default="benchmark", help="studies (default: the benchmark's 21)")
    p.add_argument("--naive", choices=("all", "none"), default="all", help="run the naive loop (default all)")
    p.add_argument("--keep-home", action="store_true", help="keep the temporary $TIMBRE_JAX_HOME (default: removed)")
    p.add_argument("--naive-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.naive_child is not None:
        naive(args.naive_child.split(","), out / "naive.json")
        return 0
    if "TIMBRE_JAX_MIRROR" not in os.environ:
        print("set TIMBRE_JAX_MIRROR (e.g. file:///work/shared/timbre-data) or run with the network", file=sys.stderr)
    from timbre_jax.cli import names  # lazy: the parent needs only the names (it imports JAX)

    datasets = names.datasets(args.datasets, option="--datasets")
    home = tempfile.mkdtemp(prefix="timbre-jax-mfcc-bench-")
    env = {**os.environ, "TIMBRE_JAX_HOME": home}
    cli = [sys.executable, "-m", "timbre_jax.cli", "--quiet"]
    fetch_s = run([*cli, "data", "fetch", "--what", "ratings,audio"], env)
    seconds = {rep: run([*cli, "extract", "--representation", rep, "--datasets", ",".join(datasets)], env)
               for rep in ("mfcc", "mfcc-aligned")}
    inside = {rep: sum(stored_seconds(home, rep, d) for d in datasets) for rep in seconds}
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
              "load_average_1min": round(os.getloadavg()[0], 2), "datasets": len(datasets),
              "fetch_s": round(fetch_s, 1), **{f"{rep}_s": round(s, 1) for rep, s in seconds.items()},
              **{f"{rep}_studies_s": round(s, 1) for rep, s in inside.items()}}
    print(f"extract mfcc: {seconds['mfcc']:.1f} s, mfcc-aligned: {seconds['mfcc-aligned']:.1f} s, both: "
          f"{sum(seconds.values()):.1f} s wall ({len(datasets)} studies, cold cache, {result['machine']}); "
          f"in the studies (no process start): {inside['mfcc']:.1f} s and {inside['mfcc-aligned']:.1f} s")
    if args.naive == "all":
        naive_s = run([sys.executable, __file__, "--out", str(out), "--naive-child", ",".join(datasets)],
                      {**env, **ONE_THREAD})
        rows = json.loads((out / "naive.json").read_text())
        result.update(naive_wall_s=round(naive_s, 1), naive_loop_s=round(sum(r["naive_s"] for r in rows), 1),
                      pairs=sum(r["pairs"] for r in rows), max_rel_diff=max(r["max_rel_diff"] for r in rows),
                      naive=rows)
        print(f"naive per-pair librosa loop, one thread: {result['naive_loop_s']:.1f} s for {result['pairs']} pairs "
              f"({naive_s:.1f} s wall with imports and audio); largest relative difference from mfcc-aligned: "
              f"{result['max_rel_diff']:.2e}")
    (out / "mfcc.json").write_text(json.dumps(result, indent=1))
    if args.keep_home:
        print(f"TIMBRE_JAX_HOME={home}")
    else:
        shutil.rmtree(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
