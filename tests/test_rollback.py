"""divergencias_rollback and the audit trail: exact restoration, conflicts, idempotence,
append-only operations and the status history of each divergence."""

from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from devtools.sql_steps import run_session, run_step
from tests.helpers import add_sale, booked, divergences

DAY = date(2026, 11, 10)


def _detect_and_apply(conn, params: dict) -> None:
    """The data steps of session ``params`` (again, as when a cleared run re-runs them)."""
    run_step(conn, "detect_divergences", params)
    run_step(conn, "apply_corrections", params)


def _apply_some(conn) -> int:
    add_sale(conn, "NF_NULL", valor_bonus="5000.00", bonus_dpto=None)
    add_sale(conn, "NF_NAN", valor_bonus="6000.00", bonus_dpto="NaN", trade="100", trade_mkt_dpto=" 1,00 ")
    add_sale(conn, "NF_EDIT", valor_bonus="7000.00", bonus_dpto="700.00")
    return run_session(conn, DAY, DAY)["sessao_id"]


def _operations(conn) -> list[tuple]:
    return conn.execute("SELECT id, tipo_operacao, status, rollback_de FROM audit.operacoes ORDER BY id").fetchall()


def test_rollback_restores_every_field_byte_for_byte_and_reports_conflicts(rollback_dag, conn, smtp):
    sessao_id = _apply_some(conn)
    assert booked(conn, "NF_NAN") == ("6000.00", "100.00")
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '7100.00' WHERE idnfsexterno = 'NF_EDIT'")

    run = rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "lançamento em duplicidade"})
    assert run.state == "success"
    assert booked(conn, "NF_NULL") == (None, "0")
    assert booked(conn, "NF_NAN") == ("NaN", " 1,00 ")
    assert booked(conn, "NF_EDIT") == ("7100.00", "0")

    statuses = {(d["idnfsexterno"], d["campo_afetado"]): d["status_processamento"] for d in divergences(conn)}
    assert statuses == {
        ("NF_NULL", "bonus_dpto"): "ROLLED_BACK",
        ("NF_NAN", "bonus_dpto"): "ROLLED_BACK",
        ("NF_NAN", "trade_mkt_dpto"): "ROLLED_BACK",
        ("NF_EDIT", "bonus_dpto"): "AUTO_APPLIED",
    }
    ops = _operations(conn)
    bulk = next(op for op in ops if op[1] == "BULK_UPDATE")
    undo = next(op for op in ops if op[1] == "ROLLBACK")
    assert bulk[2] == "ROLLED_BACK" and undo[2] == "SUCCESS" and undo[3] == bulk[0]

    (mail,) = smtp.mails
    assert "3 correções desfeitas, 1 conflitos" in mail.message["Subject"]
    text = mail.message.get_body(("plain",)).get_content()
    assert "NF_EDIT" in text and "lançamento em duplicidade" in text

    # twice: nothing more changes; the attempt, which met NF_EDIT's conflict again, is recorded
    snapshot = conn.execute("SELECT md5(string_agg(c::text, '|' ORDER BY 1)) FROM byd.controladoria c").fetchone()
    assert rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "de novo"}).state == "success"
    assert (
        conn.execute("SELECT md5(string_agg(c::text, '|' ORDER BY 1)) FROM byd.controladoria c").fetchone() == snapshot
    )
    *before, attempt = _operations(conn)
    assert before == ops and attempt[1:] == ("ROLLBACK", "SUCCESS", None)

    # and a rolled-back correction is not reopened while its values stay the same
    run_session(conn, DAY, DAY)
    assert booked(conn, "NF_NAN") == ("NaN", " 1,00 ")


def _refusals(conn) -> list[tuple]:
    """Who asked, what and which session, of every failed rollback on the trail."""
    return conn.execute(
        """SELECT usuario, descricao, filtros_aplicados FROM audit.operacoes
            WHERE tipo_operacao = 'ROLLBACK' AND status = 'FAILED' AND sessao_id IS NULL ORDER BY id"""
    ).fetchall()


def _refusal_errors(conn) -> list[str]:
    return [
        erro
        for (erro,) in conn.execute(
            """SELECT erro_mensagem FROM audit.operacoes
                WHERE tipo_operacao = 'ROLLBACK' AND status = 'FAILED' ORDER BY id"""
        ).fetchall()
    ]


def test_rollback_of_an_unknown_session_fails_clearly(rollback_dag, conn):
    """An auditor asking who tried to undo what, and why it was refused, finds the attempt."""
    run = rollback_dag.test(run_conf={"sessao_id": 999, "motivo": "teste"})
    assert run.state == "failed"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["rollback_session"] == "upstream_failed"
    assert _refusals(conn) == [("airflow:dag_test", "FALHA: Rollback da sessão 999: teste", {"sessao_id": 999})]
    (erro,) = _refusal_errors(conn)
    assert "sessao_id=999: sessão não encontrada em audit.sessoes_processamento." in erro
    assert conn.execute(
        "SELECT total_erros FROM audit.vw_operacoes_resumo WHERE tipo_operacao = 'ROLLBACK'"
    ).fetchall() == [(1,)]


def test_rollback_params_are_required(rollback_dag):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        rollback_dag.test(run_conf={"sessao_id": 1})
    with pytest.raises(ParamValidationError):
        rollback_dag.test(run_conf={"sessao_id": "um", "motivo": "x"})


def test_a_session_id_beyond_the_id_column_is_refused_in_the_trigger_form(rollback_dag):
    """audit ids are integer columns: 3000000000 (a typo) passed the form, and the run failed
    at its first task with PostgreSQL's "function audit.verificar_sessao_parada(bigint) does
    not exist", retried twice, instead of telling the user the number is wrong."""
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="sessao_id"):
        rollback_dag.test(run_conf={"sessao_id": 3_000_000_000, "motivo": "teste"})


def test_a_rollback_run_dated_in_the_past_undoes_the_session(rollback_dag, conn, smtp):
    """The trigger form takes a logical date; an auditor may date the undo on the day of the
    session it undoes. Before the DAG's start_date Airflow creates no task and marks the run
    successful: the rollback reported success and undid nothing."""
    import pendulum

    sessao_id = _apply_some(conn)
    run = rollback_dag.test(
        logical_date=pendulum.datetime(2025, 12, 10, 7, tz="America/Sao_Paulo"),
        run_conf={"sessao_id": sessao_id, "motivo": "sessão de dezembro"},
    )
    assert run.state == "success"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["rollback_session"] == "success"
    assert booked(conn, "NF_NAN") == ("NaN", " 1,00 ")


def test_finished_operations_are_append_only(conn):
    _apply_some(conn)
    for statement in (
        "UPDATE audit.operacoes SET registros_afetados = 0 WHERE tipo_operacao = 'BULK_UPDATE'",
        "DELETE FROM audit.operacoes WHERE tipo_operacao = 'DETECT'",
        "UPDATE audit.operacoes SET status = 'ROLLED_BACK', descricao = 'x' WHERE tipo_operacao = 'BULK_UPDATE'",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_every_status_change_is_kept_with_who_when_session_and_operation(rollback_dag, conn):
    sessao_id = _apply_some(conn)
    rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "teste de trilha"})
    (divergencia_id,) = conn.execute(
        "SELECT id FROM audit.divergencias_processadas WHERE idnfsexterno = 'NF_NULL'"
    ).fetchone()
    story = conn.execute(
        """SELECT h.status_anterior, h.status_novo, h.sessao_id, o.tipo_operacao, h.usuario
             FROM audit.historico_divergencias h LEFT JOIN audit.operacoes o ON o.id = h.operacao_id
            WHERE h.divergencia_id = %s ORDER BY h.id""",
        (divergencia_id,),
    ).fetchall()
    assert story == [
        (None, "DETECTED", sessao_id, "DETECT", "airflow:divergencias_diarias"),
        ("DETECTED", "AUTO_APPLIED", sessao_id, "BULK_UPDATE", "airflow:divergencias_diarias"),
        ("AUTO_APPLIED", "ROLLED_BACK", sessao_id, "ROLLBACK", "airflow:dag_test"),
    ]


def _run_with_valor_bonus(conn, valor_bonus: str) -> int:
    conn.execute("UPDATE byd.incentivos SET valor_bonus = %s WHERE idnfsexterno = 'NF1'", (valor_bonus,))
    return run_session(conn, DAY, DAY)["sessao_id"]


def _undo(rollback_dag, sessao_id: int) -> None:
    assert rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "teste"}).state == "success"


def test_a_correction_written_again_later_is_undone_only_after_the_later_one(rollback_dag, conn, smtp):
    """A -> 200, B -> 300, C -> 200 again: the field holds what A wrote, yet undoing A would
    undo B and C too. A is a conflict until C and B are undone, newest first."""
    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    a = run_session(conn, DAY, DAY)["sessao_id"]
    b = _run_with_valor_bonus(conn, "300.00")
    c = _run_with_valor_bonus(conn, "200.00")
    assert booked(conn, "NF1")[0] == "200.00"

    _undo(rollback_dag, a)
    assert booked(conn, "NF1")[0] == "200.00"
    assert "0 correções desfeitas, 1 conflitos" in smtp.mails[-1].message["Subject"]
    assert "corrigido de novo" in smtp.mails[-1].message.get_body(("plain",)).get_content()

    for sessao_id, restored in ((c, "300.00"), (b, "200.00"), (a, "100")):
        _undo(rollback_dag, sessao_id)
        assert booked(conn, "NF1")[0] == restored, sessao_id
    assert {d["status_processamento"] for d in divergences(conn, "NF1")} == {"ROLLED_BACK"}


def test_value_checks_a_correction_closed_are_reopened_by_its_rollback(rollback_dag, conn):
    add_sale(conn, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5")
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    statuses = {d["tipo_divergencia"]: d["status_processamento"] for d in divergences(conn, "NF_NEG")}
    assert statuses == {"TRADE_MARKETING_BONUS": "AUTO_APPLIED", "VALIDACAO_VALOR": "RESOLVED"}

    _undo(rollback_dag, sessao_id)
    assert booked(conn, "NF_NEG")[0] == "-5"
    rows = {d["tipo_divergencia"]: d for d in divergences(conn, "NF_NEG")}
    assert rows["TRADE_MARKETING_BONUS"]["status_processamento"] == "ROLLED_BACK"
    reopened = rows["VALIDACAO_VALOR"]
    assert (reopened["status_processamento"], reopened["processado_em"]) == ("DETECTED", None)
    assert "motivo_resolucao" not in reopened["dados_contextuais"]
    assert "rollback" in reopened["dados_contextuais"]["motivo_reabertura"]
    story = conn.execute(
        """SELECT h.status_anterior, h.status_novo, o.tipo_operacao, h.usuario
             FROM audit.historico_divergencias h JOIN audit.operacoes o ON o.id = h.operacao_id
            WHERE h.divergencia_id = %s ORDER BY h.id""",
        (reopened["id"],),
    ).fetchall()
    assert story[1:] == [
        ("DETECTED", "RESOLVED", "BULK_UPDATE", "airflow:divergencias_diarias"),
        ("RESOLVED", "DETECTED", "ROLLBACK", "airflow:dag_test"),
    ]
    # the next run finds it open and records nothing twice
    run_session(conn, DAY, DAY)
    assert [d["status_processamento"] for d in divergences(conn, "NF_NEG")].count("DETECTED") == 1


def test_a_first_approval_lapses_when_its_divergence_is_closed_and_reopened_by_a_rollback(rollback_dag, conn):
    """controladora approved R$ 60.000,00 for a negative booking (two people needed); another
    person's approval of the rule's correction closed that check, and a rollback undid it and
    reopened the check. The first approval used to wait again, so a third person alone
    confirmed a value given before that correction and its undoing."""
    from divergencias.database import sql_file
    from divergencias.review import decisions

    add_sale(conn, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5.00")
    run_session(conn, DAY, DAY, modo="manual")
    ids = {d["tipo_divergencia"]: d["id"] for d in divergences(conn, "NF_NEG")}
    check = ids["VALIDACAO_VALOR"]
    first = decisions.approve([check], Decimal("60000.00"), None, "controladora")
    assert first["aguardando_segunda_aprovacao"] == [check]
    correction = decisions.approve([ids["TRADE_MARKETING_BONUS"]], None, None, "aprovador")
    assert booked(conn, "NF_NEG")[0] == "1000.00"

    _undo(rollback_dag, correction["sessao_id"])
    assert booked(conn, "NF_NEG")[0] == "-5.00"
    reopened = {d["id"]: d["status_processamento"] for d in divergences(conn, "NF_NEG")}
    assert reopened == {ids["TRADE_MARKETING_BONUS"]: "ROLLED_BACK", check: "DETECTED"}

    again = decisions.approve([check], Decimal("60000.00"), None, "gerente")
    assert (again["aprovadas"], again["aguardando_segunda_aprovacao"]) == ([], [check])
    assert booked(conn, "NF_NEG")[0] == "-5.00"
    situations = conn.execute(sql_file("review/aprovacoes.sql"), {"id": check}).fetchall()
    assert [(row[0], row[-1]) for row in situations] == [
        ("controladora", "sem efeito: divergência reaberta"),
        ("gerente", "aguardando 2ª"),
    ]


def test_an_old_system_session_is_refused_with_the_reason(rollback_dag, conn):
    from airflow.sdk.exceptions import AirflowFailException

    from divergencias import rollback

    (sessao_id,) = conn.execute(
        """INSERT INTO audit.sessoes_processamento (tipo_sessao, status, correcoes_aplicadas)
           VALUES ('DAILY_AUTO', 'COMPLETED', 3) RETURNING id"""
    ).fetchone()
    with pytest.raises(AirflowFailException, match="sistema anterior"):
        rollback.check_request({"sessao_id": sessao_id, "motivo": "desfazer a sessão antiga"}, "auditor")
    run = rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "desfazer a sessão antiga"})
    assert run.state == "failed"
    # nothing undone, and the refused attempt is on the trail (both refusals above)
    assert _refusals(conn) == [
        (
            "airflow:auditor",
            f"FALHA: Rollback da sessão {sessao_id}: desfazer a sessão antiga",
            {"sessao_id": sessao_id},
        ),
        (
            "airflow:dag_test",
            f"FALHA: Rollback da sessão {sessao_id}: desfazer a sessão antiga",
            {"sessao_id": sessao_id},
        ),
    ]
    assert "sistema anterior" in _refusal_errors(conn)[-1]


def test_a_field_left_as_a_conflict_is_undone_once_the_later_correction_is(rollback_dag, conn, smtp):
    """A corrects NF1 and NF2, B corrects NF1 again. Undoing A first undoes NF2 and leaves
    NF1 as a conflict ("undo the later correction first"); once B is undone, undoing A again
    restores NF1 too, although A's operation is already marked ROLLED_BACK."""
    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    add_sale(conn, "NF2", valor_bonus="500.00", bonus_dpto="50")
    a = run_session(conn, DAY, DAY)["sessao_id"]
    b = _run_with_valor_bonus(conn, "300.00")

    _undo(rollback_dag, a)
    assert (booked(conn, "NF1")[0], booked(conn, "NF2")[0]) == ("300.00", "50")
    assert "1 correções desfeitas, 1 conflitos" in smtp.mails[-1].message["Subject"]

    _undo(rollback_dag, b)
    assert booked(conn, "NF1")[0] == "200.00"
    _undo(rollback_dag, a)
    assert "1 correções desfeitas, 0 conflitos" in smtp.mails[-1].message["Subject"]
    assert booked(conn, "NF1")[0] == "100"
    assert {d["status_processamento"] for d in divergences(conn)} == {"ROLLED_BACK"}
    undone_a = conn.execute(
        """SELECT count(*) FROM audit.operacoes r JOIN audit.operacoes o ON o.id = r.rollback_de
            WHERE r.tipo_operacao = 'ROLLBACK' AND o.sessao_id = %s AND o.status = 'ROLLED_BACK'""",
        (a,),
    ).fetchone()[0]
    assert undone_a == 2

    # and once everything is undone, again changes nothing
    operations = _operations(conn)
    _undo(rollback_dag, a)
    assert _operations(conn) == operations
    assert booked(conn, "NF1")[0] == "100"


def test_numeric_columns_of_any_scale_are_restored_and_only_real_edits_conflict(rollback_dag, conn, smtp):
    """The contract: text in production, numeric must work too. A numeric(15,3) column stores
    the correction '7000.00' as 7000.000: that is not somebody's edit."""
    from devtools import demo_source

    add_sale(conn, "NF_NULL", valor_bonus="5000.00", bonus_dpto=None)
    add_sale(conn, "NF_X", valor_bonus="7000.00", bonus_dpto="700.5", trade="10", trade_mkt_dpto="1")
    add_sale(conn, "NF_EDIT", valor_bonus="900.00", bonus_dpto="90")
    conn.execute("DROP VIEW byd.bonus_view")
    conn.execute(
        """ALTER TABLE byd.controladoria ALTER bonus_dpto TYPE numeric(15,3) USING bonus_dpto::numeric,
                                         ALTER trade_mkt_dpto TYPE numeric USING trade_mkt_dpto::numeric"""
    )
    conn.execute("CREATE VIEW" + demo_source.FIXTURE_SQL.read_text().split("CREATE OR REPLACE VIEW")[1])
    texts = "SELECT idnfsexterno, bonus_dpto::text, trade_mkt_dpto::text FROM byd.controladoria ORDER BY 1"
    before = conn.execute(texts).fetchall()
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    assert conn.execute(texts).fetchall() == [
        ("NF_EDIT", "900.000", "0"),
        ("NF_NULL", "5000.000", "0"),
        ("NF_X", "7000.000", "10.00"),
    ]
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = 901 WHERE idnfsexterno = 'NF_EDIT'")

    _undo(rollback_dag, sessao_id)
    assert "3 correções desfeitas, 1 conflitos" in smtp.mails[-1].message["Subject"]
    assert conn.execute(texts).fetchall() == [("NF_EDIT", "901.000", "0"), *before[1:]]


def test_a_session_still_running_is_refused_until_its_run_ends(rollback_dag, conn, smtp):
    """Undoing a run that has not applied yet would undo nothing and report success, and the
    corrections would be applied right after: the run must end first. A session left RUNNING
    for six hours is abandoned (open_session's rule) and can be undone."""
    from airflow.sdk.exceptions import AirflowFailException

    from devtools.sql_steps import open_session, run_step
    from divergencias import rollback

    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    params = open_session(conn, DAY, DAY)
    run_step(conn, "detect_divergences", params)
    with pytest.raises(AirflowFailException, match="em execução"):
        rollback.check_request({"sessao_id": params["sessao_id"], "motivo": "cedo demais"}, "auditor")
    assert rollback_dag.test(run_conf={"sessao_id": params["sessao_id"], "motivo": "cedo demais"}).state == "failed"
    assert not any("Rollback da sessão" in mail.message["Subject"] for mail in smtp.mails)
    # README: a rollback refused because its session is running is a FAILED ROLLBACK operation
    descricao = f"FALHA: Rollback da sessão {params['sessao_id']}: cedo demais"
    assert [row[:2] for row in _refusals(conn)] == [("airflow:auditor", descricao), ("airflow:dag_test", descricao)]
    assert all("em execução (RUNNING)" in erro for erro in _refusal_errors(conn))
    assert conn.execute("SELECT erros_hoje FROM audit.vw_dashboard_monitoramento").fetchone() == (2,)

    run_step(conn, "apply_corrections", params)
    conn.execute(
        """UPDATE audit.sessoes_processamento SET inicio_processamento = inicio_processamento - interval '7 hours'
            WHERE id = %s""",
        (params["sessao_id"],),
    )
    _undo(rollback_dag, params["sessao_id"])
    assert booked(conn, "NF1")[0] == "100"


def test_a_field_a_cleared_run_corrected_twice_is_undone_whole_in_one_rollback(rollback_dag, conn, smtp):
    """A cleared run reuses its session and applies again: NF1 100 -> 200.00, the reference
    changes, then 200.00 -> 300.00, both in one session. The rollback undid the second and
    reported the first as a conflict, leaving 200.00, a value the session wrote; a second
    rollback then changed more. Now one rollback restores 100 and a second changes nothing."""
    from devtools.sql_steps import open_session, run_step

    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    add_sale(conn, "NF2", valor_bonus="500.00", bonus_dpto="50")
    params = open_session(conn, DAY, DAY)
    for valor_bonus in ("200.00", "300.00"):
        conn.execute("UPDATE byd.incentivos SET valor_bonus = %s WHERE idnfsexterno = 'NF1'", (valor_bonus,))
        _detect_and_apply(conn, params)
    run_step(conn, "close_session", params)
    assert (booked(conn, "NF1")[0], booked(conn, "NF2")[0]) == ("300.00", "500.00")

    _undo(rollback_dag, params["sessao_id"])
    assert "3 correções desfeitas, 0 conflitos" in smtp.mails[-1].message["Subject"]
    assert (booked(conn, "NF1")[0], booked(conn, "NF2")[0]) == ("100", "50")
    assert {d["status_processamento"] for d in divergences(conn)} == {"ROLLED_BACK"}
    records = conn.execute(
        """SELECT r.rollback_de, o.status, r.dados_anteriores, r.dados_posteriores
             FROM audit.operacoes r JOIN audit.operacoes o ON o.id = r.rollback_de
            WHERE r.tipo_operacao = 'ROLLBACK' ORDER BY r.rollback_de"""
    ).fetchall()
    assert [status for _, status, _, _ in records] == ["ROLLED_BACK", "ROLLED_BACK"]
    nf1 = [
        (b["valor"], a["valor"])
        for _, _, before, after in records
        for b, a in zip(before, after, strict=True)
        if a["idnfsexterno"] == "NF1"
    ]
    assert nf1 == [("300.00", "100"), ("300.00", "100")]

    operations = _operations(conn)
    _undo(rollback_dag, params["sessao_id"])
    assert "0 correções desfeitas, 0 conflitos" in smtp.mails[-1].message["Subject"]
    assert _operations(conn) == operations
    assert booked(conn, "NF1")[0] == "100"


def test_a_field_edited_between_two_corrections_of_one_session_keeps_the_earlier_as_a_conflict(
    rollback_dag, conn, smtp
):
    """100 -> 200.00 (run), a person writes 250, 250 -> 300.00 (the cleared run): undoing the
    session gives back 250, the person's value, and reports the first correction."""
    from devtools.sql_steps import open_session, run_step

    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    params = open_session(conn, DAY, DAY)
    _detect_and_apply(conn, params)
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '250' WHERE idnfsexterno = 'NF1'")
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '300.00' WHERE idnfsexterno = 'NF1'")
    _detect_and_apply(conn, params)
    run_step(conn, "close_session", params)
    assert booked(conn, "NF1")[0] == "300.00"

    _undo(rollback_dag, params["sessao_id"])
    assert "1 correções desfeitas, 1 conflitos" in smtp.mails[-1].message["Subject"]
    assert booked(conn, "NF1")[0] == "250"
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["AUTO_APPLIED", "ROLLED_BACK"]


def test_a_resolution_names_in_the_history_the_detection_that_resolved_it(conn):
    """Recorded by one run, resolved by the next: the history named the first run's DETECT
    operation (another session's, hours earlier) as what resolved it, so an auditor joining
    the history with audit.operacoes read the wrong run and time."""
    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    first = run_session(conn, DAY, DAY, modo="manual")["sessao_id"]
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '200.00' WHERE idnfsexterno = 'NF1'")
    second = run_session(conn, DAY, DAY, modo="manual")["sessao_id"]
    story = conn.execute(
        """SELECT h.status_novo, h.sessao_id, o.tipo_operacao, o.sessao_id, h.usuario, h.detalhes ->> 'motivo'
             FROM audit.historico_divergencias h JOIN audit.operacoes o ON o.id = h.operacao_id
            ORDER BY h.id"""
    ).fetchall()
    assert story == [
        ("DETECTED", first, "DETECT", first, "airflow:divergencias_diarias", None),
        (
            "RESOLVED",
            second,
            "DETECT",
            second,
            "airflow:divergencias_diarias",
            "a condição não se verifica mais na origem",
        ),
    ]


def test_another_sessions_correction_between_two_of_one_session_is_kept(rollback_dag, conn, smtp):
    """S writes 200.00 over 100; a person writes 150 and run T writes 200.00 again; S, cleared,
    runs again and writes 300.00 over T's 200.00. Undoing S gives back T's 200.00 and keeps
    S's first correction as a conflict: the same text was no proof that nobody wrote between."""
    from devtools.sql_steps import open_session, run_step

    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    s = open_session(conn, DAY, DAY)
    _detect_and_apply(conn, s)
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '150' WHERE idnfsexterno = 'NF1'")
    run_session(conn, DAY, DAY)
    assert booked(conn, "NF1")[0] == "200.00"
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '300.00' WHERE idnfsexterno = 'NF1'")
    _detect_and_apply(conn, s)
    run_step(conn, "close_session", s)
    assert booked(conn, "NF1")[0] == "300.00"

    _undo(rollback_dag, s["sessao_id"])
    assert booked(conn, "NF1")[0] == "200.00"
    assert "1 correções desfeitas, 1 conflitos" in smtp.mails[-1].message["Subject"]
    assert "corrigido de novo" in smtp.mails[-1].message.get_body(("plain",)).get_content()
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == [
        "AUTO_APPLIED",
        "AUTO_APPLIED",
        "ROLLED_BACK",
    ]


def test_a_rollback_that_undid_nothing_is_recorded_with_who_why_and_its_conflicts(rollback_dag, conn, smtp):
    """Every corrected field changed since: nothing is undone, yet an auditor asking who tried
    to undo the session, when and why finds the attempt (0 rows, its conflicts), recorded as a
    rollback that undid something is; the session's correction is not marked ROLLED_BACK."""
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '4500.00' WHERE idnfsexterno = 'NF1'")

    _undo(rollback_dag, sessao_id)
    assert booked(conn, "NF1")[0] == "4500.00"
    assert "0 correções desfeitas, 1 conflitos" in smtp.mails[-1].message["Subject"]
    attempt = """SELECT usuario, origem, descricao, status, registros_afetados, rollback_de,
                        filtros_aplicados, metadata, timestamp_fim IS NOT NULL
                   FROM audit.operacoes WHERE tipo_operacao = 'ROLLBACK' ORDER BY id"""
    recorded = (
        "airflow:dag_test",
        "MANUAL",
        f"Rollback da sessão {sessao_id}: teste",
        "SUCCESS",
        0,
        None,
        {"sessao_id": sessao_id},
        {
            "motivo": "teste",
            "conflitos": 1,
            "campos_em_conflito": [
                {
                    "divergencia_id": divergences(conn, "NF1")[0]["id"],
                    "idnfsexterno": "NF1",
                    "campo": "bonus_dpto",
                    "valor_escrito": "5000.00",
                    "motivo": "campo alterado depois da correção: valor atual preservado",
                }
            ],
        },
        True,
    )
    assert conn.execute(attempt).fetchall() == [recorded]
    assert conn.execute("SELECT status FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'").fetchall() == [
        ("SUCCESS",)
    ]
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["AUTO_APPLIED"]

    # Asking again is another attempt, recorded as such; nothing else changes.
    _undo(rollback_dag, sessao_id)
    assert conn.execute(attempt).fetchall() == [recorded, recorded]
    assert booked(conn, "NF1")[0] == "4500.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["AUTO_APPLIED"]


def test_the_undo_refuses_a_session_a_run_reopened_after_the_request_was_checked(rollback_dag, conn, smtp, monkeypatch):
    """check_request runs before the undo's transaction: a cleared run may reopen the session
    in between. The undo checks again under the data steps' lock, and its refusal is recorded
    as a failed rollback."""
    from divergencias import rollback

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    checked = rollback.check_request

    def check_then_a_run_reopens(params: dict, user: str | None) -> dict:
        request = checked(params, user)
        conn.execute(
            "UPDATE audit.sessoes_processamento SET status = 'RUNNING', fim_processamento = NULL WHERE id = %s",
            (sessao_id,),
        )
        return request

    monkeypatch.setattr(rollback, "check_request", check_then_a_run_reopens)
    # A refusal is not transient: no retry undoes the session behind the back of whoever asked.
    undo = rollback_dag.get_task("rollback_session")
    undo.retries, undo.retry_delay, undo.retry_exponential_backoff = 1, timedelta(0), False
    run = rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "cedo demais"})
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["check_request"] == "success" and states["rollback_session"] == "failed"
    assert booked(conn, "NF1")[0] == "5000.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["AUTO_APPLIED"]
    ((usuario, descricao, erro),) = conn.execute(
        "SELECT usuario, descricao, erro_mensagem FROM audit.operacoes WHERE status = 'FAILED'"
    ).fetchall()
    assert (usuario, descricao) == ("airflow:dag_test", f"FALHA: Rollback da sessão {sessao_id}: cedo demais")
    assert (
        f"sessao_id={sessao_id}: a sessão ainda está em execução (RUNNING); aguarde o fim da execução "
        "e dispare o rollback de novo." in erro
    )


def test_a_rollback_asked_for_right_after_an_upgrade_migrates_audit_first(rollback_dag, conn, smtp):
    """Only the daily run migrated audit: a rollback between an upgrade and the next daily run
    called the newest migration's functions before they existed, and failed on them."""
    sessao_id = _apply_some(conn)
    conn.execute(
        "DROP FUNCTION audit.verificar_sessao_parada(integer);"
        "DROP FUNCTION audit.sessao_em_execucao(audit.sessoes_processamento);"
        "DELETE FROM audit.schema_migracoes WHERE versao = '047_rollback_sessao_parada.sql'"
    )

    run = rollback_dag.test(run_conf={"sessao_id": sessao_id, "motivo": "logo após a atualização"})
    assert run.state == "success"
    assert booked(conn, "NF_NULL") == (None, "0")
    assert conn.execute(
        "SELECT count(*) FROM audit.schema_migracoes WHERE versao = '047_rollback_sessao_parada.sql'"
    ).fetchone() == (1,)
