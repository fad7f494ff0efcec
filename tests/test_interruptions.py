"""Interrupted for real: a step's backend terminated between any two of its statements, a
worker killed while its statement waits, a worker frozen in the middle of its transaction.
Nothing is half-written, no operation is left PENDING, nobody waits behind a dead step's
locks, and the retry ends where one clean run would have."""

import multiprocessing
import multiprocessing.synchronize
import os
import signal
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook

from devtools.sql_steps import open_session, run_session, run_sql, run_step
from divergencias.database import sql_file
from divergencias.operators import AuditedSQLOperator
from tests.helpers import add_sale, booked, business_state, divergences

DAY = date(2026, 11, 10)


def _sales(conn: psycopg.Connection) -> None:
    for i in range(1, 4):
        add_sale(conn, f"NF{i}", valor_bonus=f"{i}000.00", bonus_dpto=f"{i}00.00", trade="50", trade_mkt_dpto="")
    add_sale(conn, "NF_PEND", bonus_utilizado="PENDENTE VERIFICACAO")
    add_sale(conn, "NF_NEG", valor_bonus="100.00", bonus_dpto="-5")


def _everything(conn: psycopg.Connection) -> tuple:
    """What an interrupted step must leave as it found: byd, the divergences, every
    operation, session, history row and approval."""
    return (
        business_state(conn),
        conn.execute("SELECT id, tipo_operacao, status, registros_afetados FROM audit.operacoes ORDER BY 1").fetchall(),
        conn.execute(
            """SELECT id, status, etapas_concluidas, divergencias_detectadas, correcoes_aplicadas
                 FROM audit.sessoes_processamento ORDER BY id"""
        ).fetchall(),
        conn.execute("SELECT count(*) FROM audit.historico_divergencias").fetchone(),
        conn.execute("SELECT count(*) FROM audit.aprovacoes").fetchone(),
    )


def _terminate_after_each_statement(conn: psycopg.Connection, dsn: str, text: str, params: dict) -> None:
    """Run ``text`` as the DAG splits it on a connection of its own, once per statement,
    and terminate that backend from ``conn`` right after the statement."""
    statements = DbApiHook.split_sql_string(text, strip_semicolon=True)
    before = _everything(conn)
    for done in range(1, len(statements) + 1):
        with psycopg.connect(dsn) as victim:
            for statement in statements[:done]:
                victim.execute(statement, params)
            conn.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
            with pytest.raises(psycopg.OperationalError):
                victim.commit()
        assert _everything(conn) == before, f"terminated after statement {done} of {len(statements)}"


def test_a_step_terminated_after_any_statement_leaves_nothing_and_its_retry_applies_once(
    conn, business_db, make_business_db
):
    _sales(conn)
    params = open_session(conn, DAY, DAY, dag_run_id="manual__interrompida")
    for task_id in ("detect_divergences", "apply_corrections"):
        _terminate_after_each_statement(conn, business_db, sql_file(f"divergencias/{task_id}.sql"), params)
        run_step(conn, task_id, params)
    run_step(conn, "close_session", params)
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE status <> 'SUCCESS'").fetchone() == (0,)
    with psycopg.connect(make_business_db(), autocommit=True) as clean:
        _sales(clean)
        run_session(clean, DAY, DAY)
        assert business_state(conn) == business_state(clean)

    undo = {"sessao_id": params["sessao_id"], "motivo": "lançamento em duplicidade", "usuario": "airflow:teste"}
    _terminate_after_each_statement(conn, business_db, sql_file("rollback/rollback_session.sql"), undo)
    run_sql(conn, sql_file("rollback/rollback_session.sql"), undo)
    assert booked(conn, "NF1") == ("100.00", "")
    assert conn.execute("SELECT tipo_operacao, status FROM audit.operacoes ORDER BY id").fetchall() == [
        ("DETECT", "SUCCESS"),
        ("BULK_UPDATE", "ROLLED_BACK"),
        ("ROLLBACK", "SUCCESS"),
    ]


def test_an_approval_terminated_after_any_statement_leaves_nothing(conn, business_db):
    """The review API's transaction, statement by statement as decisions.approve runs it."""
    _sales(conn)
    run_session(conn, DAY, DAY, modo="manual")
    (proposta,) = [d for d in divergences(conn, "NF1") if d["campo_afetado"] == "bonus_dpto"]
    approval = {
        "ids": [proposta["id"]],
        "valores": [Decimal("1000.00")],
        "aplicar": [True],
        "usuario": "controladora",
        "comentario": None,
        "versao": "teste",
    }
    text = ";\n".join((sql_file("review/travar_divergencias.sql"), sql_file("review/aplicar_aprovacoes.sql")))
    _terminate_after_each_statement(conn, business_db, text, approval)
    run_sql(conn, text, approval)
    assert booked(conn, "NF1")[0] == "1000.00"
    assert conn.execute("SELECT status FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchall() == [
        ("SUCCESS",)
    ]


# --- a worker that dies or freezes mid-step ------------------------------------------------


def _apply_up_to_the_row_locks(dsn: str, params: dict, locked: "multiprocessing.synchronize.Event") -> None:
    """A worker's apply_corrections up to the statement that locks the booked rows; then it
    freezes, as a worker whose host hangs or loses its network: the socket stays open."""
    statements = DbApiHook.split_sql_string(sql_file("divergencias/apply_corrections.sql"), strip_semicolon=True)
    upto = next(i for i, statement in enumerate(statements) if "FOR UPDATE" in statement)
    conn = psycopg.connect(dsn)
    for statement in statements[: upto + 1]:
        conn.execute(statement, params)
    locked.set()
    time.sleep(600)


def _apply_corrections(dsn: str, params: dict) -> None:
    with psycopg.connect(dsn) as conn:
        run_step(conn, "apply_corrections", params)


def _backend_gone(conn: psycopg.Connection, pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone() == (0,):
            return True
        time.sleep(0.1)
    return False


def _backends_of_others(conn: psycopg.Connection, *, waiting: bool) -> list[int]:
    return [
        pid
        for (pid,) in conn.execute(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND (NOT %s OR wait_event_type = 'Lock')""",
            (waiting,),
        ).fetchall()
    ]


def test_a_worker_frozen_mid_apply_does_not_hold_its_locks_past_the_setting(conn, business_db, make_business_db):
    """Its transaction holds the writer lock and the booked rows: without a limit the server
    keeps them until TCP gives up (hours), and every retry, run, decision and controller's edit
    of those sales waits behind a worker that will never commit."""
    _sales(conn)
    conn.execute(
        """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, versao, ativo, criado_por)
           SELECT chave, '2', tipo_valor, versao + 1, true, 'teste' FROM audit.configuracoes_sistema
            WHERE chave = 'limite_espera_bloqueio_s' ORDER BY versao DESC LIMIT 1"""
    )
    params = open_session(conn, DAY, DAY, dag_run_id="manual__congelada")
    run_step(conn, "detect_divergences", params)
    spawn = multiprocessing.get_context("spawn")
    locked = spawn.Event()
    worker = spawn.Process(target=_apply_up_to_the_row_locks, args=(business_db, params, locked))
    worker.start()
    try:
        assert locked.wait(30)
        os.kill(worker.pid, signal.SIGSTOP)
        frozen = _backends_of_others(conn, waiting=False)
        assert _backend_gone(conn, frozen, within=10), "the frozen worker's transaction still holds its locks"
        run_step(conn, "apply_corrections", params)
    finally:
        worker.kill()
        worker.join()
    run_step(conn, "close_session", params)
    with psycopg.connect(make_business_db(), autocommit=True) as clean:
        _sales(clean)
        run_session(clean, DAY, DAY)
        assert business_state(conn) == business_state(clean)


def test_a_worker_killed_while_apply_waits_for_a_person_leaves_no_step_behind(conn, business_db):
    """SIGKILL (out of memory, a worker restarted) while apply waits for a controller's open
    transaction: the server noticed nothing and kept the dead step waiting, and holding the
    writer lock, for limite_espera_bloqueio_s (300 s), so the retry and every decision of the
    review API waited behind it."""
    _sales(conn)
    params = open_session(conn, DAY, DAY, dag_run_id="manual__morta")
    run_step(conn, "detect_divergences", params)
    with psycopg.connect(business_db) as person:
        person.execute("SELECT * FROM byd.controladoria WHERE idnfsexterno = 'NF2' FOR UPDATE")
        worker = multiprocessing.get_context("spawn").Process(target=_apply_corrections, args=(business_db, params))
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while not (waiting := _backends_of_others(conn, waiting=True)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting, "apply_corrections never waited for the person's row"
        finally:
            worker.kill()
            worker.join()
        assert _backend_gone(conn, waiting, within=10), "the killed worker's step is still waiting, holding locks"
        person.rollback()
    run_step(conn, "apply_corrections", params)
    assert booked(conn, "NF2") == ("2000.00", "50.00")
    assert conn.execute(
        "SELECT tipo_operacao, status, registros_afetados FROM audit.operacoes ORDER BY id"
    ).fetchall() == [("DETECT", "SUCCESS", 9), ("BULK_UPDATE", "SUCCESS", 7)]


# --- what the audit trail says after a killed step -------------------------------------------


def _dag_task(task_id: str) -> AuditedSQLOperator:
    """The task as the DAG file declares it."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(Path(__file__).parents[1] / "dags")).get_dag("divergencias_diarias").get_task(task_id)


def _dag_step(task_id: str, params: dict) -> None:
    """The DAG's own operator for ``task_id`` (its audited step included), executed as a
    worker executes it, with the session's ``params`` as rendered."""
    task = _dag_task(task_id)
    task.sql = sql_file(f"divergencias/{task_id}.sql")
    task.parameters = {key: value for key, value in params.items() if key != "tentativa"}
    task.execute({})


def _kill_apply_while_it_waits_for_a_person(
    conn: psycopg.Connection, business_db: str, params: dict, while_alive: Callable[[], None] = lambda: None
) -> None:
    """A worker's apply_corrections, the DAG's operator, SIGKILLed while it waits for a
    controller's row lock (``while_alive`` runs just before); returns once the server has ended
    its transaction."""
    with psycopg.connect(business_db) as person:
        person.execute("SELECT * FROM byd.controladoria WHERE idnfsexterno = 'NF2' FOR UPDATE")
        worker = multiprocessing.get_context("spawn").Process(target=_dag_step, args=("apply_corrections", params))
        worker.start()
        try:
            deadline = time.monotonic() + 60
            while not (waiting := _backends_of_others(conn, waiting=True)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting, "apply_corrections never waited for the person's row"
            while_alive()
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            worker.kill()
            worker.join()
        assert _backend_gone(conn, waiting, within=10)
        person.rollback()


def _operations(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        """SELECT tipo_operacao, status, descricao, coalesce(erro_mensagem LIKE 'Tentativa interrompida%', false)
             FROM audit.operacoes ORDER BY id"""
    ).fetchall()


KILLED_APPLY = ("BULK_UPDATE", "FAILED", "FALHA: Correção automática de divergências", True)


def test_a_killed_step_is_a_failed_operation_once_its_retry_starts(conn, business_db, airflow_db):
    """SIGKILL writes no FAILED operation (the worker writes it, and it is dead): without it the
    retry's success left an audit trail with no failure at all."""
    _sales(conn)
    params = open_session(conn, DAY, DAY, dag_run_id="manual__morta_e_repetida")
    _dag_step("detect_divergences", params)
    _kill_apply_while_it_waits_for_a_person(conn, business_db, params)
    _dag_step("apply_corrections", params)
    assert booked(conn, "NF2") == ("2000.00", "50.00")
    run_step(conn, "close_session", params)
    assert _operations(conn) == [
        ("DETECT", "SUCCESS", "Detecção de divergências", False),
        KILLED_APPLY,
        ("BULK_UPDATE", "SUCCESS", "Correção automática de divergências", False),
    ]
    assert conn.execute("SELECT erros_hoje FROM audit.vw_dashboard_monitoramento").fetchone() == (1,)


def test_a_step_killed_on_its_last_attempt_is_a_failed_operation_once_the_session_closes(conn, business_db, airflow_db):
    _sales(conn)
    params = open_session(conn, DAY, DAY, dag_run_id="manual__morta_de_vez")
    _dag_step("detect_divergences", params)
    before = business_state(conn)

    def a_live_step_is_never_taken_for_a_dead_one() -> None:
        assert run_step(conn, "close_session", params)[0][0] == "FAILED"
        assert _operations(conn) == [("DETECT", "SUCCESS", "Detecção de divergências", False)]

    _kill_apply_while_it_waits_for_a_person(conn, business_db, params, a_live_step_is_never_taken_for_a_dead_one)
    assert run_step(conn, "close_session", params)[0][0] == "FAILED"
    assert business_state(conn) == before
    assert _operations(conn) == [("DETECT", "SUCCESS", "Detecção de divergências", False), KILLED_APPLY]
    assert conn.execute(
        "SELECT total_erros FROM audit.vw_operacoes_resumo WHERE tipo_operacao = 'BULK_UPDATE'"
    ).fetchall() == [(1,)]
    # closed once: the session closed again (a cleared run) records nothing more
    run_step(conn, "close_session", params)
    assert len(_operations(conn)) == 2


def test_an_attempt_closed_as_interrupted_before_its_transaction_took_it_writes_nothing(conn, airflow_db):
    """Its transaction never started, so it was taken for dead: it must not commit after that
    (a step that committed is never recorded as failed)."""
    from divergencias.operators import attempt_started

    _sales(conn)
    params = open_session(conn, DAY, DAY, dag_run_id="manual__atrasada")
    run_step(conn, "detect_divergences", params)
    late = attempt_started(_dag_task("apply_corrections").audited_step, "apply_corrections", params)
    run_step(conn, "close_session", params)
    before = business_state(conn), _operations(conn)
    with pytest.raises(psycopg.errors.RaiseException, match="já foi registrada como interrompida"):
        run_step(conn, "apply_corrections", {**params, "tentativa": late})
    assert (business_state(conn), _operations(conn)) == before
    assert _operations(conn)[-1] == KILLED_APPLY


def test_a_dead_attempt_no_retry_nor_close_session_saw_is_a_failed_operation_for_the_next_run(conn, airflow_db):
    """The whole worker host died with the run (neither the retry nor close_session ran), or
    the step died after close_session ran: the next run's open_session records it, setting the
    abandoned session FAILED as before."""
    from divergencias.operators import attempt_started

    _sales(conn)
    closed = open_session(conn, DAY, DAY, dag_run_id="manual__fechada")
    run_step(conn, "close_session", closed)
    abandoned = open_session(conn, DAY, DAY, dag_run_id="manual__abandonada")
    attempt_started(_dag_task("detect_divergences").audited_step, "detect_divergences", abandoned)
    conn.execute(
        """UPDATE audit.sessoes_processamento SET inicio_processamento = inicio_processamento - interval '7 hours'
            WHERE id = %s""",
        (abandoned["sessao_id"],),
    )
    attempt_started(_dag_task("apply_corrections").audited_step, "apply_corrections", closed)
    assert _operations(conn) == []

    open_session(conn, DAY, DAY, dag_run_id="manual__seguinte")
    assert conn.execute(
        "SELECT sessao_id, tipo_operacao, status, descricao FROM audit.operacoes ORDER BY sessao_id"
    ).fetchall() == [
        (closed["sessao_id"], "BULK_UPDATE", "FAILED", "FALHA: Correção automática de divergências"),
        (abandoned["sessao_id"], "DETECT", "FAILED", "FALHA: Detecção de divergências"),
    ]
    assert conn.execute("SELECT count(*) FROM audit.etapas_em_andamento").fetchone() == (0,)
