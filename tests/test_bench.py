"""The benchmark runs end to end on a small load. Sanity only: timings on a shared machine
are noise, so no threshold is ever asserted on them."""

from __future__ import annotations

import json
import math

import bench.__main__ as bench_main

PHASE_KEYS = {"seconds", "floor_seconds", "ratio"}
TOP_KEYS = {
    "n_sales",
    "cpus",
    "postgres_version",
    "phases",
    "total_ratio",
    "peak_rss_mb",
    "task_peak_rss_mb",
    "export_probe_peak_rss_mb",
    "dag_run_peak_rss_mb",
    "dag_run",
    "spread",
    "timestamp",
}


def test_bench_small_load(pg_admin_dsn, tmp_path):
    output = tmp_path / "results.json"
    results = bench_main.main(
        ["--sales", "20000", "--repetitions", "1", "--admin-dsn", pg_admin_dsn, "--output", str(output)]
    )

    assert results["n_sales"] == 20000
    assert set(results["phases"]) == {"detect", "apply", "export", "rerun"}
    for phase in results["phases"].values():
        assert phase["floor_seconds"] > 0
        assert math.isfinite(phase["ratio"]) and phase["ratio"] > 0
    assert math.isfinite(results["total_ratio"]) and results["total_ratio"] > 0
    assert results["peak_rss_mb"] > 0 and results["task_peak_rss_mb"] > 0
    # The rerun must find nothing new: otherwise it would not measure the idempotent path.
    checks = results["checks"][0]
    assert checks["rerun_new_divergences"] == 0
    # The apply floor writes exactly the corrections the real phase applies.
    assert checks["apply_floor_fields"] == checks["corrections_applied"] > 0

    # The whole DAG ran once under `airflow dags test` on a fresh copy and completed.
    dag_run = results["dag_run"]
    assert dag_run["session_status"] == "COMPLETED" and dag_run["returncode"] == 0
    assert dag_run["seconds"] > 0 and dag_run["peak_rss_mb"] > 0
    assert dag_run["overhead_seconds"] == dag_run["seconds"] - dag_run["data_work_seconds"]
    assert results["task_peak_rss_mb"] == max(results["export_probe_peak_rss_mb"], dag_run["peak_rss_mb"])

    written = json.loads(output.read_text(encoding="utf-8"))
    assert TOP_KEYS <= set(written)
    for phase in written["phases"].values():
        assert PHASE_KEYS <= set(phase)
