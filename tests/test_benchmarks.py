"""The benchmark's --quick mode runs end to end and reports what RESULTS.md tabulates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import needs_mirror

ROOT = Path(__file__).resolve().parents[1]


@needs_mirror
def test_quick_benchmark(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "solver.py"), "--quick", "--out", str(tmp_path)],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    res = json.loads((tmp_path / "solver.json").read_text())
    (row,) = res["table"]
    assert row["representation"] == "encodec" and row["problems"] == 2
    assert row["scipy_s"] > 0 and row["jax_s"] > 0 and row["compile_s"] >= 0
    assert row["ev_diff_min"] > -0.01  # same problems, same start: no worse than scipy
    assert [r["size"] for r in res["batch"]] == [1, 8] and [r["size"] for r in res["features"]] == [128, 512]
    assert all(r["peak_bytes"] > 0 for r in res["batch"] + res["features"])
    assert res["machine"] and res["date"]
    assert (tmp_path / "scaling.png").stat().st_size > 1000
    quality = (tmp_path / "quality.csv").read_text().splitlines()
    assert "| encodec | 128 | 2 |" in (tmp_path / "tables.md").read_text()
    assert quality[0].startswith("representation,dataset,ev_scipy,ev_jax,ev_diff") and len(quality) == 3
