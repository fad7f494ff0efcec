"""The writing side of the review API under attack: one person trying to be both approvers,
decisions racing each other, a run or a rollback, edits between the two approvals, retried
requests and hostile bodies. Real api-server app, real PostgreSQL."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook

from devtools.sql_steps import run_session
from divergencias.database import sql_file
from tests.api.test_review_api import API, DAY, approve, detect, status_of
from tests.helpers import add_sale, booked, divergences


def login(client, passwords: dict[str, str], username: str, password_of: str) -> int | str:
    """A fresh token for ``username`` (a second session), or the login's status code."""
    response = client.post("/auth/token", json={"username": username, "password": passwords[password_of]})
    return response.json()["access_token"] if response.status_code == 201 else response.status_code


def wait_for_lock_waiters(db: psycopg.Connection, count: int) -> None:
    deadline = time.monotonic() + 20
    waiting = 0
    while time.monotonic() < deadline:
        waiting = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} request(s) should be waiting on locks, {waiting} are")


def approvals(db: psycopg.Connection, divergence_id: int) -> list[tuple]:
    return db.execute(
        "SELECT usuario, valor::text, operacao_id IS NOT NULL FROM audit.aprovacoes WHERE divergencia_id = %s"
        " ORDER BY id",
        (divergence_id,),
    ).fetchall()


def test_another_spelling_of_a_username_is_not_another_approver(client, passwords, db):
    """Four eyes compares usernames as Airflow hands them out: the login must not let one
    person in under a second spelling of their name."""
    for spelling in ("Controladora", "CONTROLADORA", " controladora", "controladora "):
        assert login(client, passwords, spelling, "controladora") == 401, spelling


def test_one_person_in_two_sessions_at_once_is_one_approver(client, passwords, db, review_db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    big = detect(db)[("NF_BIG", "bonus_dpto")]
    sessions = [{"Authorization": f"Bearer {login(client, passwords, 'controladora', 'controladora')}"} for _ in "ab"]
    results: list[int] = []

    def approve_in(headers: dict[str, str]) -> None:
        results.append(approve(client, headers, [big]).status_code)

    with psycopg.connect(review_db) as blocker:
        blocker.execute("SELECT 1 FROM byd.controladoria WHERE idnfsexterno = 'NF_BIG' FOR UPDATE")
        threads = [threading.Thread(target=approve_in, args=(headers,)) for headers in sessions]
        for thread in threads:
            thread.start()
        wait_for_lock_waiters(db, 2)
        blocker.rollback()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == [200, 409]
    assert booked(db, "NF_BIG")[0] == "0" and status_of(db, big) == "DETECTED"
    assert approvals(db, big) == [("controladora", "60000.00", False)]


def test_a_first_approval_survives_a_run_that_changes_nothing(client, as_user, db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    big = detect(db)[("NF_BIG", "bonus_dpto")]
    assert approve(client, as_user("controladora"), [big]).json()["aguardando_segunda_aprovacao"] == [big]

    run_session(db, DAY, DAY, modo="auto")
    assert status_of(db, big) == "DETECTED" and booked(db, "NF_BIG")[0] == "0"

    response = approve(client, as_user("aprovador"), [big])
    assert response.status_code == 200 and response.json()["aprovadas"] == [big], response.text
    assert booked(db, "NF_BIG")[0] == "60000.00"


def test_an_edit_between_the_two_approvals_is_kept_and_stops_the_second(client, as_user, db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    big = detect(db)[("NF_BIG", "bonus_dpto")]
    approve(client, as_user("controladora"), [big])

    db.execute("UPDATE byd.controladoria SET bonus_dpto = '0.00' WHERE idnfsexterno = 'NF_BIG'")
    response = approve(client, as_user("aprovador"), [big])
    assert response.status_code == 409 and "mudou depois da detecção" in response.json()["detail"]
    assert booked(db, "NF_BIG")[0] == "0.00" and status_of(db, big) == "DETECTED"
    assert approvals(db, big) == [("controladora", "60000.00", False)]

    # The next run reads the new text: the first approval was given for another one.
    detect(db)
    response = approve(client, as_user("aprovador"), [big])
    assert response.status_code == 200 and response.json()["aguardando_segunda_aprovacao"] == [big]
    assert booked(db, "NF_BIG")[0] == "0.00"


def test_an_approval_waiting_on_a_rollback_sees_what_it_undid(client, as_user, db, review_db):
    """The rollback of the approval's session runs while a second approval of the same
    divergence waits for the writer lock: the second finds it ROLLED_BACK (409), and the field
    keeps the text the rollback restored."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    first = approve(client, as_user("controladora"), [one]).json()
    result: list = []

    with psycopg.connect(review_db) as rollback:
        params = {"sessao_id": first["sessao_id"], "motivo": "aprovado por engano", "usuario": "airflow:teste"}
        text = sql_file("rollback/rollback_session.sql")
        with rollback.transaction():
            for statement in DbApiHook.split_sql_string(text, strip_semicolon=True):
                rollback.execute(statement, params)
            thread = threading.Thread(target=lambda: result.append(approve(client, as_user("aprovador"), [one])))
            thread.start()
            wait_for_lock_waiters(db, 1)
        thread.join(30)

    (response,) = result
    assert response.status_code == 409 and "ROLLED_BACK" in response.json()["detail"], response.text
    assert booked(db, "NF1")[0] == "900.00" and status_of(db, one) == "ROLLED_BACK"


def test_closed_divergences_cannot_be_approved_or_rejected(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    ids = detect(db)
    one, two = ids[("NF1", "bonus_dpto")], ids[("NF2", "bonus_dpto")]
    user = as_user("controladora")
    assert client.post(f"{API}/divergencias/{one}/rejeitar", json={"motivo": "correto"}, headers=user).status_code
    response = approve(client, user, [one])
    assert response.status_code == 409 and f"Divergência {one} está REJECTED" in response.json()["detail"]

    db.execute("UPDATE byd.controladoria SET bonus_dpto = '1000.00' WHERE idnfsexterno = 'NF2'")
    detect(db)
    assert status_of(db, two) == "RESOLVED"
    response = approve(client, user, [two])
    assert response.status_code == 409 and "RESOLVED" in response.json()["detail"]
    assert booked(db, "NF1")[0] == "900.00" and booked(db, "NF2")[0] == "1000.00"


def test_bulk_decisions_with_an_unknown_id_write_nothing(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    user = as_user("controladora")
    response = approve(client, user, [one, 99999])
    assert response.status_code == 404 and "99999" in response.json()["detail"]
    response = client.post(f"{API}/divergencias/rejeitar", json={"ids": [one, 99999], "motivo": "xyz"}, headers=user)
    assert response.status_code == 404
    assert status_of(db, one) == "DETECTED" and booked(db, "NF1")[0] == "900.00"
    assert db.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao <> 'DETECT'").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("valor", "message"),
    [
        ("NaN", "valor: informe um número finito"),
        ("Infinity", "valor: informe um número finito"),
        ("-0.01", "valor: deve ser maior ou igual a 0"),
        ("1e400", "valor: no máximo 15 dígitos"),
        (True, None),
        ("", None),
    ],
)
def test_hostile_amounts_are_refused_in_portuguese(client, as_user, db, valor, message):
    add_sale(db, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5")
    detect(db)
    neg = next(d["id"] for d in divergences(db, "NF_NEG") if d["tipo_divergencia"] == "VALIDACAO_VALOR")
    response = approve(client, as_user("controladora"), [neg], valor=valor)
    assert response.status_code == 422, response.text
    if message:
        assert [d["msg"] for d in response.json()["detail"]] == [message]
    assert booked(db, "NF_NEG")[0] == "-5"


def test_a_json_number_beyond_a_double_is_refused(client, as_user, db):
    add_sale(db, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5")
    detect(db)
    neg = next(d["id"] for d in divergences(db, "NF_NEG") if d["tipo_divergencia"] == "VALIDACAO_VALOR")
    headers = {**as_user("controladora"), "Content-Type": "application/json"}
    for number in ("1e400", "-1e400", "12345678901234567.5"):
        body = f'{{"ids": [{neg}], "valor": {number}}}'
        response = client.post(f"{API}/divergencias/aprovar", content=body, headers=headers)
        assert response.status_code == 422, (number, response.text)
    assert booked(db, "NF_NEG")[0] == "-5"


def test_negative_zero_is_written_as_zero(client, as_user, db):
    add_sale(db, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5")
    detect(db)
    neg = next(d["id"] for d in divergences(db, "NF_NEG") if d["tipo_divergencia"] == "VALIDACAO_VALOR")
    response = approve(client, as_user("controladora"), [neg], valor="-0")
    assert response.status_code == 200, response.text
    assert booked(db, "NF_NEG")[0] == "0.00"


def test_control_characters_in_a_comment_are_kept_as_given(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    comment = "linha 1\r\nlinha 2\t\x1b[31m\u202e=cmd|' /C calc'!A0\u2028fim"
    response = approve(client, as_user("controladora"), [one], comentario=comment)
    assert response.status_code == 200, response.text
    detail = client.get(f"{API}/divergencias/{one}", headers=as_user("auditor")).json()
    assert [a["comentario"] for a in detail["aprovacoes"]] == [comment.strip()]
    stored = db.execute(
        "SELECT metadata->>'comentario' FROM audit.operacoes WHERE id = %s", (response.json()["operacao_id"],)
    ).fetchone()[0]
    assert stored == comment.strip()


def test_a_retried_first_approval_records_nothing_twice(client, as_user, db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    ids = detect(db)
    big, one = ids[("NF_BIG", "bonus_dpto")], ids[("NF1", "bonus_dpto")]
    user = as_user("controladora")
    assert approve(client, user, [big, one]).status_code == 200
    retried = approve(client, user, [big, one])
    assert retried.status_code == 409, retried.text
    assert approvals(db, big) == [("controladora", "60000.00", False)]
    assert db.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 1


def test_a_username_longer_than_the_audit_columns_is_refused_with_a_reason(api_app, client, db):
    """audit.operacoes.usuario and processado_por are the old system's varchar(100): an
    Airflow username longer than that (an SSO login, a long e-mail) made every decision fail
    with a bare 500 after the writer lock was taken."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    name = "controladora.da.regional.sudeste." + "x" * 70 + "@empresa.com.br"
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=name, role="user"))
    headers = {"Authorization": f"Bearer {token}"}

    responses = [
        approve(client, headers, [one]),
        client.post(f"{API}/divergencias/{one}/rejeitar", json={"motivo": "lançamento correto"}, headers=headers),
    ]
    for response in responses:
        assert response.status_code == 403, response.text
        assert "mais de 100 caracteres" in response.json()["detail"]
    assert status_of(db, one) == "DETECTED" and booked(db, "NF1")[0] == "900.00"


def test_the_second_approver_applies_the_value_the_first_typed(client, as_user, db):
    """A reference with more than two decimals makes the first approver type the value; the
    second approves "that value" (README) without typing it again. The rounded-suggestion
    guard refused the second approval with 422 when the typed value equalled the suggestion."""
    add_sale(db, "NF_BIG", valor_bonus="60000.004", bonus_dpto="0")
    big = detect(db)[("NF_BIG", "bonus_dpto")]
    response = approve(client, as_user("controladora"), [big], valor="60000.00", comentario="conferido na nota")
    assert response.status_code == 200 and response.json()["aguardando_segunda_aprovacao"] == [big], response.text

    response = approve(client, as_user("aprovador"), [big])
    assert response.status_code == 200 and response.json()["aprovadas"] == [big], response.text
    assert booked(db, "NF_BIG")[0] == "60000.00"
    assert approvals(db, big) == [("controladora", "60000.00", False), ("aprovador", "60000.00", True)]


def test_an_old_divergence_that_names_no_field_is_refused_in_words(client, as_user, db):
    """The old job could record a divergence with no campo_afetado (the old schema allows it);
    approving one answered 'o campo None pertence ao cadastro comercial'."""
    add_sale(db, "NF_VELHA", bonus_utilizado="PENDENTE VERIFICACAO")
    old = db.execute(
        """INSERT INTO audit.divergencias_processadas
               (idnfsexterno, tipo_divergencia, campo_afetado, competencia, status_processamento,
                confidence_score, regras_aplicadas, detectado_em, dados_contextuais)
           VALUES ('NF_VELHA', 'PENDENTE_VERIFICACAO', NULL, 'Julho', 'DETECTED', 0.50,
                   ARRAY['VERIFICACAO_PENDENTE'], '2026-07-12 07:00:31', '{}')
           RETURNING id"""
    ).fetchone()[0]
    response = approve(client, as_user("controladora"), [old], valor="10.00")
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        f"Divergência {old}: não indica o campo a corrigir (registro do sistema antigo); "
        "o sistema só grava bonus_dpto e trade_mkt_dpto. Rejeite-a e corrija na origem."
    )
    assert status_of(db, old) == "DETECTED"
