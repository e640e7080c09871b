"""The benchmark's --quick mode runs end to end and reports what RESULTS.md tabulates."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_mirror

ROOT = Path(__file__).resolve().parents[1]


@needs_mirror
@pytest.mark.slow  # four fresh processes that import JAX, compile and run scipy: about 2 minutes
def test_quick_benchmark(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "solver.py"), "--quick", "--out", str(tmp_path)],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    res = json.loads((tmp_path / "solver.json").read_text())
    (row,) = res["table"]
    assert row["representation"] == "encodec" and row["problems"] == 2
    # a fresh process compiles on the first call: it takes longer than the second
    assert row["scipy_s"] > 0 and row["jax_s"] > 0 and row["compile_s"] > 0
    assert row["ev_diff_min"] > -0.01  # same problems, same start: no worse than scipy
    (sw,) = res["sweep"]
    assert sw["representation"] == "encodec" and sw["problems"] == 9 and sw["ev_diff_min"] > -0.01
    assert sw["scipy_iterations"] >= sw["problems"] and sw["jax_iterations"] >= sw["problems"]
    assert sw["jax_ms_per_iteration"] == pytest.approx(1e3 * sw["jax_s"] / sw["jax_iterations"])
    assert "| encodec | Grey1977 | 128 | 9 |" in (tmp_path / "tables.md").read_text()
    assert [r["size"] for r in res["batch"]] == [1, 8] and [r["size"] for r in res["features"]] == [128, 512]
    assert all(r["peak_bytes"] > 0 for r in res["batch"] + res["features"])
    assert res["machine"] and res["date"]
    assert (tmp_path / "scaling.png").stat().st_size > 1000
    quality = (tmp_path / "quality.csv").read_text().splitlines()
    assert "| encodec | 128 | 2 |" in (tmp_path / "tables.md").read_text()
    assert quality[0].startswith("representation,dataset,ev_scipy,ev_jax,ev_diff") and len(quality) == 3
    for r in res["features"]:  # the total over the problems, between their maximum and K times it
        assert r["max_iterations"] <= r["iterations"] <= r["problems"] * r["max_iterations"]
        assert r["ms_per_iteration"] == pytest.approx(1e3 * r["run_s"] / r["iterations"])
    # The scipy reference was cached; a second run with timbre-jax's side taken from a
    # `timbre-jax table` run on the same problems reads both and compares them.
    cached = (tmp_path / "scipy.csv").read_text().splitlines()
    assert cached[0] == "representation,dataset,maxiter,ev_scipy,iterations_scipy,scipy_s" and len(cached) == 3
    table = tmp_path / "table"
    subprocess.run([sys.executable, "-m", "timbre_jax.cli", "--quiet", "table", "--representations", "encodec",
                    "--datasets", "Patil2012_A3,Grey1977", "--solver", "lbfgsb", "--maxiter", "200",
                    "--out", str(table)],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "solver.py"), "--representations", "encodec",
                            "--datasets", "Patil2012_A3,Grey1977", "--maxiter", "200", "--scaling", "no",
                            "--sweep", "none",
                            "--jax-fits", str(table / "fits.csv"), "--out", str(tmp_path)],
                           check=True, cwd=ROOT, capture_output=True, text=True)
    assert "scipy encodec/" not in again.stdout  # nothing solved again by scipy
    (row2,) = json.loads((tmp_path / "solver.json").read_text())["table"]
    assert row2["ev_scipy_median"] == row["ev_scipy_median"]
    assert abs(row2["ev_jax_median"] - row["ev_jax_median"]) < 1e-6  # fits.csv keeps 6 decimals
    assert "(compile incl.)" in (tmp_path / "tables.md").read_text()


def test_floor_bytes_per_iteration_by_hand():
    # benchmarks/ holds scripts, not a package: load the one module from its file, leaving
    # sys.path alone.
    spec = importlib.util.spec_from_file_location("bench_scaling", ROOT / "benchmarks" / "scaling.py")
    scaling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scaling)
    # 120 pairs pad to 128; D read twice, S and Y (2 x 10 x n) three times, 20 n-vectors.
    assert scaling.bytes_per_iteration(120, 512) == 8 * (2 * 128 * 512 + 60 * 512 + 20 * 512) == 1_376_256
