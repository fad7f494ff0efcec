"""The distributed setup of docker-compose.yaml, proven with real processes: Redis, a
PostgreSQL metadata database, the api-server, scheduler and dag-processor, and two
`airflow celery worker` processes that share no local folder, only the report storage (a
file:// URL here, a shared volume or s3:// in production).

A run triggered through the REST API must succeed with its tasks spread over both workers,
the CSV written by one and attached to the email by the other. Which worker runs which
task is decided, not hoped for: a cluster policy (tests/celery_cluster) pins export_csv to
a queue only worker A serves and email_summary to one only worker B serves; the other
tasks go to the queue both serve.
"""

import csv
import io
import json
import shutil
import socket
import subprocess
import time
import uuid

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.airflow_processes import AIRFLOW, airflow_components, free_port, log_tails, sqlalchemy_url, wait_for
from tests.conftest import PROJECT_ROOT
from tests.helpers import add_sale

WORKERS = ("trabalhador_a", "trabalhador_b")
USER, PASSWORD = "operador", "senha-do-teste-celery"
DAY = {"data_inicio": "2026-11-10", "data_fim": "2026-11-10", "modo": "auto"}


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """The machine's Redis on 6379 when it answers, else a redis-server of our own."""
    if _redis_answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no Redis answers on 127.0.0.1:6379 and there is no redis-server (apt-get install redis-server)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _redis_answers(port):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.slow
def test_two_celery_workers_write_and_email_the_report_through_shared_storage(
    conn, business_db, pg_admin_dsn, smtp, redis_url, tmp_path
):
    add_sale(conn, "NF_BONUS", bonus_dpto="1")  # corrected by the run
    add_sale(conn, "NF_NEGATIVO", valor_bonus="-50.00", bonus_dpto="-50.00")  # stays pending

    storage = tmp_path / "armazenamento_compartilhado"
    report_url = storage.as_uri() + "/relatorios"
    tag = uuid.uuid4().hex[:8]  # queues of their own: another test run may share this Redis
    shared_queue, queue_a, queue_b = (f"divergencias_{tag}{suffix}" for suffix in ("", "_a", "_b"))
    passwords = tmp_path / "senhas.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    settings = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": redis_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sqlalchemy_url(pg_admin_dsn),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": shared_queue,
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the run this test triggers
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_local_settings.worker_hostname",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "DIVERGENCIAS_FILAS": json.dumps({"export_csv": queue_a, "email_summary": queue_b}),
        "AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR": report_url,
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT / 'tests' / 'celery_cluster'}",
    }
    with airflow_components(pg_admin_dsn, tmp_path / "controle", settings) as airflow:
        for name, own_queue in zip(WORKERS, (queue_a, queue_b), strict=True):
            home = tmp_path / name
            (home / "tmp").mkdir(parents=True)
            airflow.start(
                name,
                [AIRFLOW, "celery", "worker", "-H", name, "-q", f"{shared_queue},{own_queue}"]
                + ["--concurrency", "1", "--skip-serve-logs"],
                env={
                    "DIVERGENCIAS_WORKER": name,
                    "HOME": str(home),
                    "TMPDIR": str(home / "tmp"),
                    "AIRFLOW_HOME": str(home / "airflow"),
                    "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
                },
                cwd=home,
            )
        airflow.wait_for_dag("divergencias_diarias")
        airflow.wait_for_api()

        token = httpx.post(f"{airflow.base_url}/auth/token", json={"username": USER, "password": PASSWORD})
        assert token.status_code in (200, 201), token.text
        api = httpx.Client(
            base_url=f"{airflow.base_url}/api/v2",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )
        triggered = api.post("/dags/divergencias_diarias/dagRuns", json={"logical_date": None, "conf": DAY})
        assert triggered.status_code == 200, triggered.text
        run_id = triggered.json()["dag_run_id"]

        def run_state() -> str:
            return api.get(f"/dags/divergencias_diarias/dagRuns/{run_id}").json()["state"]

        wait_for(lambda: run_state() in ("success", "failed"), 420, "the triggered run", airflow.logs, conn)
        assert run_state() == "success", log_tails(tmp_path)
        with psycopg.connect(airflow.meta_dsn) as meta:
            ran_on = dict(
                meta.execute(
                    "SELECT task_id, hostname FROM task_instance WHERE dag_id = 'divergencias_diarias' AND run_id = %s",
                    (run_id,),
                ).fetchall()
            )

    print(f"\ntasks by worker: {json.dumps(ran_on, indent=1, sort_keys=True)}")
    assert set(ran_on.values()) == set(WORKERS)
    assert (ran_on["export_csv"], ran_on["email_summary"]) == WORKERS

    with psycopg.connect(business_db, row_factory=dict_row) as c:
        session = c.execute("SELECT * FROM audit.sessoes_processamento ORDER BY id DESC LIMIT 1").fetchone()
    assert (session["status"], session["tipo_sessao"], session["dag_run_id"]) == ("COMPLETED", "MANUAL_RUN", run_id)
    assert (session["correcoes_aplicadas"], session["correcoes_pendentes"]) == (1, 2)
    name = f"divergencias_2026-11-10_2026-11-10_sessao{session['id']}.csv"
    assert session["arquivo_relatorio"] == f"{report_url}/{name}"
    written = (storage / "relatorios" / name).read_bytes()
    rows = list(csv.DictReader(io.StringIO(written.decode("utf-8-sig"))))
    assert sorted((r["idnfsexterno"], r["status_processamento"]) for r in rows) == [
        ("NF_BONUS", "AUTO_APPLIED"),
        ("NF_NEGATIVO", "DETECTED"),
        ("NF_NEGATIVO", "DETECTED"),
    ]
    # nothing went to a worker's own disk
    assert [p for worker in WORKERS for p in (tmp_path / worker).rglob("*.csv")] == []

    (mail,) = smtp.mails
    (attachment,) = list(mail.message.iter_attachments())
    assert attachment.get_filename() == name
    assert attachment.get_payload(decode=True) == written
