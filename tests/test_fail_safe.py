"""Failing safe (issue 7, points 2–11): broken settings, a broken source, ambiguous rows,
locks and failures stop or hold back the write, with a message naming what was wrong."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import psycopg
import pytest

from devtools.sql_steps import open_session, run_session, run_step
from divergencias.preparation import InvalidSettings, read_required_settings
from divergencias.report import write_report
from divergencias.settings import REQUIRED_SETTINGS
from tests.helpers import add_sale, booked, divergences

DAY = date(2026, 11, 10)
ONE_DAY = {"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}


def _new_version(conn: psycopg.Connection, key: str, value: str) -> None:
    """A controller's change: a new versao of the key's row, the old one kept."""
    conn.execute(
        """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, versao, ativo, criado_por)
           SELECT chave, %(valor)s, tipo_valor, max(versao) + 1, true, 'teste'
             FROM audit.configuracoes_sistema WHERE chave = %(chave)s GROUP BY chave, tipo_valor""",
        {"chave": key, "valor": value},
    )


def _deactivate(conn: psycopg.Connection, key: str) -> None:
    conn.execute("UPDATE audit.configuracoes_sistema SET ativo = false WHERE chave = %s", (key,))


def _sessions(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT id, status FROM audit.sessoes_processamento ORDER BY id").fetchall()


# --- 2. configuration fails closed -------------------------------------------------------


@pytest.mark.parametrize("key", REQUIRED_SETTINGS)
def test_a_deactivated_setting_is_named_and_nothing_reads_it_as_null(conn, key):
    _deactivate(conn, key)
    with pytest.raises(InvalidSettings, match=f'"{key}" ausente ou inativa'):
        read_required_settings(conn)


@pytest.mark.parametrize("key", REQUIRED_SETTINGS)
def test_a_setting_that_fails_its_regex_is_named_with_its_value(conn, key):
    _new_version(conn, key, "abc")
    with pytest.raises(InvalidSettings, match=f"\"{key}\" inválida.*'abc'"):
        read_required_settings(conn)


def _set_regex(conn: psycopg.Connection, key: str, regex: str | None) -> None:
    """What a controller (or a DBA who created the key before the system) may leave in the table."""
    conn.execute("UPDATE audit.configuracoes_sistema SET validacao_regex = %s WHERE chave = %s", (regex, key))


@pytest.mark.parametrize("key", REQUIRED_SETTINGS)
def test_a_setting_whose_own_regex_is_invalid_is_named(conn, key):
    """An unbalanced validacao_regex used to surface as PostgreSQL's bare 'invalid regular
    expression', naming no key (and, not being InvalidSettings, retried as if transient)."""
    _set_regex(conn, key, r"^(\d+$")
    with pytest.raises(InvalidSettings, match=f'"{key}" inválida.*validacao_regex'):
        read_required_settings(conn)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tolerancia_valor", "0,01"),
        ("limite_auto_aplicacao", "95%"),
        ("limite_outlier", "100.000,00"),
        ("dias_retroativos", "31 dias"),
        ("pendentes_nivel_atencao", "10.5"),
        ("pendentes_nivel_critico", "vinte"),
        ("limite_dupla_aprovacao", "50.000,00"),
        ("limite_espera_bloqueio_s", "5min"),
    ],
)
@pytest.mark.parametrize("regex", [None, ".*"], ids=["no-regex", "permissive-regex"])
def test_a_setting_the_run_cannot_read_is_refused_whatever_its_regex(conn, key, value, regex):
    """With no validacao_regex on any version (a key created before the system seeded it) or a
    loosened one (a pt-BR '0,01' allowed), such a value passed the check and the run opened a
    session, then failed inside a data step casting it."""
    _set_regex(conn, key, regex)
    _new_version(conn, key, value)
    with pytest.raises(InvalidSettings, match=f'"{key}" inválida.*{value!r}'):
        read_required_settings(conn)


def test_a_setting_without_any_regex_still_reads_when_well_formed(conn):
    _set_regex(conn, "tolerancia_valor", None)
    _new_version(conn, "tolerancia_valor", "0.05")
    assert read_required_settings(conn)["tolerancia_valor"] == "0.05"


def test_the_sql_steps_refuse_a_missing_threshold_instead_of_applying_everything(conn):
    """Today's failure: with limite_auto_aplicacao deactivated every correction was applied."""
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    params = open_session(conn, DAY, DAY)
    run_step(conn, "detect_divergences", params)
    _deactivate(conn, "limite_auto_aplicacao")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="limite_auto_aplicacao"):
        run_step(conn, "apply_corrections", params)
    assert divergences(conn, "NF1")[0]["status_processamento"] == "DETECTED"
    _deactivate(conn, "limite_outlier")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="limite_outlier"):
        run_step(conn, "detect_divergences", params)
    assert booked(conn, "NF1") == ("4000.00", "0")


def test_a_broken_setting_fails_the_dag_at_its_first_task_writing_nothing(dag, conn, smtp, output_dir):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    _new_version(conn, "limite_outlier", "cem mil")
    run = dag.test(run_conf=ONE_DAY)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["validate_and_migrate"] == "failed"
    assert _sessions(conn) == [] and divergences(conn) == []
    assert booked(conn, "NF1") == ("4000.00", "0")
    (alert,) = smtp.mails
    assert "limite_outlier" in alert.message.get_body(("plain",)).get_content()


def test_a_retroactive_window_over_366_days_fails_the_scheduled_run_at_once_writing_nothing(conn):
    from airflow.sdk.exceptions import AirflowFailException

    from divergencias.preparation import prepare_run

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    _new_version(conn, "dias_retroativos", "3100")
    # not retried: the same setting would fail the same way
    with pytest.raises(AirflowFailException, match="dias_retroativos=3100"):
        prepare_run({}, "scheduled", datetime(2026, 11, 28, 10, 0).astimezone(), "scheduled__teste")
    assert _sessions(conn) == [] and divergences(conn) == []
    assert booked(conn, "NF1") == ("4000.00", "0")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ENVIRONMENT", "producao"),
        ("DIVERGENCIAS_ANEXO_MAX_MB", "dez"),
        ("DIVERGENCIAS_ANEXO_MAX_MB", "nan"),
        ("DIVERGENCIAS_ANEXO_MAX_MB", "inf"),
        ("DIVERGENCIAS_ANEXO_MAX_MB", "-1"),
        ("DIVERGENCIAS_OUTPUT_DIR", "sftp2://relatorios"),
        ("NOTIFICATION_RECIPIENTS", "controladoria@teste.local gerente@teste.local"),
        ("NOTIFICATION_RECIPIENTS", "controladoria@teste.local, controladoria"),
    ],
)
def test_a_malformed_variable_fails_the_run_at_once_naming_it(conn, monkeypatch, variable, value):
    """A Variable the run reads is checked by the first task, like the settings, and not
    retried: the same value fails the same way. The output folder and the attachment limit
    were first read after the corrections were committed ('nan' MB failed naming no Variable,
    '-1' silently never attached the CSV), a mistyped environment was retried twice, and
    recipients 'a@x b@x' went to a alone."""
    from airflow.sdk.exceptions import AirflowFailException

    from divergencias.preparation import prepare_run

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    monkeypatch.setenv(f"AIRFLOW_VAR_{variable}", value)
    with pytest.raises(AirflowFailException, match=f"(?i){variable}.*{value}"):
        prepare_run(ONE_DAY, "manual", datetime(2026, 11, 28, 10, 0).astimezone(), "manual__teste")
    assert _sessions(conn) == [] and divergences(conn) == []


def test_an_attention_level_above_the_critical_one_fails_the_run_at_once_writing_nothing(conn):
    """BAIXA below atencao, ATENÇÃO up to critico, CRÍTICO above (contract §6): with atencao
    above critico a queue between them was BAIXA and CRÍTICO at once, whatever the order."""
    from airflow.sdk.exceptions import AirflowFailException

    from divergencias.preparation import prepare_run

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    _new_version(conn, "pendentes_nivel_atencao", "30")
    with pytest.raises(InvalidSettings, match='"pendentes_nivel_atencao" \\(30\\).*"pendentes_nivel_critico" \\(20\\)'):
        read_required_settings(conn)
    with pytest.raises(AirflowFailException, match="pendentes_nivel_atencao.*30.*pendentes_nivel_critico.*20"):
        prepare_run({}, "scheduled", datetime(2026, 11, 28, 10, 0).astimezone(), "scheduled__teste")
    assert _sessions(conn) == [] and divergences(conn) == []
    assert booked(conn, "NF1") == ("4000.00", "0")


@pytest.mark.parametrize(("atencao", "critico"), [("20", "20"), ("9", "20"), ("0", "0"), ("9", "10")])
def test_an_attention_level_up_to_the_critical_one_is_accepted(conn, atencao, critico):
    _new_version(conn, "pendentes_nivel_atencao", atencao)
    _new_version(conn, "pendentes_nivel_critico", critico)
    values = read_required_settings(conn)
    assert (values["pendentes_nivel_atencao"], values["pendentes_nivel_critico"]) == (atencao, critico)


def test_levels_are_compared_as_numbers_not_as_text(conn):
    _new_version(conn, "pendentes_nivel_atencao", "9")
    _new_version(conn, "pendentes_nivel_critico", "10")
    assert read_required_settings(conn)["pendentes_nivel_atencao"] == "9"  # "9" > "10" as text
    _new_version(conn, "pendentes_nivel_atencao", "100")
    with pytest.raises(InvalidSettings, match='"pendentes_nivel_atencao" \\(100\\)'):
        read_required_settings(conn)


def test_a_comma_decimal_setting_without_regex_fails_the_dag_before_opening_a_session(dag, conn, smtp, output_dir):
    """It used to pass validate_and_migrate, open a session, then fail detect_divergences on
    '0,01'::numeric three times (each retry one more FAILED operation), naming no key."""
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    _set_regex(conn, "tolerancia_valor", None)
    _new_version(conn, "tolerancia_valor", "0,01")
    run = dag.test(run_conf=ONE_DAY)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["validate_and_migrate"] == "failed"
    assert _sessions(conn) == [] and divergences(conn) == []
    assert conn.execute("SELECT count(*) FROM audit.operacoes").fetchone() == (0,)
    (alert,) = smtp.mails
    assert "tolerancia_valor" in alert.message.get_body(("plain",)).get_content()


# --- 3. a broken source fails loudly ------------------------------------------------------


def _open_queue(conn: psycopg.Connection, sales: int) -> None:
    for n in range(sales):
        add_sale(conn, f"NF{n:03d}", valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, DAY, DAY, modo="manual")


def _open_count(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM audit.divergencias_processadas WHERE status_processamento = 'DETECTED'"
    ).fetchone()[0]


def test_an_empty_view_for_a_period_with_open_divergences_stops_before_writing(conn):
    _open_queue(conn, 3)
    conn.execute("TRUNCATE byd.vendas")
    with pytest.raises(psycopg.errors.DataException, match="nenhuma linha no período, que tem 3 divergência"):
        run_session(conn, DAY, DAY)
    assert _open_count(conn) == 3
    run_session(conn, DAY, DAY, parametros={"confirmar_resolucao_em_massa": True})
    assert _open_count(conn) == 0


# Contract §2: more than half of the open queue, however small the queue.
@pytest.mark.parametrize(("queue", "gone"), [(30, 20), (3, 2)])
def test_resolving_most_of_the_queue_as_not_found_needs_confirmation(conn, queue, gone):
    _open_queue(conn, queue)
    conn.execute("DELETE FROM byd.vendas WHERE idnfsexterno < %s", (f"NF{gone:03d}",))
    with pytest.raises(psycopg.errors.DataException, match=f"{gone} de {queue} divergências abertas"):
        run_session(conn, DAY, DAY)
    assert _open_count(conn) == queue
    run_session(conn, DAY, DAY, modo="manual", parametros={"confirmar_resolucao_em_massa": True})
    assert _open_count(conn) == queue - gone


def test_a_few_sales_gone_are_resolved_without_confirmation(conn):
    _open_queue(conn, 30)
    conn.execute("DELETE FROM byd.vendas WHERE idnfsexterno < 'NF010'")
    run_session(conn, DAY, DAY, modo="manual")
    assert _open_count(conn) == 20


# --- 4. duplicate sales in the view ---------------------------------------------------------


def test_a_sale_whose_view_rows_disagree_is_never_auto_applied(conn):
    add_sale(conn, "NF_DUP", valor_bonus="300.00", bonus_dpto="100.00")
    conn.execute("ALTER TABLE byd.incentivos DROP CONSTRAINT incentivos_pkey")
    conn.execute("INSERT INTO byd.incentivos VALUES ('NF_DUP', '900.00', '0', 'SIM')")
    for _ in range(3):
        run_session(conn, DAY, DAY)
        assert booked(conn, "NF_DUP") == ("100.00", "0")
    (d,) = divergences(conn, "NF_DUP")
    assert d["status_processamento"] == "DETECTED" and d["dados_contextuais"]["linhas_conflitantes"] == 2
    assert "repetida em byd.bonus_view" in d["dados_contextuais"]["motivo_nao_aplicada"]
    log = conn.execute("SELECT log_completo FROM audit.sessoes_processamento ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "1 venda(s) com linhas divergentes em byd.bonus_view (NF_DUP)" in log


# --- 5. exact reopen -------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["REJECTED", "ROLLED_BACK"])
def test_a_closed_divergence_on_a_value_with_three_decimals_is_not_reopened(conn, status):
    add_sale(conn, "NF1", valor_bonus="5000.005", bonus_dpto="4000.00")
    run_session(conn, DAY, DAY, modo="manual")
    conn.execute(
        "UPDATE audit.divergencias_processadas SET status_processamento = %s, processado_em = now(), "
        "processado_por = 'controller' WHERE idnfsexterno = 'NF1'",
        (status,),
    )
    run_session(conn, DAY, DAY)
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == [status]
    assert booked(conn, "NF1") == ("4000.00", "0")
    # a new source value is a new divergence
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '5000.006' WHERE idnfsexterno = 'NF1'")
    run_session(conn, DAY, DAY, modo="manual")
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == [status, "DETECTED"]


# --- 6. any past period runs ---------------------------------------------------------------


def test_a_run_dated_before_2026_processes_its_period(dag, conn, smtp, output_dir):
    from zoneinfo import ZoneInfo

    add_sale(conn, "NF_2025", valor_bonus="5000.00", bonus_dpto="4000.00", dta_processamento=datetime(2025, 12, 19))
    moment = datetime(2025, 12, 20, 7, 0, tzinfo=ZoneInfo("America/Sao_Paulo"))
    run = dag.test(logical_date=moment)
    assert run.state == "success"
    assert {ti.task_id for ti in run.get_task_instances()} >= {"open_session", "detect_divergences"}
    session = conn.execute("SELECT data_inicio, data_fim, status FROM audit.sessoes_processamento").fetchone()
    assert session == (date(2025, 11, 18), date(2025, 12, 19), "COMPLETED")
    assert booked(conn, "NF_2025")[0] == "5000.00"


def test_no_task_of_the_daily_dag_has_a_start_date(dag):
    assert dag.start_date is None
    assert all(task.start_date is None for task in dag.tasks)


# --- 7. waiting on a lock fails with a reason --------------------------------------------------


@contextmanager
def _a_person_holding_the_booked_row(business_db: str, idnfsexterno: str) -> Iterator[None]:
    """Someone's open transaction on the sale's row of byd.controladoria, for the block's length."""
    holding = threading.Event()
    release = threading.Event()

    def hold_the_row() -> None:
        with psycopg.connect(business_db) as person:
            person.execute("SELECT * FROM byd.controladoria WHERE idnfsexterno = %s FOR UPDATE", (idnfsexterno,))
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        release.set()
        holder.join()


def test_a_person_holding_the_booked_row_makes_apply_fail_with_a_reason(dag, conn, business_db, smtp, output_dir):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    _new_version(conn, "limite_espera_bloqueio_s", "1")
    with _a_person_holding_the_booked_row(business_db, "NF1"):
        run = dag.test(run_conf=ONE_DAY)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["detect_divergences"] == "success" and states["apply_corrections"] == "failed"
    (erro,) = conn.execute(
        "SELECT erro_mensagem FROM audit.operacoes WHERE status = 'FAILED' AND tipo_operacao = 'BULK_UPDATE'"
    ).fetchone()
    assert "lock timeout" in erro
    assert booked(conn, "NF1") == ("4000.00", "0")
    alert = smtp.mails[0].message.get_body(("plain",)).get_content()
    assert "limite_espera_bloqueio_s" in alert


def test_a_person_holding_a_corrected_row_makes_the_rollback_fail_with_a_reason(rollback_dag, conn, business_db, smtp):
    """The rollback waits like the data steps; it used to fail with psycopg's bare "canceling
    statement due to lock timeout", which names neither the setting nor what to do."""
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    _new_version(conn, "limite_espera_bloqueio_s", "1")
    with _a_person_holding_the_booked_row(business_db, "NF1"):
        run = rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "lançamento em duplicidade"})
    assert run.state == "failed"
    assert booked(conn, "NF1")[0] == "5000.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["AUTO_APPLIED"]
    alert = smtp.mails[0].message.get_body(("plain",)).get_content()
    assert "rollback_session" in alert and "limite_espera_bloqueio_s" in alert, alert
    # The attempt is in the audit trail as a failed rollback, with who asked, why and the error,
    # and the dashboards count it; the correction it could not undo stays SUCCESS.
    ((usuario, origem, descricao, filtros, erro),) = conn.execute(
        """SELECT usuario, origem, descricao, filtros_aplicados, erro_mensagem
             FROM audit.operacoes WHERE tipo_operacao = 'ROLLBACK' AND status = 'FAILED'"""
    ).fetchall()
    assert (usuario, origem, filtros) == ("airflow:dag_test", "MANUAL", {"sessao_id": sessao_id})
    assert descricao == f"FALHA: Rollback da sessão {sessao_id}: lançamento em duplicidade"
    assert "lock timeout" in erro
    assert conn.execute(
        "SELECT sum(total_erros) FROM audit.vw_operacoes_resumo WHERE tipo_operacao = 'ROLLBACK'"
    ).fetchone() == (1,)
    assert conn.execute("SELECT status FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'").fetchall() == [
        ("SUCCESS",)
    ]


def test_apply_deadlocked_with_a_person_editing_two_sales_fails_with_a_reason(dag, conn, business_db, smtp, output_dir):
    """Someone's transaction edits NF2, then NF1, while apply locks NF1 and waits for NF2:
    PostgreSQL cancels apply, the party waiting longer. The alert gave psycopg's bare "deadlock
    detected" with process and transaction numbers, saying neither what was in the way nor that
    a retry would do."""
    for name in ("NF1", "NF2"):
        add_sale(conn, name, valor_bonus="5000.00", bonus_dpto="4000.00")
    holding = threading.Event()

    def edit_both() -> None:
        with psycopg.connect(business_db, autocommit=True) as watcher, psycopg.connect(business_db) as person:
            person.execute("UPDATE byd.controladoria SET bonus_dpto = '4100.00' WHERE idnfsexterno = 'NF2'")
            holding.set()
            while not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]:
                time.sleep(0.05)
            person.execute("UPDATE byd.controladoria SET bonus_dpto = '4200.00' WHERE idnfsexterno = 'NF1'")
            person.commit()

    editor = threading.Thread(target=edit_both, daemon=True)
    editor.start()
    assert holding.wait(10)
    run = dag.test(run_conf=ONE_DAY)
    editor.join(30)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["detect_divergences"] == "success" and states["apply_corrections"] == "failed"
    assert booked(conn, "NF1")[0] == "4200.00" and booked(conn, "NF2")[0] == "4100.00"
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE dados_posteriores IS NOT NULL").fetchone() == (0,)
    alert = smtp.mails[0].message.get_body(("plain",)).get_content()
    assert "byd.controladoria" in alert and "tentada de novo" in alert, alert


# --- 8. failures are recorded ----------------------------------------------------------------


def test_a_step_stopped_by_its_timeout_is_recorded_as_failed(dag, conn, business_db, smtp, output_dir):
    """Airflow's task timeout is not an Exception: the failure must be recorded all the same."""
    from datetime import timedelta

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    dag.get_task("detect_divergences").execution_timeout = timedelta(seconds=2)
    with psycopg.connect(business_db) as other_run:
        other_run.execute("SELECT pg_advisory_xact_lock(7420261129)")  # the data steps' writer lock
        run = dag.test(run_conf=ONE_DAY)
    assert run.state == "failed"
    (tipo, erro) = conn.execute(
        "SELECT tipo_operacao, erro_mensagem FROM audit.operacoes WHERE status = 'FAILED'"
    ).fetchone()
    assert tipo == "DETECT" and "Timeout" in erro
    assert conn.execute("SELECT status, erros_encontrados FROM audit.sessoes_processamento").fetchone() == (
        "FAILED",
        1,
    )


def test_a_failed_detection_leaves_a_failed_operation_the_dashboard_counts(dag, conn, smtp, output_dir):
    _open_queue(conn, 3)
    conn.execute("TRUNCATE byd.vendas")
    run = dag.test(run_conf=ONE_DAY)
    assert run.state == "failed"
    tipo, usuario, erro, sessao = conn.execute(
        "SELECT tipo_operacao, usuario, erro_mensagem, sessao_id FROM audit.operacoes WHERE status = 'FAILED'"
    ).fetchone()
    assert (tipo, usuario) == ("DETECT", "airflow:divergencias_diarias") and "nenhuma linha no período" in erro
    # one step failed; the three after it never ran
    assert conn.execute(
        "SELECT status, erros_encontrados FROM audit.sessoes_processamento WHERE id = %s", (sessao,)
    ).fetchone() == ("FAILED", 1)
    assert conn.execute(
        "SELECT sum(total_erros) FROM audit.vw_operacoes_resumo WHERE tipo_operacao = 'DETECT'"
    ).fetchone() == (1,)
    assert conn.execute("SELECT erros_hoje FROM audit.vw_dashboard_monitoramento").fetchone() == (1,)
    assert _open_count(conn) == 3
    # no summary for a session whose data work failed: the failure email says it
    subjects = [mail.message["Subject"] for mail in smtp.mails]
    assert len(subjects) == 1 and "FALHA em divergencias_diarias.detect_divergences" in subjects[0]


# --- 9. the summary goes out after every run, PARTIAL included ---------------------------------


def test_when_the_csv_fails_the_summary_still_goes_out_with_the_counts(dag, conn, smtp, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the report folder should be")
    monkeypatch.setenv("AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR", str(blocker / "relatorios"))
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    run = dag.test(run_conf=ONE_DAY)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["export_csv"] == "failed" and states["email_summary"] == "success"
    status, aplicadas, erros = conn.execute(
        "SELECT status, correcoes_aplicadas, erros_encontrados FROM audit.sessoes_processamento"
    ).fetchone()
    assert (status, aplicadas, erros) == ("PARTIAL", 1, 1)
    summaries = [m.message for m in smtp.mails if "FALHA" not in m.message["Subject"]]
    (summary,) = summaries
    assert "1 nova, 1 corrigida, 0 pendentes" in summary["Subject"]
    text = summary.get_body(("plain",)).get_content()
    assert "O relatório CSV não foi gerado nesta execução" in text
    assert list(summary.iter_attachments()) == []


# --- 10. spreadsheet safety ------------------------------------------------------------------


def _report_of_a_manual_run(conn, tmp_path) -> list[dict[str, str]]:
    """The CSV rows of a manual run over DAY, as a spreadsheet would read them."""
    params = run_session(conn, DAY, DAY, modo="manual")
    path = tmp_path / "r.csv"
    write_report(conn, params["sessao_id"], path)
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_text_a_spreadsheet_would_run_is_neutralised_and_numbers_stay_numbers(conn, tmp_path):
    add_sale(conn, '=HYPERLINK("http://x")', valor_bonus="5000.00", bonus_dpto="=1+1")
    add_sale(conn, "NF_AT", valor_bonus="@SUM(A1)", bonus_dpto="5000.00")
    add_sale(conn, "NF_PLUS", trade="+55 11 5555", trade_mkt_dpto="0")
    add_sale(conn, "NF_TAB", trade="\tcmd", trade_mkt_dpto="-abc")
    add_sale(conn, "NF_NEG", valor_bonus="-500.00", bonus_dpto="-500.00")
    rows = _report_of_a_manual_run(conn, tmp_path)
    originals = {(r["idnfsexterno"], r["campo_afetado"]): r["valor_original"] for r in rows}
    assert originals[('\'=HYPERLINK("http://x")', "bonus_dpto")] == "'=1+1"
    assert originals[("NF_AT", "valor_bonus")] == "'@SUM(A1)"
    assert originals[("NF_PLUS", "trade")] == "'+55 11 5555"
    assert originals[("NF_TAB", "trade")] == "'\tcmd"
    assert originals[("NF_TAB", "trade_mkt_dpto")] == "'-abc"
    negative = [r for r in rows if r["idnfsexterno"] == "NF_NEG" and r["campo_afetado"] == "valor_bonus"]
    assert negative[0]["valor_original"] == "-500.00" and negative[0]["valor_anterior"] == "-500.00"
    for row in rows:
        for column in ("id", "sessao_id", "confidence_score"):
            float(row[column])


def test_a_formula_behind_leading_spaces_or_a_quote_is_neutralised_too(conn, tmp_path):
    """Spreadsheets that trim a cell or drop a stray quote on import (LibreOffice's "trim
    spaces", "quoted field as text" off) run what follows: " =1+1" is a formula there."""
    hidden = {
        "NF_SPACE": " =1+1",
        "NF_NBSP": "\u00a0=1+1",
        "NF_QUOTE": '"=HYPERLINK("http://x")',
        "NF_APOSTROPHE_SPACE": "' @SUM(A1)",
        "NF_LF": "\n=1+1",
        "NF_MINUS": "  -2+3+cmd|' /C calc'!A0",
    }
    for nf, text in hidden.items():
        add_sale(conn, nf, valor_bonus="5000.00", bonus_dpto=text)
    add_sale(conn, " =HYPERLINK(1)", valor_bonus="5000.00", bonus_dpto="-500.00")
    add_sale(conn, "NF_NEG", valor_bonus="5000.00", bonus_dpto=" -500.00")
    rows = _report_of_a_manual_run(conn, tmp_path)
    originals = {(r["idnfsexterno"], r["tipo_divergencia"]): r["valor_original"] for r in rows}
    for nf, text in hidden.items():
        assert originals[(nf, "VALOR_INVALIDO")] == "'" + text, nf
    assert ("' =HYPERLINK(1)", "VALIDACAO_VALOR") in originals
    assert originals[("NF_NEG", "VALIDACAO_VALOR")] == " -500.00"  # a number the money rules read


def test_a_money_text_a_spreadsheet_reads_as_a_formula_is_neutralised(conn, tmp_path):
    """Our parser reads "-R$5" as -5, but a spreadsheet reads =-R$5 (a reference to cell R5):
    only a plain number may keep its leading minus."""
    formulas = {
        "NF_R5": "-R$5",
        "NF_R5_CENTS": "-R$5,00",
        "NF_R_SPACE": "-R$ 1.234,56",
        "NF_PLUS": "+R$ 1.234,56",
        "NF_THOUSANDS": "-1.234,56",
    }
    for nf, text in formulas.items():
        add_sale(conn, nf, valor_bonus="5000.00", bonus_dpto=text)
    numbers = {"NF_DOT": "-5.00", "NF_BIG": "-1234.56", "NF_COMMA": "-10,50", "NF_INT": "-7"}
    for nf, text in numbers.items():
        add_sale(conn, nf, valor_bonus="5000.00", bonus_dpto=text)
    add_sale(conn, "NF_POS", valor_bonus="18000.00", bonus_dpto="17000.00")
    numbers["NF_POS"] = "17000.00"
    rows = _report_of_a_manual_run(conn, tmp_path)
    originals = {r["idnfsexterno"]: r["valor_original"] for r in rows if r["campo_afetado"] == "bonus_dpto"}
    for nf, text in formulas.items():
        assert originals[nf] == "'" + text, nf
    for nf, text in numbers.items():
        assert originals[nf] == text, nf
    previous = {r["idnfsexterno"]: r["valor_anterior"] for r in rows if r["campo_afetado"] == "bonus_dpto"}
    assert (previous["NF_DOT"], previous["NF_BIG"], previous["NF_R5"]) == ("-5.00", "-1234.56", "-5.00")


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("-5.00", "-5.00"),
        ("-1234.56", "-1234.56"),
        ("17000.00", "17000.00"),
        (" -500.00", " -500.00"),
        ("-10,50", "-10,50"),
        ("-R$5", "'-R$5"),
        ("-R$5,00", "'-R$5,00"),
        ("+R$ 1.234,56", "'+R$ 1.234,56"),
        ("-1.234,56", "'-1.234,56"),
        ("-5.00.1", "'-5.00.1"),
        ("-5e3", "'-5e3"),
        ("-\u0661", "'-\u0661"),  # an Arabic-Indic one: not a digit to a spreadsheet
        ("-5\n=1+1", "'-5\n=1+1"),
        ('"-5', "'\"-5"),
        (None, None),
    ],
)
def test_only_a_plain_number_keeps_its_leading_minus(conn, text, cell):
    assert (
        conn.execute("SELECT audit.texto_planilha(%s)", (text,)).fetchone()[0] == cell
    )  # --- 11. local time ---------------------------------------------------------------------------


def _database_default(dsn: str, setting: str, value: str) -> None:
    """A server configured differently from ours: the database's default for new sessions."""
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(setting), psycopg.sql.Literal(value)
            )
        )


def test_audit_times_and_the_dashboard_are_sao_paulo_whatever_the_server_zone(business_db):
    _database_default(business_db, "timezone", "Asia/Tokyo")
    with psycopg.connect(business_db, autocommit=True) as conn:
        assert conn.execute("SHOW timezone").fetchone() == ("Asia/Tokyo",)
        add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
        run_session(conn, DAY, DAY)
        lag = conn.execute(
            """SELECT max(abs(extract(epoch FROM (now() AT TIME ZONE 'America/Sao_Paulo') - t)))
                 FROM (SELECT inicio_processamento AS t FROM audit.sessoes_processamento
                       UNION ALL SELECT fim_processamento FROM audit.sessoes_processamento
                       UNION ALL SELECT detectado_em FROM audit.divergencias_processadas
                       UNION ALL SELECT processado_em FROM audit.divergencias_processadas
                       UNION ALL SELECT timestamp_inicio FROM audit.operacoes) AS x"""
        ).fetchone()[0]
        assert lag < 300
        today, runs = conn.execute(
            "SELECT data_consulta, execucoes_hoje FROM audit.vw_dashboard_monitoramento"
        ).fetchone()
        assert today == conn.execute("SELECT (now() AT TIME ZONE 'America/Sao_Paulo')::date").fetchone()[0]
        assert runs == 1


def test_the_report_is_named_with_iso_dates_whatever_the_server_datestyle(business_db):
    _database_default(business_db, "datestyle", "SQL, DMY")
    with psycopg.connect(business_db, autocommit=True) as conn:
        assert conn.execute("SELECT date '2026-11-10'::text").fetchone() == ("10/11/2026",)
        params = open_session(conn, date(2026, 11, 1), DAY)
    assert (params["data_inicio"], params["data_fim"]) == ("2026-11-01", "2026-11-10")
