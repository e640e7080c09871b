"""Write a built-in study's per-participant ratings as a listening test arrives from the lab:
``python docs/judgements.py Lakatos2000_Comb mytest``.

Writes ``mytest/audio/`` (a copy of the study's sounds) and ``mytest/judgements.csv``, one
row per judgement, ``participant,sound_a,sound_b,rating``, in a shuffled order and with the
two sounds of each pair in random order (seed 0): Lakatos (2000)'s raw ratings of 17
participants (docs/data.md), values as published, in [0, 1].  The files come from the cache
($TIMBRE_JAX_HOME), fetched where missing (from $TIMBRE_JAX_MIRROR when set).
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import numpy as np

from timbre_jax.data import datasets, download, registry


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("study", choices=[d for d, x in registry.DATASETS.items() if x.raw_path and x.raw_matches],
                   help="a built-in study with per-participant ratings")
    p.add_argument("out", type=Path, help="folder to create (must not exist)")
    args = p.parse_args(argv)
    ds = registry.get_dataset(args.study)
    found = datasets.participants(args.study, progress=False)
    args.out.mkdir(parents=True)
    (args.out / "audio").mkdir()
    for path in download.ensure(ds.audio_paths, progress=False):
        shutil.copyfile(path, args.out / "audio" / path.name)
    rng = np.random.default_rng(0)
    rows = []
    for k, who in enumerate(found.ids):
        for i, j in zip(*np.triu_indices(ds.n_sounds, 1)):
            a, b = (ds.sounds[i], ds.sounds[j]) if rng.random() < 0.5 else (ds.sounds[j], ds.sounds[i])
            rows.append((who, a, b, repr(float(found.ratings[k, i, j]))))
    order = rng.permutation(len(rows))
    with open(args.out / "judgements.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["participant", "sound_a", "sound_b", "rating"])
        writer.writerows(rows[k] for k in order)
    print(f"wrote {args.out}/audio ({ds.n_sounds} files) and {args.out}/judgements.csv ({len(rows)} rows: "
          f"{found.m} participants x {ds.n_sounds * (ds.n_sounds - 1) // 2} pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
