"""Every DAG file parses cleanly, as the Astronomer project template checks: no import
errors, tags, retries, and no database access while Airflow parses the file (the
dag-processor parses every DAG file every few seconds). No database is needed here: the
business connection points at a socket that only counts who connects to it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))
# Parsing is importing Python: a file that waited on a connection or a query would blow this.
PARSE_SECONDS_LIMIT = 2.0


class ConnectionCounter:
    """A TCP listener that accepts, counts and drops every connection."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            client.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, ConnectionCounter, float]]:
    """The DagBag of dags/ parsed with every connection the DAGs use aimed at the counter."""
    from airflow.dag_processing.dagbag import DagBag

    counter = ConnectionCounter()
    unreachable = f"postgresql://nobody:nothing@127.0.0.1:{counter.port}/nothing?connect_timeout=1"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_CONN_FINANCIAL_DB", unreachable)
        env.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://nobody:nothing@127.0.0.1:{counter.port}")
        started = time.perf_counter()
        bag = DagBag(str(PROJECT_ROOT / "dags"))
        elapsed = time.perf_counter() - started
    # Give a connection the parse started in the background time to arrive.
    time.sleep(0.3)
    counter.close()
    yield bag, counter, elapsed


def test_every_dag_file_imports_without_errors(parsed):
    bag, _, _ = parsed
    assert bag.import_errors == {}
    assert {Path(dag.fileloc).name for dag in bag.dags.values()} == {path.name for path in DAG_FILES}
    assert set(bag.dag_ids) == {"divergencias_diarias", "divergencias_rollback", "divergencias_backup_auditoria"}


def test_parsing_touches_no_database(parsed):
    bag, counter, elapsed = parsed
    assert counter.accepted == 0, "a DAG file connected to financial_db or smtp_default while being parsed"
    slow = {
        s.file: s.duration.total_seconds() for s in bag.dagbag_stats if s.duration.total_seconds() > PARSE_SECONDS_LIMIT
    }
    assert slow == {}, f"DAG files slower to parse than {PARSE_SECONDS_LIMIT} s: {slow} (whole bag {elapsed:.1f} s)"


@pytest.mark.parametrize("dag_id", ["divergencias_diarias", "divergencias_rollback", "divergencias_backup_auditoria"])
def test_dag_has_tags_and_every_task_retries(parsed, dag_id):
    bag, _, _ = parsed
    dag = bag.dags[dag_id]  # not get_dag(): it consults the metadata database
    assert dag.tags, f"{dag_id} has no tags"
    no_retries = [task.task_id for task in dag.tasks if task.retries < 1]
    assert no_retries == [], f"{dag_id}: tasks without retries: {no_retries}"
