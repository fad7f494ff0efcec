"""Airflow's components as real processes for the integration tests: a metadata database of
their own in the test PostgreSQL (several processes write to it at once), the api-server,
the scheduler and the dag-processor, plus any process a test adds (Celery workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from devtools import databases
from devtools.api_server import free_port
from tests.conftest import AIRFLOW, PROJECT_ROOT


def sqlalchemy_url(dsn: str, driver: str = "postgresql+psycopg") -> str:
    params = conninfo_to_dict(dsn)
    host = params.get("host", "localhost")
    user = params.get("user", "postgres")
    if host.startswith("/"):
        return f"{driver}://{user}@/{params['dbname']}?host={host}"
    return f"{driver}://{user}@{host}:{params.get('port', 5432)}/{params['dbname']}"


def log_tails(logs: Path) -> str:
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.rglob("*.log")))


def wait_for(condition: Callable[[], object], timeout: float, what: str, logs: Path, conn=None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tails = log_tails(logs)
    if conn is not None:
        sessions = conn.execute(
            "SELECT id, tipo_sessao, status, data_inicio, data_fim FROM audit.sessoes_processamento ORDER BY id"
        ).fetchall()
        tails = f"sessions: {sessions}\n{tails}"
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@dataclass
class Components:
    env: dict[str, str]
    meta_dsn: str
    port: int
    logs: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        """Start a process in a session of its own (stopped with its children at the end)."""
        out = (self.logs / f"{name}.log").open("w")
        self.processes.append(
            subprocess.Popen(
                command,
                env={**self.env, **(env or {})},
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([AIRFLOW, *args], env=self.env, check=True, capture_output=True)

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        def serialized() -> bool:
            with psycopg.connect(self.meta_dsn) as meta:
                return bool(meta.execute("SELECT 1 FROM serialized_dag WHERE dag_id = %s", (dag_id,)).fetchone())

        wait_for(serialized, timeout, f"the dag-processor to parse {dag_id}", self.logs)

    def wait_for_api(self, timeout: float = 180) -> None:
        def healthy() -> bool:
            try:
                return httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout, "the api-server", self.logs)

    def stop(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def airflow_components(pg_admin_dsn: str, folder: Path, settings: dict[str, str]) -> Iterator[Components]:
    """api-server, scheduler and dag-processor on a fresh metadata database, with
    ``settings`` (AIRFLOW__… and the like) on top of the test environment. Every process a
    test starts through ``start`` gets the same settings, hence the same secrets."""
    meta_name = f"airflow_meta_{uuid.uuid4().hex[:12]}"
    meta_dsn = databases.create_database(pg_admin_dsn, meta_name)
    port = free_port()
    logs = folder / "logs"
    logs.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(folder / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(meta_dsn),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": f"jwt-{uuid.uuid4().hex}",
        "AIRFLOW__API__SECRET_KEY": f"chave-{uuid.uuid4().hex}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **settings,
    }
    components = Components(env=env, meta_dsn=meta_dsn, port=port, logs=logs)
    try:
        components.airflow("db", "migrate")
        components.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)])
        components.start("scheduler", [AIRFLOW, "scheduler"])
        components.start("dag-processor", [AIRFLOW, "dag-processor"])
        yield components
    finally:
        components.stop()
        databases.drop_database(pg_admin_dsn, meta_name)
