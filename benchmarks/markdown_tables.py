"""The tables of RESULTS.md for one run of the solver benchmark."""

from __future__ import annotations

import numpy as np


def compile_note(seconds: float) -> str:
    """timbre-jax's compile seconds, or NaN's meaning: its time came from a fits.csv."""
    return "(compile incl.)" if np.isnan(seconds) else f"(+{seconds:.1f})"


def markdown(result: dict) -> str:
    """The tables of RESULTS.md for one run."""
    lines = [f"Machine: {result['machine']}; date {result['date']}; command `{result['command']}`; "
             f"maxiter {result['maxiter']}."]
    if result["table"]:
        lines += ["", "| representation | n | problems | scipy s | timbre-jax s (+compile) | ratio scipy/jax | "
                  "fits/s scipy / jax | ms/iteration scipy / jax | EV_jax - EV_scipy min (dataset) / median |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for r in result["table"]:
        lines.append(f"| {r['representation']} | {r['n']} | {r['problems']} | {r['scipy_s']:.1f} | "
                     f"{r['jax_s']:.1f} {compile_note(r['compile_s'])} | {r['speedup']:.2f} | "
                     f"{r['scipy_fits_per_s']:.3g} / {r['jax_fits_per_s']:.3g} | "
                     f"{r['scipy_ms_per_iteration']:.2f} / {r['jax_ms_per_iteration']:.2f} | "
                     f"{r['ev_diff_min']:+.4f} ({r['worst_dataset']}) / {r['ev_diff_median']:+.4f} |")
    if result.get("sweep"):
        lines += ["", "Robustness sub-sweep (9 levels x realizations of one dataset's ratings, EV on the "
                  "ratings each fit was given):", "",
                  "| representation | dataset | n | problems | scipy s | timbre-jax s (+compile) | ratio scipy/jax | "
                  "fits/s scipy / jax | iterations scipy / jax | ms/iteration scipy / jax | "
                  "EV_jax - EV_scipy min / median |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['representation']} | {r['dataset']} | {r['n']} | {r['problems']} | {r['scipy_s']:.1f} | "
                  f"{r['jax_s']:.1f} (+{r['compile_s']:.1f}) | {r['speedup']:.2f} | "
                  f"{r['problems'] / r['scipy_s']:.3g} / {r['problems'] / r['jax_s']:.3g} | "
                  f"{r.get('scipy_iterations', '?')} / {r.get('jax_iterations', '?')} | "
                  f"{r.get('scipy_ms_per_iteration', float('nan')):.3f} / "
                  f"{r.get('jax_ms_per_iteration', float('nan')):.3f} | "
                  f"{r['ev_diff_min']:+.4f} / {r['ev_diff_median']:+.4f} |" for r in result["sweep"]]
    for kind, label in (("batch", "problems in the batch"), ("features", "features n (batch of 4)")):
        if result.get(kind):
            lines += ["", f"| {label} | run s | compile s | fits/s | max iterations | peak memory MB |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {r['size']} | {r['run_s']:.2f} | {r['compile_s']:.1f} | {r['fits_per_s']:.2f} | "
                      f"{r['max_iterations']} | {r['peak_bytes'] / 2**20:.0f} ({r['memory']}) |" for r in result[kind]]
    if result.get("features") and "floor_bytes_per_iteration" in result["features"][0]:
        from timbre_jax.solvers.batch import padded_pairs

        lines += ["", "| features n | pairs (padded) | floor MB / iteration | ms / iteration | "
                  "floor GB/s (floor bytes / time) |", "|---|---|---|---|---|"]
        lines += [f"| {r['size']} | {r['pairs']} ({padded_pairs(r['pairs'])}) | "
                  f"{r['floor_bytes_per_iteration'] / 1e6:.1f} | {r['ms_per_iteration']:.3f} | "
                  f"{r['floor_bytes_per_iteration'] / r['ms_per_iteration'] / 1e6:.2f} |" for r in result["features"]]
    return "\n".join(lines) + "\n"
