"""Things break on purpose: a connection dying mid-apply, a dead mail server, a retried
step. Nothing is half-written, the session says what happened, the run fails visibly,
and re-running the period ends exactly where one clean run would have."""

import json
import socket
import threading
import time
from datetime import date, timedelta

import psycopg

from devtools.sql_steps import open_session, run_session, run_step
from tests.helpers import add_sale, booked, business_state, divergences

DAY = date(2026, 11, 10)
PERIOD = {"data_inicio": "2026-11-10", "data_fim": "2026-11-10", "modo": "auto"}


def _sales(conn) -> None:
    for i in range(1, 6):
        add_sale(conn, f"NF{i}", valor_bonus=f"{i}000.00", bonus_dpto=f"{i}00.00", trade="50", trade_mkt_dpto="")
    add_sale(conn, "NF_PEND", bonus_utilizado="PENDENTE VERIFICACAO")


def _clean_run_state(make_business_db) -> tuple:
    with psycopg.connect(make_business_db(), autocommit=True) as clean:
        _sales(clean)
        run_session(clean, DAY, DAY)
        return business_state(clean)


def _session(conn) -> dict:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM audit.sessoes_processamento ORDER BY id DESC LIMIT 1").fetchone()


def _kill_the_backend_waiting_for(lock_holder: psycopg.Connection, admin_dsn: str, done: threading.Event) -> None:
    """Terminate the session blocked behind ``lock_holder``'s row lock, then release it."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        # Generous: on a loaded machine the run's first tasks took over a minute to reach
        # apply, and a helper that had given up let apply through (the test then failed).
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            row = admin.execute(
                """SELECT pid FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> %s""",
                (lock_holder.info.backend_pid,),
            ).fetchone()
            if row:
                admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                break
            time.sleep(0.05)
    lock_holder.rollback()
    done.set()


def test_connection_dies_in_the_middle_of_apply(dag, conn, business_db, make_business_db, smtp, output_dir):
    _sales(conn)
    before = conn.execute("SELECT * FROM byd.controladoria ORDER BY 1").fetchall()
    holder = psycopg.connect(business_db)
    holder.execute("SELECT 1 FROM byd.controladoria WHERE idnfsexterno = 'NF3' FOR UPDATE")
    done = threading.Event()
    threading.Thread(target=_kill_the_backend_waiting_for, args=(holder, business_db, done), daemon=True).start()

    run = dag.test(run_conf=PERIOD)
    assert done.wait(10)
    holder.close()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["apply_corrections"] == "failed" and states["close_session"] == "success"
    assert conn.execute("SELECT * FROM byd.controladoria ORDER BY 1").fetchall() == before
    session = _session(conn)
    assert session["status"] == "FAILED" and session["correcoes_aplicadas"] == 0
    assert any("apply_corrections" in m.message["Subject"] for m in smtp.mails)

    assert dag.test(run_conf=PERIOD).state == "success"
    assert _session(conn)["correcoes_aplicadas"] == 10
    assert business_state(conn) == _clean_run_state(make_business_db)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_smtp_down_keeps_corrections_and_csv_and_ends_partial(
    dag, conn, make_business_db, business_db, output_dir, monkeypatch
):
    _sales(conn)
    dead = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": _closed_port(),
        "extra": {
            "disable_tls": True,
            "disable_ssl": True,
            "from_email": "x@teste.local",
            "retry_limit": 0,
            "timeout": 5,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(dead))
    monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", "controladoria@teste.local")

    run = dag.test(run_conf=PERIOD)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["email_summary"] == "failed" and states["export_csv"] == "success"
    session = _session(conn)
    assert session["status"] == "PARTIAL" and session["erros_encontrados"] == 1
    assert session["correcoes_aplicadas"] == 10 and booked(conn, "NF1") == ("1000.00", "50.00")
    assert (output_dir / f"divergencias_2026-11-10_2026-11-10_sessao{session['id']}.csv").exists()

    monkeypatch.delenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS")
    assert dag.test(run_conf=PERIOD).state == "success"
    assert business_state(conn) == _clean_run_state(make_business_db)


def test_a_retried_step_never_records_or_applies_twice(conn):
    _sales(conn)
    params = open_session(conn, DAY, DAY, dag_run_id="manual__retry")
    for _ in range(2):
        run_step(conn, "detect_divergences", params)
        run_step(conn, "apply_corrections", params)
    assert open_session(conn, DAY, DAY, dag_run_id="manual__retry")["sessao_id"] == params["sessao_id"]
    assert len(divergences(conn)) == 11
    ops = conn.execute("SELECT tipo_operacao, count(*) FROM audit.operacoes GROUP BY 1 ORDER BY 1").fetchall()
    assert ops == [("BULK_UPDATE", 1), ("DETECT", 2)]
    assert conn.execute(
        "SELECT divergencias_detectadas, correcoes_aplicadas FROM audit.sessoes_processamento"
    ).fetchall() == [(11, 10)]


def test_the_daily_tasks_retry_with_backoff_and_have_timeouts():
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import PROJECT_ROOT

    dag = DagBag(str(PROJECT_ROOT / "dags")).get_dag("divergencias_diarias")
    for task in dag.tasks:
        assert task.retries == 2 and task.retry_exponential_backoff
        assert task.execution_timeout is not None


def test_a_session_left_running_by_a_dead_run_is_closed_as_failed_by_the_next_run(conn):
    conn.execute(
        """INSERT INTO audit.sessoes_processamento (tipo_sessao, status, inicio_processamento, dag_run_id)
           VALUES ('DAILY_AUTO', 'RUNNING', (now() AT TIME ZONE 'America/Sao_Paulo')
                                               - interval '7 hours', 'scheduled__morto'),
                  ('MANUAL_RUN', 'RUNNING', (now() AT TIME ZONE 'America/Sao_Paulo')
                                               - interval '5 minutes', 'manual__em_andamento')"""
    )
    run_session(conn, DAY, DAY)
    statuses = dict(conn.execute("SELECT dag_run_id, status FROM audit.sessoes_processamento").fetchall())
    assert statuses["scheduled__morto"] == "FAILED"
    assert statuses["manual__em_andamento"] == "RUNNING"


def test_clearing_the_failed_email_reruns_it_and_keeps_the_data_work(dag, conn, output_dir, monkeypatch):
    """Clearing a task clears its setup and teardown too: open_session runs again on the same
    session. It used to forget which steps were done, so the cleared email_summary skipped
    itself ("data work not done") and close_session turned a PARTIAL session whose
    corrections are in byd.controladoria into FAILED, and the summary never went out."""
    from datetime import UTC, datetime

    from devtools.smtp_catcher import smtp_catcher

    _sales(conn)
    dead = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": _closed_port(),
        "extra": {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(dead))
    monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", "controladoria@teste.local")
    moment = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
    assert dag.test(run_after=moment, logical_date=moment, run_conf=PERIOD).state == "failed"
    session = _session(conn)
    assert session["status"] == "PARTIAL"

    with smtp_catcher(output_dir.parent / "emails") as catcher:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", catcher.airflow_connection_json())
        # the same run with email_summary cleared: its setup and teardown run again, the
        # steps before it keep their success
        run = dag.test(
            run_after=moment,
            logical_date=moment,
            run_conf=PERIOD,
            mark_success_pattern="detect_divergences|apply_corrections|export_csv",
        )
        again = _session(conn)
        assert again["id"] == session["id"]
        assert (again["status"], again["correcoes_aplicadas"]) == ("COMPLETED", 10)
        # no step is failed any more: the count is of this outcome, as after a retry that worked
        assert again["erros_encontrados"] == 0
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states["open_session"] == "success" and states["email_summary"] == "success", states
        assert [m.message["Subject"] for m in catcher.mails if "FALHA" not in m.message["Subject"]]


def test_a_cleared_run_whose_detection_now_fails_is_failed_not_its_earlier_success(dag, conn, smtp, output_dir):
    """The other side of keeping the steps done across a clear: a step that runs again drops
    its mark first, so this attempt's failure is what the session says."""
    from datetime import UTC, datetime

    _sales(conn)
    moment = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)
    assert dag.test(run_after=moment, logical_date=moment, run_conf=PERIOD).state == "success"
    session = _session(conn)
    assert session["status"] == "COMPLETED"
    conn.execute("TRUNCATE byd.vendas")  # a broken source: detection stops before writing
    summaries = len(smtp.mails)
    assert dag.test(run_after=moment, logical_date=moment, run_conf=PERIOD).state == "failed"
    again = _session(conn)
    assert (again["id"], again["status"]) == (session["id"], "FAILED")
    assert [m.message["Subject"] for m in smtp.mails[summaries:] if "FALHA" not in m.message["Subject"]] == []


def test_the_alert_of_a_task_that_died_without_an_exception_says_so():
    """Airflow runs the failure callback of a task whose process died (killed, out of memory,
    heartbeat lost) in the DAG processor, with no exception in the context: the alert said
    'Erro: NoneType: None'."""
    from divergencias.notifications import failure_mail

    mail = failure_mail("divergencias_diarias", "apply_corrections", "scheduled__x", None, "http://log", "PRODUCTION")
    for body in (mail.text, mail.html):
        assert "NoneType" not in body and "sem relatar um erro" in body
    error = failure_mail(
        "divergencias_diarias", "export_csv", "scheduled__x", OSError("disco cheio"), "http://log", "PRODUCTION"
    )
    assert "OSError: disco cheio" in error.text


def test_the_alert_of_a_mistyped_environment_names_it_as_typed(monkeypatch):
    """The run fails at its first task when the Variable environment is not one of the three;
    its alert said [DEVELOPMENT], so the production team's filter on [PRODUCTION] never
    saw the alert of a production run with environment 'producao'."""
    from divergencias.settings import environment_label

    monkeypatch.setenv("AIRFLOW_VAR_ENVIRONMENT", " producao ")
    assert environment_label() == "PRODUCAO"
    monkeypatch.delenv("AIRFLOW_VAR_ENVIRONMENT")
    assert environment_label() == "DEVELOPMENT"


def test_an_export_whose_commit_fails_leaves_no_csv_behind(dag, conn, output_dir, monkeypatch):
    """The CSV is written before the session records where it is; when that record's commit
    fails (here a deferred check refuses it, as a lost connection or a full disk would at
    commit), the file must not stay in the folder under the session's name, unrecorded."""
    _sales(conn)
    monkeypatch.delenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", raising=False)
    conn.execute(
        """CREATE FUNCTION public.recusa_no_commit() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'recusado no COMMIT'; END $$"""
    )
    conn.execute(
        """CREATE CONSTRAINT TRIGGER recusa_no_commit AFTER UPDATE OF arquivo_relatorio
           ON audit.sessoes_processamento DEFERRABLE INITIALLY DEFERRED
           FOR EACH ROW WHEN (NEW.arquivo_relatorio IS NOT NULL) EXECUTE FUNCTION public.recusa_no_commit()"""
    )

    run = dag.test(run_conf=PERIOD)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["export_csv"] == "failed"
    session = _session(conn)
    assert session["status"] == "PARTIAL" and session["arquivo_relatorio"] is None
    assert not output_dir.exists() or list(output_dir.iterdir()) == []


def test_a_summary_the_server_accepted_is_not_sent_again_when_its_record_fails(
    dag, conn, business_db, smtp, output_dir, caplog
):
    """The mail server accepted the summary, then recording it on the session failed (here the
    connection recording it was cut while it waited for a lock): Airflow retried email_summary,
    which sent the same summary again. A controller got it twice, or once per retry."""
    _sales(conn)
    email = dag.get_task("email_summary")
    email.retries, email.retry_delay, email.retry_exponential_backoff = 1, timedelta(0), 0
    holder = psycopg.connect(business_db)
    done = threading.Event()
    accept = smtp.handle_DATA

    async def accept_then_cut_the_record(server, session, envelope):  # noqa: ANN001, ANN202
        if not smtp.mails:
            holder.execute("SELECT 1 FROM audit.sessoes_processamento FOR UPDATE")
            threading.Thread(
                target=_kill_the_backend_waiting_for, args=(holder, business_db, done), daemon=True
            ).start()
        return await accept(server, session, envelope)

    smtp.handle_DATA = accept_then_cut_the_record  # aiosmtpd reads the hooks per connection
    run = dag.test(run_conf=PERIOD)
    assert done.wait(10)
    holder.close()

    summaries = [m.message["Subject"] for m in smtp.mails if "FALHA" not in m.message["Subject"]]
    assert summaries == ["[DEVELOPMENT] Divergências 10/11/2026 a 10/11/2026: 11 novas, 10 corrigidas, 1 pendente"]
    session = _session(conn)
    assert session["alertas_enviados"] and session["destinatarios_notificados"] == ["controladoria@teste.local"]
    assert run.state == "success" and session["status"] == "COMPLETED"
    assert "summary sent but not recorded on session" in caplog.text  # the record did fail once


def test_a_summary_sent_but_never_recorded_fails_the_task_without_a_retry_that_resends_it(
    dag, conn, business_db, smtp, output_dir, monkeypatch
):
    """Recording keeps failing (someone holds the session's row past limite_espera_bloqueio_s
    on every attempt): the task fails for good, and its failure email says the summary went out."""
    from divergencias import notifications

    monkeypatch.setattr(notifications, "RECORD_PAUSES_S", (0, 0.1))
    conn.execute("UPDATE audit.configuracoes_sistema SET valor = '1' WHERE chave = 'limite_espera_bloqueio_s'")
    _sales(conn)
    email = dag.get_task("email_summary")
    email.retries, email.retry_delay, email.retry_exponential_backoff = 1, timedelta(0), 0
    holder = psycopg.connect(business_db)
    accept = smtp.handle_DATA

    async def hold_the_session_until_the_alert(server, session, envelope):  # noqa: ANN001, ANN202
        if not smtp.mails:
            holder.execute("SELECT 1 FROM audit.sessoes_processamento FOR UPDATE")
        else:
            holder.rollback()  # the alert: close_session, next, must get the row
        return await accept(server, session, envelope)

    smtp.handle_DATA = hold_the_session_until_the_alert
    run = dag.test(run_conf=PERIOD)
    holder.close()

    summary, alert = (m.message for m in smtp.mails)
    assert summary["Subject"].endswith(": 11 novas, 10 corrigidas, 1 pendente")
    assert "FALHA em divergencias_diarias.email_summary" in alert["Subject"]
    text = alert.get_body(("plain",)).get_content()
    assert "resumo da sessão 1 enviado a controladoria@teste.local, mas não registrado na sessão" in text
    email_ti = next(ti for ti in run.get_task_instances() if ti.task_id == "email_summary")
    assert (email_ti.state, email_ti.try_number) == ("failed", 1)
    session = _session(conn)
    assert session["status"] == "PARTIAL" and not session["alertas_enviados"]
