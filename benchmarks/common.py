"""What every part of the solver benchmark shares: the machine's name and CSV rows."""

from __future__ import annotations

import csv
import os
import platform
from pathlib import Path

import numpy as np


def machine() -> str:
    """The accelerator's kind, or the CPU and its core count."""
    import jax

    dev = jax.devices()[0]
    if dev.platform != "cpu":
        return dev.device_kind
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict]) -> Path:
    """``rows`` (dicts with the same keys) through the package's CSV writer, floats with
    every digit (repr): the scipy cache is read back, and EV differences of 1e-12 are
    the quality check."""
    from timbre_jax.plots.tables import write_csv

    def cell(v):
        return repr(float(v)) if isinstance(v, (float, np.floating)) else v

    return write_csv(path, list(rows[0]), [[cell(v) for v in r.values()] for r in rows])
