"""``make bench``: times the DAG's data work on a large demo load against its floors.

One database is loaded once (``bench_<n>``); every repetition then runs the whole
sequence (detect, apply, export, rerun) in a fresh copy made from it as a TEMPLATE, so
each repetition measures exactly the same work from exactly the same state. The phases
run the DAG's own SQL files (``devtools.sql_steps``) and the export task's own code
(``divergencias.report``); the floors (``bench.floors``) are the bare statements doing the
same irreducible job, timed in the same process on the same copy.

Then, unless ``--no-dag-run``, the whole DAG runs once under Airflow (``airflow dags
test``, ``bench.dag_run``) on one more fresh copy, for its overhead over the data work
and the peak RSS of the process running its tasks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg

from bench import PROJECT_ROOT, dag_run, floors

# Rare problems at production-like rates; trade marketing is what apply has to write.
BENCH_RATES = {"trade_marketing": 0.05, "pendente": 0.01, "negativo_outlier": 0.005, "ilegivel": 0.001}
# Fixed dates so every run of the benchmark loads and processes identical data.
DATA_END = date(2026, 10, 31)
DATA_DAYS = 60
PERIOD_START = date(2026, 10, 1)
PERIOD_END = date(2026, 10, 31)
PHASES = ("detect", "apply", "export", "rerun")
# Which floor each phase is compared with: a rerun does detection's scan again.
FLOOR_OF = {"detect": "detect", "apply": "apply", "export": "export", "rerun": "detect"}


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def load_database(admin_dsn: str, name: str, n_sales: int) -> str:
    """Create ``name`` from scratch with the audit schema and ``n_sales`` demo sales."""
    from devtools import databases, demo_source
    from divergencias.migrations import migrate

    databases.drop_database(admin_dsn, name)
    dsn = databases.create_database(admin_dsn, name)
    migrate(dsn, progress=say)
    with psycopg.connect(dsn, autocommit=True) as conn:
        demo_source.create_fixture(conn)
        demo_source.generate_sales(
            conn,
            n_sales,
            end_date=DATA_END,
            days=DATA_DAYS,
            rates=demo_source.DemoRates(**BENCH_RATES),
            progress=say,
        )
        # Set hint bits and the visibility map once here, in the template, so neither the
        # first phase nor the first floor of a repetition pays for them.
        say("VACUUM ANALYZE byd")
        conn.execute("VACUUM (ANALYZE) byd.vendas, byd.incentivos, byd.controladoria")
    return dsn


def _session_counts(conn: psycopg.Connection, sessao_id: int) -> tuple[int, int, int]:
    """Sales analysed, divergences recorded and corrections applied by a session."""
    return conn.execute(
        "SELECT total_registros_analisados, divergencias_detectadas, correcoes_aplicadas "
        "FROM audit.sessoes_processamento WHERE id = %s",
        (sessao_id,),
    ).fetchone()


def measure_repetition(dsn: str, workdir: Path, probe: bool) -> dict:
    """One full sequence on a fresh copy: phases, their floors, and optionally the task probe."""
    from devtools.sql_steps import open_session, run_step
    from divergencias.report import write_report

    seconds: dict[str, float] = {}
    floor_seconds: dict[str, float] = {}
    rows: dict[str, int] = {}
    checks: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn, psycopg.connect(dsn, autocommit=True) as floor_conn:
        # Read-only: timed before detection so that, if anything, the floor pays for a colder cache.
        floor_seconds["detect"], checks["detect_floor_firing_sales"] = floors.detect_floor(
            floor_conn, PERIOD_START, PERIOD_END
        )
        say(f"  detect floor   {floor_seconds['detect']:8.2f} s")

        params = open_session(conn, PERIOD_START, PERIOD_END, "auto")
        seconds["detect"] = _timed(lambda: run_step(conn, "detect_divergences", params))
        analysed, recorded, _ = _session_counts(conn, params["sessao_id"])
        rows["detect"] = analysed
        checks["divergences_recorded"] = recorded
        say(f"  detect         {seconds['detect']:8.2f} s  ({analysed:,} sales, {recorded:,} divergences)")

        # On the state detection left, before apply; rolled back inside floors.apply_floor.
        floor_seconds["apply"], checks["apply_floor_sales"], checks["apply_floor_fields"] = floors.apply_floor(
            floor_conn, PERIOD_START, PERIOD_END
        )
        say(f"  apply floor    {floor_seconds['apply']:8.2f} s")

        seconds["apply"] = _timed(lambda: run_step(conn, "apply_corrections", params))
        rows["apply"] = checks["corrections_applied"] = _session_counts(conn, params["sessao_id"])[2]
        say(f"  apply          {seconds['apply']:8.2f} s  ({rows['apply']:,} corrections)")

        report = workdir / f"report_{params['sessao_id']}.csv"
        seconds["export"] = _timed(lambda: write_report(conn, params["sessao_id"], report))
        rows["export"] = conn.execute(
            "SELECT count(*) FROM audit.divergencias_processadas d "
            "WHERE d.sessao_id = %(s)s OR d.sessao_alteracao_id = %(s)s OR d.status_processamento = 'DETECTED'",
            {"s": params["sessao_id"]},
        ).fetchone()[0]
        checks["report_bytes"] = report.stat().st_size
        say(f"  export         {seconds['export']:8.2f} s  ({rows['export']:,} rows, {checks['report_bytes']:,} bytes)")

        floor_seconds["export"], checks["export_floor_bytes"] = floors.export_floor(floor_conn, params["sessao_id"])
        say(f"  export floor   {floor_seconds['export']:8.2f} s")

        task_peak_rss = run_task_probe(dsn, params["sessao_id"], workdir) if probe else None
        report.unlink()

        rerun = open_session(conn, PERIOD_START, PERIOD_END, "auto")

        def rerun_steps() -> None:
            run_step(conn, "detect_divergences", rerun)
            run_step(conn, "apply_corrections", rerun)

        seconds["rerun"] = _timed(rerun_steps)
        analysed, recorded, applied = _session_counts(conn, rerun["sessao_id"])
        rows["rerun"] = analysed
        checks["rerun_new_divergences"] = recorded
        checks["rerun_corrections"] = applied
        say(f"  rerun          {seconds['rerun']:8.2f} s  ({recorded} new, {applied} corrections)")
    floor_seconds["rerun"] = floor_seconds["detect"]
    return {
        "seconds": seconds,
        "floor_seconds": floor_seconds,
        "rows": rows,
        "checks": checks,
        "task_peak_rss": task_peak_rss,
    }


def run_task_probe(dsn: str, sessao_id: int, workdir: Path) -> dict[str, float]:
    """Run the export task once in a child process; return its peak RSS in MB.

    ``vm_hwm_mb`` is the child's own high-water mark (``VmHWM``, reported by the child).
    ``rusage_children_mb`` is ``getrusage(RUSAGE_CHILDREN)`` after it exits, kept for
    comparison only: Linux carries the parent's high-water mark into a child started with
    vfork+exec (as subprocess does), so that figure is never below the benchmark's own peak.
    """
    output = workdir / "probe.csv"
    command = [sys.executable, "-m", "bench.task_probe", "--dsn", dsn, "--sessao-id", str(sessao_id)]
    finished = subprocess.run(
        [*command, "--output", str(output)], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    output.unlink(missing_ok=True)
    vm_hwm_kb = json.loads(finished.stdout.strip().splitlines()[-1])["vm_hwm_kb"]
    # Linux reports ru_maxrss in kB.
    return {
        "vm_hwm_mb": vm_hwm_kb / 1024,
        "rusage_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def summarize(
    n_sales: int, repetitions: list[dict], postgres_version: str, peak_rss_mb: float, dag: dict | None = None
) -> dict:
    """Medians, spreads (max - min) and ratios to the floors over the repetitions."""
    phases: dict[str, dict] = {}
    spread: dict[str, dict] = {}
    for phase in PHASES:
        samples = [r["seconds"][phase] for r in repetitions]
        floor_samples = [r["floor_seconds"][phase] for r in repetitions]
        median, floor_median = statistics.median(samples), statistics.median(floor_samples)
        phase_rows = repetitions[0]["rows"][phase]
        phases[phase] = {
            "seconds": median,
            "floor_seconds": floor_median,
            "ratio": median / floor_median if floor_median > 0 else math.inf,
            "floor": FLOOR_OF[phase],
            "rows": phase_rows,
            "rows_per_second": phase_rows / median if median > 0 else math.inf,
            "spread_seconds": max(samples) - min(samples),
            "floor_spread_seconds": max(floor_samples) - min(floor_samples),
        }
        spread[phase] = {"samples": samples, "floor_samples": floor_samples}
    probe = next(r["task_peak_rss"] for r in repetitions if r["task_peak_rss"] is not None)
    main_phases = ("detect", "apply", "export")
    total = sum(phases[p]["seconds"] for p in main_phases)
    total_floor = sum(phases[p]["floor_seconds"] for p in main_phases)
    if dag is not None:
        # The same data and period as the repetitions' detect + apply + export.
        dag = {**dag, "data_work_seconds": total, "overhead_seconds": dag["seconds"] - total}
    dag_peak = dag["peak_rss_mb"] if dag is not None else None
    return {
        "n_sales": n_sales,
        "repetitions": len(repetitions),
        "period": [str(PERIOD_START), str(PERIOD_END)],
        "cpus": os.cpu_count(),
        "postgres_version": postgres_version,
        "phases": phases,
        "total_seconds": total,
        "total_floor_seconds": total_floor,
        "total_ratio": total / total_floor if total_floor > 0 else math.inf,
        "peak_rss_mb": peak_rss_mb,
        # The highest peak of a real task process: the export probe, and the process that
        # ran every task of the DAG under `airflow dags test` when that phase ran.
        "task_peak_rss_mb": max(probe["vm_hwm_mb"], dag_peak or 0),
        "export_probe_peak_rss_mb": probe["vm_hwm_mb"],
        "dag_run_peak_rss_mb": dag_peak,
        "dag_run": dag,
        "task_peak_rss_rusage_children_mb": probe["rusage_children_mb"],
        "spread": spread,
        "checks": [r["checks"] for r in repetitions],
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def print_table(results: dict) -> None:
    print()
    print(
        f"{results['n_sales']:,} sales, {results['repetitions']} repetition(s), {results['cpus']} CPUs, "
        f"PostgreSQL {results['postgres_version']}"
    )
    header = f"{'phase':<8} {'rows':>10} {'rows/s':>12} {'median s':>10} {'spread s':>10} {'floor s':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for phase, p in results["phases"].items():
        print(
            f"{phase:<8} {p['rows']:>10,} {p['rows_per_second']:>12,.0f} {p['seconds']:>10.3f} "
            f"{p['spread_seconds']:>10.3f} {p['floor_seconds']:>10.3f} {p['ratio']:>7.2f}"
        )
    print("-" * len(header))
    print(
        f"{'total':<8} {'':>10} {'':>12} {results['total_seconds']:>10.3f} {'':>10} "
        f"{results['total_floor_seconds']:>10.3f} {results['total_ratio']:>7.2f}   (detect + apply + export)"
    )
    dag = results["dag_run"]
    sources = f"export probe {results['export_probe_peak_rss_mb']:.0f} MB"
    if dag is not None:
        sources += f", airflow dags test {dag['peak_rss_mb']:.0f} MB"
    print(
        f"peak RSS: benchmark {results['peak_rss_mb']:.0f} MB, task process {results['task_peak_rss_mb']:.0f} MB"
        f" (max of {sources}; the probe's RUSAGE_CHILDREN figure,"
        f" {results['task_peak_rss_rusage_children_mb']:.0f} MB, includes the parent's)"
    )
    if dag is None:
        print("airflow dags test: skipped (--no-dag-run)")
        return
    print(
        f"airflow dags test: {dag['seconds']:.1f} s wall, data work {dag['data_work_seconds']:.1f} s, "
        f"overhead {dag['overhead_seconds']:.1f} s (target <= {dag_run.OVERHEAD_TARGET_S:.0f} s), "
        f"peak RSS {dag['peak_rss_mb']:.0f} MB (target <= {dag_run.TASK_RSS_TARGET_MB:.0f} MB), "
        f"session {dag['session_status']}"
    )


def run_dag_once(admin_dsn: str, template: str, copy: str, airflow_home: dag_run.AirflowHome) -> dict:
    """``airflow dags test`` of the whole DAG on a fresh copy of ``template``. The Airflow
    home (and its log) is kept only when the run did not complete: ``log`` says where."""
    from devtools import databases

    say(f"airflow dags test {dag_run.DAG_ID} on {copy} (Airflow home {airflow_home.path})")
    copy_dsn = databases.create_database(admin_dsn, copy, template=template)
    try:
        dag = dag_run.run_dag(airflow_home, copy_dsn, PERIOD_START, PERIOD_END)
    finally:
        databases.drop_database(admin_dsn, copy)
    say(
        f"  dags test      {dag['seconds']:8.2f} s  (exit {dag['returncode']}, session {dag['session_status']}, "
        f"peak RSS {dag['peak_rss_mb']:.0f} MB)"
    )
    if dag["returncode"] == 0 and dag["session_status"] == "COMPLETED":
        dag["log"] = None
    else:
        say(f"  the DAG run did not complete; its log is {dag['log']}")
    return dag


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=1_000_000, help="demo sales to load (default 1,000,000)")
    parser.add_argument("--repetitions", type=int, default=3, help="repetitions of the whole sequence (default 3)")
    parser.add_argument(
        "--admin-dsn", default=None, help="admin DSN of a PostgreSQL server (default: the embedded one in .pgdata)"
    )
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "bench" / "results.json")
    parser.add_argument("--keep", action="store_true", help="keep the loaded database bench_<n>")
    parser.add_argument(
        "--no-dag-run",
        dest="dag_run",
        action="store_false",
        help="skip the final `airflow dags test` of the whole DAG on a fresh copy",
    )
    args = parser.parse_args(argv)
    if args.sales < 1 or args.repetitions < 1:
        parser.error("--sales and --repetitions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print the table, write the JSON and return the results."""
    from devtools import databases

    args = parse_args(argv)
    if args.admin_dsn:
        admin_dsn = args.admin_dsn
    else:
        from devtools import embedded_postgres

        admin_dsn = embedded_postgres.start(PROJECT_ROOT / ".pgdata")
    name = f"bench_{args.sales}"
    copies = [f"{name}_r{i}" for i in range(1, args.repetitions + 1)]
    dag_copy = f"{name}_dag"
    for copy in [*copies, dag_copy]:  # leftovers of an interrupted run
        databases.drop_database(admin_dsn, copy)
    # Airflow's metadata is migrated while the data loads (not timed).
    airflow_home = dag_run.AirflowHome() if args.dag_run else None
    dag = None
    try:
        say(f"loading {args.sales:,} sales into {name}")
        dsn = load_database(admin_dsn, name, args.sales)
        with psycopg.connect(dsn) as conn:
            postgres_version = conn.execute("SHOW server_version").fetchone()[0]
        repetitions = []
        with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
            for index, copy in enumerate(copies, start=1):
                say(f"repetition {index}/{args.repetitions} on {copy}")
                copy_dsn = databases.create_database(admin_dsn, copy, template=name)
                try:
                    repetitions.append(measure_repetition(copy_dsn, Path(tmp), probe=index == args.repetitions))
                finally:
                    databases.drop_database(admin_dsn, copy)
        if airflow_home is not None:
            dag = run_dag_once(admin_dsn, name, dag_copy, airflow_home)
    finally:
        if airflow_home is not None and (dag is None or dag.get("log") is None):
            airflow_home.cleanup()
        if not args.keep:
            databases.drop_database(admin_dsn, name)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results = summarize(args.sales, repetitions, postgres_version, peak_rss_mb, dag)
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {args.output}")
    return results


if __name__ == "__main__":
    main()
