"""The scaling figure (benchmarks/scaling.png)."""

from __future__ import annotations

from pathlib import Path

from common import machine


def plot(batch: list[dict], features: list[dict], path: Path) -> None:
    """Fits per second against the batch size, seconds per fit against n (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    if batch:
        axes[0].loglog([r["size"] for r in batch], [r["fits_per_s"] for r in batch], "o-")
        axes[0].set(xlabel="problems in the batch (Grey1977, encodec)", ylabel="fits per second")
    if features:
        axes[1].loglog([r["size"] for r in features], [r["run_s"] / r["problems"] for r in features], "o-")
        axes[1].set(xlabel="number of features n", ylabel="seconds per fit (batch of 4)")
    fig.suptitle(f"timbre-jax scaling on {machine()}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
