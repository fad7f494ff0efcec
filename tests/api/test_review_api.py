"""The review API through Airflow's real api-server app with the plugin loaded, against a
real PostgreSQL: who may do what, the list, approvals (four eyes, all or nothing,
concurrency), rejections, triggers, exports and the audit trail they leave."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import tempfile
import threading
import time
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest

from devtools.sql_steps import run_session
from tests.helpers import add_sale, booked, business_state, divergences

API = "/divergencias/api/v1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DAY = date(2026, 11, 10)


def detect(conn: psycopg.Connection) -> dict[str, int]:
    """A manual-mode run over DAY (detects, applies nothing); ids by sale and field."""
    run_session(conn, DAY, DAY, modo="manual")
    return {(d["idnfsexterno"], d["campo_afetado"]): d["id"] for d in divergences(conn)}


def _sao_paulo_today() -> str:
    """The controllers' day, as detection records it and the exports name their files (the
    machine's date is UTC: past 21:00 in São Paulo it is already tomorrow)."""
    from divergencias.settings import LOCAL_TIMEZONE

    return datetime.now(ZoneInfo(LOCAL_TIMEZONE)).date().isoformat()


def approve(client, headers, ids, **extra):
    return client.post(f"{API}/divergencias/aprovar", json={"ids": ids, **extra}, headers=headers)


def status_of(conn: psycopg.Connection, divergence_id: int) -> str:
    return conn.execute(
        "SELECT status_processamento FROM audit.divergencias_processadas WHERE id = %s", (divergence_id,)
    ).fetchone()[0]


# --- who may do what ---------------------------------------------------------------------


def test_health_is_open_and_says_only_whether_the_database_answers(client, db):
    response = client.get(f"{API}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "banco": "ok", "ultima_sessao": None}


def test_health_reports_the_last_run_not_an_approval(client, as_user, db):
    """A monitor polls health for the morning run's outcome. Each approval opens a session of
    its own (MANUAL_APPROVAL), which would read COMPLETED after a run that failed."""
    add_sale(db, "NF1", valor_bonus="1.234,50", bonus_dpto=" 1000 ")
    one = detect(db)[("NF1", "bonus_dpto")]
    (run,) = db.execute("SELECT max(id) FROM audit.sessoes_processamento").fetchone()
    db.execute("UPDATE audit.sessoes_processamento SET status = 'FAILED' WHERE id = %s", (run,))
    assert approve(client, as_user("controladora"), [one]).status_code == 200

    last = client.get(f"{API}/health").json()["ultima_sessao"]
    assert (last["id"], last["tipo_sessao"], last["status"]) == (run, "MANUAL_RUN", "FAILED")


def test_every_route_but_health_needs_an_airflow_user(client, api_app, db, as_user):
    """The API, its docs and schema, and the page's static files: 401 without a user, 403 for
    a user without access to divergencias_diarias (a route that only asked for a login would
    show the audit trail to anyone with an Airflow account). The page itself ("/") sends the
    browser to the login instead (test below)."""
    from starlette.routing import Mount

    (plugin,) = [r.app for r in api_app.routes if isinstance(r, Mount) and r.path == "/divergencias"]
    routes = [(m, r.path) for r in plugin.routes if r.path != "/" for m in getattr(r, "methods", ())]
    assert not [r for r in plugin.routes if isinstance(r, Mount)], "a mount would skip the access checks"
    assert {"/api/docs", "/api/openapi.json", "/static/{arquivo:path}"} <= {path for _, path in routes}
    assert len(routes) >= 21
    for method, path in routes:
        url = path.replace("{divergencia_id}", "1").replace("{sessao_id}", "1")
        url = "/divergencias" + url.replace("{arquivo:path}", "divergencias.js")
        expected = 200 if path == "/api/v1/health" else 401
        assert client.request(method, url).status_code == expected, (method, path)
        if path != "/api/v1/health":
            assert client.request(method, url, headers=as_user("semacesso")).status_code == 403, (method, path)
    bad_token = {"Authorization": "Bearer not-a-jwt"}
    assert client.get(f"{API}/divergencias", headers=bad_token).status_code in (401, 403)


def test_docs_schema_and_static_files_need_read_access(client, as_user, db):
    for url in ("/divergencias/api/docs", "/divergencias/api/openapi.json", "/divergencias/static/divergencias.js"):
        assert client.get(url).status_code == 401, url
        assert client.get(url, headers=as_user("semacesso")).status_code == 403, url
        assert client.get(url, headers=as_user("auditor")).status_code == 200, url
    script = client.get("/divergencias/static/divergencias.js", headers=as_user("auditor"))
    assert "function brl" in script.text
    assert client.get("/divergencias/static/icone.svg", headers=as_user("auditor")).status_code == 200
    # %2F: the client would resolve a plain "../" itself; encoded, it reaches the route.
    for outside in ("..%2F..%2F..%2Fplugins%2Fdivergencias%2Fsettings.py", "nada.js"):
        assert client.get(f"/divergencias/static/{outside}", headers=as_user("auditor")).status_code == 404, outside


def test_docs_work_with_the_ui_cookie(client, tokens, db):
    """A browser sends only the cookie to the docs and to the schema they link; the link and
    the schema's server include the mount prefix."""
    client.cookies.set("_token", tokens["auditor"])
    try:
        docs = client.get("/divergencias/api/docs")
        schema = client.get("/divergencias/api/openapi.json")
    finally:
        client.cookies.clear()
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    assert 'href="/divergencias/api/openapi.json"' in docs.text
    assert schema.status_code == 200
    assert schema.json()["servers"] == [{"url": "/divergencias"}]
    assert "/api/v1/divergencias/aprovar" in schema.json()["paths"]


def test_roles_read_and_decide(client, as_user, db, tokens):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    ids = detect(db)
    one = ids[("NF1", "bonus_dpto")]

    assert client.get(f"{API}/divergencias", headers=as_user("semacesso")).status_code == 403
    assert client.get(f"{API}/divergencias", headers=as_user("auditor")).json()["total"] == 1
    assert client.get(f"{API}/eu", headers=as_user("auditor")).json() == {"usuario": "auditor", "pode_editar": False}
    assert client.get(f"{API}/eu", headers=as_user("aprovador")).json()["pode_editar"] is True
    for method, path, body in [
        ("POST", "/divergencias/aprovar", {"ids": [one]}),
        ("POST", f"/divergencias/{one}/rejeitar", {"motivo": "não"}),
        ("DELETE", f"/divergencias/{one}/rejeitar?motivo=n%C3%A3o", None),
        ("POST", "/divergencias/rejeitar", {"ids": [one], "motivo": "não"}),
        ("POST", "/divergencias/processar", {}),
        ("POST", "/sessoes/1/rollback", {"motivo": "não"}),
    ]:
        response = client.request(method, API + path, json=body, headers=as_user("auditor"))
        assert response.status_code == 403, (path, response.text)
    assert status_of(db, one) == "DETECTED"

    # the UI's cookie works like the bearer token
    client.cookies.set("_token", tokens["controladora"])
    try:
        response = client.post(f"{API}/divergencias/aprovar", json={"ids": [one], "comentario": "conferido"})
    finally:
        client.cookies.clear()
    assert response.status_code == 200, response.text
    assert booked(db, "NF1")[0] == "1000.00"


def test_no_cors(client, as_user, db):
    response = client.options(
        f"{API}/divergencias",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = client.get(f"{API}/divergencias", headers={**as_user("auditor"), "Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers


def test_page_redirects_to_login_and_refuses_users_without_access(client, as_user, db):
    response = client.get("/divergencias/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"].startswith("/auth/login")
    assert client.get("/divergencias/", headers=as_user("semacesso")).status_code == 403
    page = client.get("/divergencias/", headers=as_user("auditor"))
    assert page.status_code == 200 and "Divergências" in page.text


def test_plugin_is_listed_in_airflow_navigation(client, as_user):
    plugins = client.get("/api/v2/plugins", headers=as_user("admin")).json()["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "divergencias_revisao"]
    (view,) = plugin["external_views"]
    assert view["url_route"] == "divergencias" and view["href"] == "/divergencias/" and view["name"] == "Divergências"
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/divergencias"]


# --- list and detail -------------------------------------------------------------------------


def test_list_filters_sorting_and_paging(client, as_user, db):
    add_sale(db, "NF_A", valor_bonus="1000.00", bonus_dpto="990.00")  # diferença 10
    add_sale(db, "NF_B", valor_bonus="1000.00", bonus_dpto="700.00")  # 300
    add_sale(db, "NF_C", valor_bonus="1000.00", bonus_dpto="100.00", trade="50", trade_mkt_dpto="0")  # 900 and 50
    add_sale(db, "NF_D", bonus_utilizado="PENDENTE VERIFICACAO", data_final_venda=datetime(2026, 10, 31))
    add_sale(db, "NF_E", valor_bonus="1000.00", bonus_dpto="0", dta_processamento=datetime(2026, 11, 9))
    run_session(db, date(2026, 11, 9), DAY, modo="manual")
    auditor = as_user("auditor")

    def listing(**params):
        response = client.get(f"{API}/divergencias", params=params, headers=auditor)
        assert response.status_code == 200, response.text
        return response.json()

    everything = listing(limit=1000)
    assert everything["total"] == 6 and len(everything["itens"]) == 6
    ordered = listing(ordenar="-diferenca")["itens"]
    assert [(d["idnfsexterno"], d["diferenca"]) for d in ordered][:5] == [
        ("NF_E", "1000.00"),
        ("NF_C", "900.00"),
        ("NF_B", "300.00"),
        ("NF_C", "50.00"),
        ("NF_A", "10.00"),
    ]
    assert ordered[-1]["diferenca"] is None  # pending verification suggests nothing
    assert [d["idnfsexterno"] for d in listing(ordenar="diferenca", limit=2, offset=1)["itens"]] == ["NF_C", "NF_B"]
    page = listing(ordenar="-diferenca", limit=2, offset=4)
    assert page["total"] == 6 and [d["idnfsexterno"] for d in page["itens"]] == ["NF_A", "NF_D"]

    assert {d["idnfsexterno"] for d in listing(tipo_divergencia="TRADE_MARKETING_TRADE")["itens"]} == {"NF_C"}
    assert [d["regra"] for d in listing(tipo_divergencia="PENDENTE_VERIFICACAO")["itens"]] == [
        "Bônus pendente de verificação"
    ]
    assert {d["idnfsexterno"] for d in listing(competencia="2026-10")["itens"]} == {"NF_D"}
    assert {d["idnfsexterno"] for d in listing(idnfsexterno="NF_B")["itens"]} == {"NF_B"}
    assert {d["idnfsexterno"] for d in listing(data_inicio="2026-11-09", data_fim="2026-11-09")["itens"]} == {"NF_E"}
    assert listing(diferenca_minima="300")["total"] == 3
    assert listing(status_processamento="APPROVED")["total"] == 0
    item = listing(idnfsexterno="NF_B")["itens"][0]
    assert item["valor_original"] == "700.00" and item["valor_sugerido"] == "1000.00"  # money as exact text

    for params in (
        {"limit": 1001},
        {"limit": 0},
        {"offset": -1},
        {"ordenar": "valor; DROP TABLE x"},
        {"competencia": "Novembro"},
        {"status_processamento": "QUALQUER"},
        {"data_inicio": "ontem"},
    ):
        assert client.get(f"{API}/divergencias", params=params, headers=auditor).status_code == 422, params


def test_every_order_pages_through_ties_without_repeating_or_skipping(client, as_user, db):
    """One run detects every divergence at the same instant, with equal differences, sales and
    months: each ordenar breaks ties by id, so the pages put together are the whole list once."""
    from divergencias.review.queries import SORT_ORDERS

    for sale in range(7):
        add_sale(db, f"NF{sale}", valor_bonus="1000.00", bonus_dpto="900.00", trade="50", trade_mkt_dpto="0")
    detect(db)
    auditor = as_user("auditor")
    total = client.get(f"{API}/divergencias", headers=auditor).json()["total"]
    assert total >= 6
    for ordenar in SORT_ORDERS:
        pages = [
            client.get(
                f"{API}/divergencias", params={"ordenar": ordenar, "limit": 4, "offset": offset}, headers=auditor
            ).json()
            for offset in range(0, total + 4, 4)
        ]
        ids = [item["id"] for page in pages for item in page["itens"]]
        whole = client.get(f"{API}/divergencias", params={"ordenar": ordenar, "limit": 1000}, headers=auditor).json()
        assert ids == [item["id"] for item in whole["itens"]] and len(set(ids)) == total, ordenar
        assert {page["total"] for page in pages} == {total}, ordenar


def test_detail_with_rule_history_and_approvals(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1234.50", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    assert approve(client, as_user("controladora"), [one], comentario="ok").status_code == 200

    response = client.get(f"{API}/divergencias/{one}", headers=as_user("auditor"))
    detail = response.json()
    assert detail["status_processamento"] == "APPROVED" and detail["processado_por"] == "controladora"
    assert detail["regra"]["rotulo"] == "Bônus contabilizado diferente do registrado"
    assert [(h["status_anterior"], h["status_novo"], h["usuario"]) for h in detail["historico"]] == [
        (None, "DETECTED", "airflow:divergencias_diarias"),
        ("DETECTED", "APPROVED", "controladora"),
    ]
    assert [(a["usuario"], a["valor"], a["comentario"]) for a in detail["aprovacoes"]] == [
        ("controladora", "1234.50", "ok")
    ]
    # history money as decimal text with two places, like every other money field (the
    # triggers store it as JSON numbers, which would go out as the float 1234.5)
    assert [h["detalhes"] for h in detail["historico"]] == [
        {"valor_original": "900.00", "valor_sugerido": "1234.50"},
        {"valor_aplicado": "1234.50"},
    ]
    assert "1234.5," not in response.text and "1234.5}" not in response.text

    # rows written by older code (adopted schema) may hold numbers of any scale: padded to two
    # places, never rounded; text and null kept as they are
    db.execute(
        """INSERT INTO audit.historico_divergencias (divergencia_id, status_anterior, status_novo, usuario, detalhes)
           VALUES (%s, 'APPROVED', 'APPROVED', 'migracao', %s::jsonb)""",
        (
            one,
            '{"valor_sugerido": 1234.5, "valor_aplicado": 1000, "valor_anterior": 0.125, '
            '"valor_original": "1.234,5", "motivo": null}',
        ),
    )
    history = client.get(f"{API}/divergencias/{one}", headers=as_user("auditor")).json()["historico"]
    assert history[-1]["detalhes"] == {
        "valor_sugerido": "1234.50",
        "valor_aplicado": "1000.00",
        "valor_anterior": "0.125",
        "valor_original": "1.234,5",
        "motivo": None,
    }
    assert client.get(f"{API}/divergencias/99999", headers=as_user("auditor")).status_code == 404
    assert client.get(f"{API}/divergencias/0", headers=as_user("auditor")).status_code == 422


# --- approvals ---------------------------------------------------------------------------


def test_approval_applies_with_before_after_under_its_own_session(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1.234,50", bonus_dpto=" 1000 ")
    one = detect(db)[("NF1", "bonus_dpto")]

    response = approve(client, as_user("controladora"), [one], comentario="conferido com a nota")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["aprovadas"] == [one] and result["aguardando_segunda_aprovacao"] == []
    assert booked(db, "NF1")[0] == "1234.50"

    (row,) = divergences(db, "NF1")
    assert (row["status_processamento"], row["valor_aplicado"], row["processado_por"]) == (
        "APPROVED",
        Decimal("1234.50"),
        "controladora",
    )
    assert row["operacao_id"] == result["operacao_id"] and row["decisao_automatica"] is False
    op = db.execute(
        "SELECT tipo_operacao, usuario, origem, status, sessao_id, dados_anteriores, dados_posteriores"
        " FROM audit.operacoes WHERE id = %s",
        (result["operacao_id"],),
    ).fetchone()
    assert op[:5] == ("APPROVE", "controladora", "API", "SUCCESS", result["sessao_id"])
    assert op[5] == [{"divergencia_id": one, "idnfsexterno": "NF1", "campo": "bonus_dpto", "valor": " 1000 "}]
    assert op[6] == [{"divergencia_id": one, "idnfsexterno": "NF1", "campo": "bonus_dpto", "valor": "1234.50"}]
    session = db.execute(
        "SELECT tipo_sessao, status, correcoes_aplicadas FROM audit.sessoes_processamento WHERE id = %s",
        (result["sessao_id"],),
    ).fetchone()
    assert session == ("MANUAL_APPROVAL", "COMPLETED", 1)


def test_an_approval_session_counts_like_a_run(client, as_user, db):
    """Contract §6 for the MANUAL_APPROVAL session: corrections it applied, none recorded,
    and correcoes_pendentes the whole DETECTED queue it leaves, other periods included, after
    a written field's value check closed with it. It was left at 0."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="-5.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    add_sale(db, "NF3", valor_bonus="1000.00", bonus_dpto="700.00")
    add_sale(db, "NF4", valor_bonus="1000.00", bonus_dpto="600.00", dta_processamento=datetime(2026, 10, 1, 9))
    run_session(db, date(2026, 10, 1), date(2026, 10, 1), modo="manual")
    detect(db)
    ids = {(d["idnfsexterno"], d["tipo_divergencia"]): d["id"] for d in divergences(db)}
    assert ("NF1", "VALIDACAO_VALOR") in ids

    bonus = [ids[(sale, "TRADE_MARKETING_BONUS")] for sale in ("NF1", "NF2")]
    result = approve(client, as_user("controladora"), bonus).json()

    statuses = {(d["idnfsexterno"], d["tipo_divergencia"]): d["status_processamento"] for d in divergences(db)}
    assert statuses[("NF1", "VALIDACAO_VALOR")] == "RESOLVED"
    assert sorted(key for key, status in statuses.items() if status == "DETECTED") == [
        ("NF3", "TRADE_MARKETING_BONUS"),
        ("NF4", "TRADE_MARKETING_BONUS"),
    ]
    session = db.execute(
        """SELECT tipo_sessao, total_registros_analisados, divergencias_detectadas, correcoes_aplicadas,
                  correcoes_pendentes, erros_encontrados FROM audit.sessoes_processamento WHERE id = %s""",
        (result["sessao_id"],),
    ).fetchone()
    assert session == ("MANUAL_APPROVAL", 0, 0, 2, 2, 0)


def test_approval_refusals(client, as_user, db):
    add_sale(db, "NF_OK", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF_EDIT", valor_bonus="1000.00", bonus_dpto="800.00")
    add_sale(db, "NF_PEND", bonus_utilizado="PENDENTE VERIFICACAO")
    add_sale(db, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5")
    ids = detect(db)
    ok, edit, pend = ids[("NF_OK", "bonus_dpto")], ids[("NF_EDIT", "bonus_dpto")], ids[("NF_PEND", "bonus_utilizado")]
    neg = next(d["id"] for d in divergences(db, "NF_NEG") if d["tipo_divergencia"] == "VALIDACAO_VALOR")
    user = as_user("controladora")

    db.execute("UPDATE byd.controladoria SET bonus_dpto = '850.00' WHERE idnfsexterno = 'NF_EDIT'")
    response = approve(client, user, [edit])
    assert response.status_code == 409 and "mudou depois da detecção" in response.json()["detail"]
    assert booked(db, "NF_EDIT")[0] == "850.00"

    assert approve(client, user, [99999]).status_code == 404
    response = approve(client, user, [neg])
    assert response.status_code == 422 and "não sugere valor" in response.json()["detail"]
    assert approve(client, user, [pend], valor="10").status_code == 422  # bonus_utilizado is not ours to write
    assert approve(client, user, [neg], valor="100000.01").status_code == 422  # above limite_outlier
    assert approve(client, user, [ok, neg], valor="10").status_code == 422  # a value names one divergence
    assert approve(client, user, []).status_code == 422
    assert approve(client, user, [ok], valor="-1").status_code == 422
    assert approve(client, user, [ok], valor="1.234").status_code == 422  # cents only

    assert approve(client, user, [ok]).status_code == 200
    response = approve(client, user, [ok])
    assert response.status_code == 409 and "APPROVED" in response.json()["detail"]

    # a value-check divergence approved with an explicit value
    response = approve(client, user, [neg], valor="1000", comentario="valor conferido")
    assert response.status_code == 200, response.text
    assert booked(db, "NF_NEG")[0] == "1000.00"


def test_bulk_approval_is_all_or_nothing(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="2000.00", bonus_dpto="1900.00")
    add_sale(db, "NF3", valor_bonus="3000.00", bonus_dpto="2900.00")
    ids = detect(db)
    one, two, three = (ids[(nf, "bonus_dpto")] for nf in ("NF1", "NF2", "NF3"))
    user = as_user("controladora")
    assert (
        client.post(
            f"{API}/divergencias/{three}/rejeitar", json={"motivo": "lançamento correto"}, headers=user
        ).status_code
        == 200
    )
    operations = db.execute("SELECT count(*) FROM audit.operacoes").fetchone()[0]

    response = approve(client, user, [one, two, three])
    assert response.status_code == 409 and f"{three}" in response.json()["detail"]
    assert (booked(db, "NF1")[0], booked(db, "NF2")[0]) == ("900.00", "1900.00")
    assert (status_of(db, one), status_of(db, two)) == ("DETECTED", "DETECTED")
    assert db.execute("SELECT count(*) FROM audit.operacoes").fetchone()[0] == operations
    assert db.execute("SELECT count(*) FROM audit.aprovacoes").fetchone()[0] == 0

    response = approve(client, user, [two, one])
    assert response.status_code == 200 and response.json()["aprovadas"] == [one, two]
    assert (booked(db, "NF1")[0], booked(db, "NF2")[0]) == ("1000.00", "2000.00")
    assert db.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 1


def test_four_eyes_for_large_changes(client, as_user, db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    add_sale(db, "NF_EDGE", valor_bonus="50000.00", bonus_dpto="0.00")  # exactly the limit: two people too
    add_sale(db, "NF_SMALL", valor_bonus="49999.99", bonus_dpto="0")
    ids = detect(db)
    big, edge, small = (ids[(nf, "bonus_dpto")] for nf in ("NF_BIG", "NF_EDGE", "NF_SMALL"))
    listed = client.get(f"{API}/divergencias", params={"ordenar": "-diferenca"}, headers=as_user("auditor")).json()
    assert [d["requer_dupla_aprovacao"] for d in listed["itens"]] == [True, True, False]

    response = approve(client, as_user("controladora"), [big, edge, small], comentario="primeira")
    assert response.status_code == 200, response.text
    assert response.json()["aprovadas"] == [small]
    assert response.json()["aguardando_segunda_aprovacao"] == [big, edge]
    assert booked(db, "NF_BIG")[0] == "0" and booked(db, "NF_SMALL")[0] == "49999.99"
    assert status_of(db, big) == "DETECTED"
    item = client.get(f"{API}/divergencias/{big}", headers=as_user("auditor")).json()
    assert item["aprovacoes_pendentes"] == ["controladora"]

    response = approve(client, as_user("controladora"), [big])
    assert response.status_code == 409 and "outra pessoa" in response.json()["detail"]
    assert approve(client, as_user("aprovador"), [big], valor="59000.00").status_code == 409  # not what was approved

    response = approve(client, as_user("aprovador"), [big, edge], comentario="segunda")
    assert response.status_code == 200 and response.json()["aprovadas"] == [big, edge]
    assert (booked(db, "NF_BIG")[0], booked(db, "NF_EDGE")[0]) == ("60000.00", "50000.00")
    (row,) = divergences(db, "NF_BIG")
    assert row["status_processamento"] == "APPROVED" and row["processado_por"] == "aprovador"
    approvals = db.execute(
        "SELECT usuario, valor, operacao_id IS NOT NULL FROM audit.aprovacoes WHERE divergencia_id = %s ORDER BY id",
        (big,),
    ).fetchall()
    assert approvals == [("controladora", Decimal("60000.00"), False), ("aprovador", Decimal("60000.00"), True)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("DELETE FROM audit.aprovacoes")


def test_a_divergence_no_approval_can_apply_says_nothing_about_two_people(client, as_user, db):
    """Only the booked fields are ever written: a divergence on a sales field (pending
    verification, an unreadable valor_bonus) cannot be approved at all, so the list must not
    say it needs two people."""
    add_sale(db, "NF_PEND", bonus_utilizado="PENDENTE VERIFICACAO")
    add_sale(db, "NF_ILEG", valor_bonus="abc")
    add_sale(db, "NF_BOOK", valor_bonus="60000.00", bonus_dpto="0")
    ids = detect(db)
    listed = {
        (d["idnfsexterno"], d["campo_afetado"]): d["requer_dupla_aprovacao"]
        for d in client.get(f"{API}/divergencias", headers=as_user("auditor")).json()["itens"]
    }
    assert listed == {
        ("NF_PEND", "bonus_utilizado"): None,
        ("NF_ILEG", "valor_bonus"): None,
        ("NF_BOOK", "bonus_dpto"): True,
    }
    response = approve(client, as_user("controladora"), [ids[("NF_PEND", "bonus_utilizado")]])
    assert response.status_code == 422 and "não é gravado pelo sistema" in response.json()["detail"]


@pytest.mark.parametrize("value", ["50.000,00", "NaN", " 50000 "])
def test_an_invalid_four_eyes_limit_leaves_the_list_readable_and_says_two_people(client, as_user, db, value):
    """The list read limite_dupla_aprovacao without its check: a pt-BR '50.000,00' made the
    list, the detail and the exports answer 500, and a 'NaN' or ' 50000 ' (which the cast takes)
    was used as the limit, telling one person was enough where the approval then refuses."""
    add_sale(db, "NF_SMALL", valor_bonus="10.00", bonus_dpto="0")
    small = detect(db)[("NF_SMALL", "bonus_dpto")]
    db.execute(
        """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, versao, ativo, criado_por)
           SELECT chave, %s, tipo_valor, max(versao) + 1, true, 'teste'
             FROM audit.configuracoes_sistema WHERE chave = 'limite_dupla_aprovacao' GROUP BY chave, tipo_valor""",
        (value,),
    )
    auditor = as_user("auditor")
    listed = client.get(f"{API}/divergencias", headers=auditor)
    assert listed.status_code == 200, listed.text
    assert [d["requer_dupla_aprovacao"] for d in listed.json()["itens"]] == [True]
    assert client.get(f"{API}/divergencias/{small}", headers=auditor).json()["requer_dupla_aprovacao"] is True
    response = approve(client, as_user("controladora"), [small])
    assert response.status_code == 503 and '"limite_dupla_aprovacao"' in response.json()["detail"], response.text


def test_four_eyes_cannot_be_got_round_by_one_person(client, as_user, db):
    add_sale(db, "NF_ILEG", valor_bonus="60000.00", bonus_dpto="1.500.000")  # unreadable: change unmeasurable
    add_sale(db, "NF_HUGE", valor_bonus="20000.00", bonus_dpto="12345678901234")  # beyond numeric(15,2)
    add_sale(db, "NF_STEP", valor_bonus="60000.00", bonus_dpto="0")
    detect(db)
    ileg = next(d["id"] for d in divergences(db, "NF_ILEG") if d["tipo_divergencia"] == "VALOR_INVALIDO")
    huge = next(d["id"] for d in divergences(db, "NF_HUGE") if d["tipo_divergencia"] == "TRADE_MARKETING_BONUS")
    step = next(d["id"] for d in divergences(db, "NF_STEP") if d["tipo_divergencia"] == "TRADE_MARKETING_BONUS")
    listed = {
        d["id"]: d["requer_dupla_aprovacao"]
        for d in client.get(f"{API}/divergencias", headers=as_user("auditor")).json()["itens"]
    }
    assert (listed[ileg], listed[huge], listed[step]) == (True, True, True)
    user = as_user("controladora")

    for ident, extra in ((ileg, {"valor": "0"}), (huge, {}), (step, {"valor": "49999.99"})):
        response = approve(client, user, [ident], **extra)
        assert response.status_code == 200, response.text
        assert response.json()["aguardando_segunda_aprovacao"] == [ident], ident
    assert booked(db, "NF_ILEG")[0] == "1.500.000"
    assert booked(db, "NF_HUGE")[0] == "12345678901234"
    assert booked(db, "NF_STEP")[0] == "0"

    # The second person applies what the first one approved.
    response = approve(client, as_user("aprovador"), [step])
    assert response.status_code == 200 and response.json()["aprovadas"] == [step]
    assert booked(db, "NF_STEP")[0] == "49999.99"


def test_a_first_approval_holds_only_for_what_its_approver_saw(client, as_user, db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    big = detect(db)[("NF_BIG", "bonus_dpto")]
    assert approve(client, as_user("controladora"), [big]).json()["aguardando_segunda_aprovacao"] == [big]
    item = client.get(f"{API}/divergencias/{big}", headers=as_user("auditor")).json()
    assert (item["aprovacoes_pendentes"], item["valor_pendente"]) == (["controladora"], "60000.00")

    # The source changes and detection refreshes the open divergence in place.
    db.execute("UPDATE byd.incentivos SET valor_bonus = '90000.00' WHERE idnfsexterno = 'NF_BIG'")
    assert detect(db)[("NF_BIG", "bonus_dpto")] == big
    item = client.get(f"{API}/divergencias/{big}", headers=as_user("auditor")).json()
    assert (item["valor_sugerido"], item["aprovacoes_pendentes"], item["valor_pendente"]) == ("90000.00", [], None)

    # The approval given for 60000 no longer counts: this one is a first approval again.
    response = approve(client, as_user("aprovador"), [big])
    assert response.status_code == 200 and response.json()["aguardando_segunda_aprovacao"] == [big]
    assert booked(db, "NF_BIG")[0] == "0"
    response = approve(client, as_user("controladora"), [big])
    assert response.status_code == 200 and response.json()["aprovadas"] == [big]
    assert booked(db, "NF_BIG")[0] == "90000.00"
    detail = client.get(f"{API}/divergencias/{big}", headers=as_user("auditor")).json()
    assert [(a["usuario"], a["valor"], a["situacao"]) for a in detail["aprovacoes"]] == [
        ("controladora", "60000.00", "sem efeito: valores mudaram"),
        ("aprovador", "90000.00", "1ª aprovação"),
        ("controladora", "90000.00", "aplicou"),
    ]


# --- a decision names the values it was taken on ---------------------------------------------


def seen(client, headers, *ids: int) -> dict[str, str]:
    """The tokens a client reads with the list, as the body's "vistos" carries them."""
    items = client.get(f"{API}/divergencias", params={"limit": 1000}, headers=headers).json()["itens"]
    return {str(d["id"]): d["token_valores"] for d in items if d["id"] in ids}


def refresh(conn: psycopg.Connection, nf: str, *, reference: str, booking: str) -> None:
    """The source changes after the page was read and the next run refreshes the divergence."""
    conn.execute("UPDATE byd.incentivos SET valor_bonus = %s WHERE idnfsexterno = %s", (reference, nf))
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = %s WHERE idnfsexterno = %s", (booking, nf))
    detect(conn)


def two_divergences_read(client, headers, db) -> tuple[int, int, dict[str, str]]:
    """NF1's and NF2's bonus_dpto divergences, detected, and the tokens a client read them with."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="2000.00", bonus_dpto="1900.00")
    ids = detect(db)
    one, two = ids[("NF1", "bonus_dpto")], ids[("NF2", "bonus_dpto")]
    return one, two, seen(client, headers, one, two)


def decisions_recorded(conn: psycopg.Connection) -> tuple[int, int]:
    """(approvals recorded, APPROVE or REJECT operations)."""
    return conn.execute(
        "SELECT (SELECT count(*) FROM audit.aprovacoes),"
        " (SELECT count(*) FROM audit.operacoes WHERE tipo_operacao IN ('APPROVE', 'REJECT'))"
    ).fetchone()


def test_an_approval_on_values_refreshed_after_the_page_was_read_is_refused(client, as_user, db):
    """The page showed "4000.00" and R$ 5.000,00; a run then refreshed the divergence to the
    booking "4800.00" and the reference 6000.00; the click that follows must not write 6000.00
    over 4800.00, values the person never saw."""
    add_sale(db, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    user = as_user("controladora")
    tokens = seen(client, user, one)
    detail = client.get(f"{API}/divergencias/{one}", headers=user).json()
    assert detail["token_valores"] == tokens[str(one)]

    refresh(db, "NF1", reference="6000.00", booking="4800.00")
    assert detect(db)[("NF1", "bonus_dpto")] == one
    response = approve(client, user, [one], vistos=tokens)
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == (
        f'Divergência {one}: seus valores mudaram depois que foram lidos (o campo agora tem "4800.00", '
        "valor sugerido R$\u00a06.000,00); nada foi gravado. Recarregue a lista e decida de novo."
    )
    assert status_of(db, one) == "DETECTED" and booked(db, "NF1")[0] == "4800.00"
    assert decisions_recorded(db) == (0, 0)

    fresh = seen(client, user, one)
    assert fresh != tokens
    response = approve(client, user, [one], vistos=fresh)
    assert response.status_code == 200 and response.json()["aprovadas"] == [one]
    assert booked(db, "NF1")[0] == "6000.00"


def test_an_approval_without_vistos_is_taken_on_the_current_values_as_before(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    refresh(db, "NF1", reference="6000.00", booking="4800.00")
    response = approve(client, as_user("controladora"), [one])
    assert response.status_code == 200 and response.json()["aprovadas"] == [one]
    assert booked(db, "NF1")[0] == "6000.00"


def test_a_bulk_approval_with_one_stale_token_applies_nothing(client, as_user, db):
    user = as_user("controladora")
    one, two, tokens = two_divergences_read(client, user, db)
    refresh(db, "NF2", reference="2500.00", booking="1900.00")

    response = approve(client, user, [one, two], vistos=tokens)
    assert response.status_code == 409 and f"Divergência {two}:" in response.json()["detail"]
    assert "R$\u00a02.500,00" in response.json()["detail"]
    assert (booked(db, "NF1")[0], booked(db, "NF2")[0]) == ("900.00", "1900.00")
    assert (status_of(db, one), status_of(db, two)) == ("DETECTED", "DETECTED")
    assert decisions_recorded(db) == (0, 0)


def test_a_first_approval_of_a_large_change_on_stale_values_is_not_recorded(client, as_user, db):
    add_sale(db, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    big = detect(db)[("NF_BIG", "bonus_dpto")]
    user = as_user("controladora")
    tokens = seen(client, user, big)
    refresh(db, "NF_BIG", reference="90000.00", booking="0")

    response = approve(client, user, [big], vistos=tokens)
    assert response.status_code == 409 and "R$\u00a090.000,00" in response.json()["detail"]
    assert decisions_recorded(db) == (0, 0)
    response = approve(client, user, [big], vistos=seen(client, user, big))
    assert response.status_code == 200 and response.json()["aguardando_segunda_aprovacao"] == [big]


def test_a_rejection_on_stale_values_is_refused(client, as_user, db):
    user = as_user("controladora")
    one, two, tokens = two_divergences_read(client, user, db)
    refresh(db, "NF1", reference="1100.00", booking="950.00")

    body = {"motivo": "lançamento correto"}
    stale = {str(one): tokens[str(one)]}
    responses = [
        client.post(f"{API}/divergencias/rejeitar", json={**body, "ids": [one, two], "vistos": tokens}, headers=user),
        client.post(f"{API}/divergencias/{one}/rejeitar", json={**body, "vistos": stale}, headers=user),
        client.request("DELETE", f"{API}/divergencias/{one}/rejeitar", json={**body, "vistos": stale}, headers=user),
    ]
    for response in responses:
        assert response.status_code == 409, response.text
        assert f"Divergência {one}: seus valores mudaram" in response.json()["detail"]
        assert '"950.00"' in response.json()["detail"]
    assert (status_of(db, one), status_of(db, two)) == ("DETECTED", "DETECTED")
    assert decisions_recorded(db) == (0, 0)

    fresh = {str(two): tokens[str(two)]}
    response = client.post(f"{API}/divergencias/{two}/rejeitar", json={**body, "vistos": fresh}, headers=user)
    assert response.status_code == 200, response.text
    assert status_of(db, two) == "REJECTED"


def test_vistos_names_each_divergence_decided_with_a_token_the_api_gave(client, as_user, db):
    user = as_user("controladora")
    one, two, tokens = two_divergences_read(client, user, db)
    token = tokens[str(one)]
    reject_one = f"{API}/divergencias/{one}/rejeitar"

    cases = [
        (approve(client, user, [one, two], vistos={str(one): token}), f"vistos: falta o token de {two}"),
        (approve(client, user, [one], vistos=tokens), f"vistos: {two} não está entre as divergências decididas"),
        (
            approve(client, user, [one], vistos={str(one): "abc"}),
            f"vistos.{one}: informe o token_valores que a lista ou o detalhe da divergência devolveu",
        ),
        (approve(client, user, [one], vistos={"um": token}), "vistos.um.[key]: informe um número inteiro"),
        (approve(client, user, [one], vistos=[token]), "vistos: informe um objeto JSON"),
        (
            client.post(reject_one, json={"motivo": "não procede", "vistos": {}}, headers=user),
            f"vistos: falta o token de {one}",
        ),
        (
            client.post(f"{API}/sessoes/1/rollback", json={"motivo": "desfazer", "vistos": {}}, headers=user),
            "vistos: campo não reconhecido",
        ),
    ]
    for response, msg in cases:
        assert response.status_code == 422, response.text
        assert [item["msg"] for item in response.json()["detail"]] == [msg]
    assert (status_of(db, one), status_of(db, two)) == ("DETECTED", "DETECTED")
    assert decisions_recorded(db) == (0, 0)


def test_a_sale_the_view_repeats_with_different_values_needs_an_explicit_value(client, as_user, db):
    add_sale(db, "NF_DUP", valor_bonus="300.00", bonus_dpto="100.00")
    db.execute("ALTER TABLE byd.incentivos DROP CONSTRAINT incentivos_pkey")
    db.execute("INSERT INTO byd.incentivos VALUES ('NF_DUP', '900.00', '0', 'SIM')")
    dup = detect(db)[("NF_DUP", "bonus_dpto")]
    user = as_user("controladora")

    response = approve(client, user, [dup])
    assert response.status_code == 409 and "repetida em byd.bonus_view" in response.json()["detail"]
    assert booked(db, "NF_DUP")[0] == "100.00"
    response = approve(client, user, [dup], valor="900.00", comentario="conferido na nota")
    assert response.status_code == 200 and response.json()["aprovadas"] == [dup]
    assert booked(db, "NF_DUP")[0] == "900.00"


def test_a_suggestion_that_is_not_the_source_value_needs_an_explicit_value(client, as_user, db):
    """The suggestion is stored in cents: for a reference of -0,004 or 1.234,567 approving it
    would write a value the source does not hold; a person may still type one."""
    add_sale(db, "NF_NEG", valor_bonus="-0.004", bonus_dpto="500.00")
    add_sale(db, "NF_MILS", valor_bonus="1234.567", bonus_dpto="1000.00")
    add_sale(db, "NF_BIG", valor_bonus="60000.004", bonus_dpto="0")
    ids = detect(db)
    neg, mils, big = (ids[(nf, "bonus_dpto")] for nf in ("NF_NEG", "NF_MILS", "NF_BIG"))
    for ident, reference in ((neg, "-0.004"), (mils, "1234.567"), (big, "60000.004")):
        response = approve(client, as_user("controladora"), [ident])
        assert response.status_code == 422, response.text
        assert f'"{reference}"' in response.json()["detail"] and "informe o valor" in response.json()["detail"]
    assert [booked(db, nf)[0] for nf in ("NF_NEG", "NF_MILS", "NF_BIG")] == ["500.00", "1000.00", "0"]
    assert db.execute("SELECT count(*) FROM audit.aprovacoes").fetchone()[0] == 0

    response = approve(client, as_user("controladora"), [mils], valor="1234.57", comentario="conferido na nota")
    assert response.status_code == 200 and response.json()["aprovadas"] == [mils]
    assert booked(db, "NF_MILS")[0] == "1234.57"


def test_two_people_approving_at_once_apply_it_once(client, as_user, db, review_db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    results: dict[str, int] = {}

    def approve_as(user: str) -> None:
        results[user] = approve(client, as_user(user), [one]).status_code

    # Hold the booked row so both requests are in flight together, then let them race.
    with psycopg.connect(review_db) as blocker:
        blocker.execute("SELECT 1 FROM byd.controladoria WHERE idnfsexterno = 'NF1' FOR UPDATE")
        threads = [threading.Thread(target=approve_as, args=(user,)) for user in ("controladora", "aprovador")]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting == 2:
                break
            time.sleep(0.05)
        assert waiting == 2, "both approvals should be waiting on locks"
        blocker.rollback()
    for thread in threads:
        thread.join(30)

    assert sorted(results.values()) == [200, 409]
    assert booked(db, "NF1")[0] == "1000.00"
    assert db.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM audit.aprovacoes").fetchone()[0] == 1
    history = db.execute(
        "SELECT count(*) FROM audit.historico_divergencias WHERE divergencia_id = %s AND status_novo = 'APPROVED'",
        (one,),
    ).fetchone()[0]
    assert history == 1


def test_an_approval_is_undone_by_the_rollback_dag(client, as_user, db, rollback_dag, smtp):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto=" 900,00 ")
    add_sale(db, "NF2", valor_bonus="2000.00", bonus_dpto=None)
    ids = detect(db)
    result = approve(client, as_user("controladora"), [ids[("NF1", "bonus_dpto")], ids[("NF2", "bonus_dpto")]]).json()
    assert (booked(db, "NF1")[0], booked(db, "NF2")[0]) == ("1000.00", "2000.00")

    run = rollback_dag.test(run_conf={"sessao_id": result["sessao_id"], "motivo": "aprovado por engano"})
    assert run.state == "success"
    assert (booked(db, "NF1")[0], booked(db, "NF2")[0]) == (" 900,00 ", None)
    assert {d["status_processamento"] for d in divergences(db)} == {"ROLLED_BACK"}
    ops = dict(
        db.execute("SELECT tipo_operacao, status FROM audit.operacoes WHERE tipo_operacao <> 'DETECT'").fetchall()
    )
    assert ops == {"APPROVE": "ROLLED_BACK", "ROLLBACK": "SUCCESS"}
    assert (
        db.execute("SELECT rollback_de FROM audit.operacoes WHERE tipo_operacao = 'ROLLBACK'").fetchone()[0]
        == result["operacao_id"]
    )
    sessions = client.get(f"{API}/auditoria/sessoes", headers=as_user("auditor")).json()["itens"]
    assert [
        (s["id"], s["correcoes_ativas"], s["disparado_por"], s["tipo_sessao_rotulo"])
        for s in sessions
        if s["tipo_sessao"] == "MANUAL_APPROVAL"
    ] == [(result["sessao_id"], 0, "controladora", "Aprovação manual")]


# --- rejections ----------------------------------------------------------------------------


def test_rejection_needs_a_reason_and_records_who(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    ids = detect(db)
    one, two = ids[("NF1", "bonus_dpto")], ids[("NF2", "bonus_dpto")]
    user = as_user("controladora")

    assert client.post(f"{API}/divergencias/{one}/rejeitar", json={}, headers=user).status_code == 422
    assert client.post(f"{API}/divergencias/{one}/rejeitar", json={"motivo": "  "}, headers=user).status_code == 422
    assert client.delete(f"{API}/divergencias/{one}/rejeitar", headers=user).status_code == 422
    assert client.post(f"{API}/divergencias/99999/rejeitar", json={"motivo": "xyz"}, headers=user).status_code == 404

    response = client.post(f"{API}/divergencias/{one}/rejeitar", json={"motivo": " nota correta "}, headers=user)
    assert response.status_code == 200, response.text
    response = client.delete(f"{API}/divergencias/{two}/rejeitar", params={"motivo": "bônus já pago"}, headers=user)
    assert response.status_code == 200, response.text
    rows = {d["id"]: d for d in divergences(db)}
    assert (rows[one]["status_processamento"], rows[one]["motivo_rejeicao"], rows[one]["processado_por"]) == (
        "REJECTED",
        "nota correta",
        "controladora",
    )
    assert rows[two]["motivo_rejeicao"] == "bônus já pago"
    assert booked(db, "NF1")[0] == "900.00"
    response = client.post(f"{API}/divergencias/{one}/rejeitar", json={"motivo": "de novo"}, headers=user)
    assert response.status_code == 409 and "REJECTED" in response.json()["detail"]
    rejects = db.execute(
        "SELECT usuario, metadata->>'motivo' FROM audit.operacoes WHERE tipo_operacao = 'REJECT' ORDER BY id"
    ).fetchall()
    assert rejects == [("controladora", "nota correta"), ("controladora", "bônus já pago")]


# What a page of another site can make the browser send with the user's cookie (SameSite=Lax
# lets it through on a top-level form POST): no preflight, no custom header, one of these types.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain")


def test_a_post_rejection_takes_its_reason_only_from_a_json_body(client, as_user, db):
    """A form of another site posting to rejeitar?motivo=… with an empty body rejected the
    divergence as the logged-in user. The URL still carries the reason for DELETE, which no
    form and no cross-origin fetch without a preflight can send."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    ids = detect(db)
    one, two = ids[("NF1", "bonus_dpto")], ids[("NF2", "bonus_dpto")]
    user = as_user("controladora")

    for content_type in FORM_TYPES:
        response = client.post(
            f"{API}/divergencias/{one}/rejeitar",
            params={"motivo": "rejeitada por outro site"},
            headers={**user, "Content-Type": content_type},
        )
        assert response.status_code == 422, (content_type, response.text)
        assert [item["msg"] for item in response.json()["detail"]] == ["corpo da requisição: obrigatório"]
    assert status_of(db, one) == "DETECTED"

    response = client.delete(f"{API}/divergencias/{two}/rejeitar", params={"motivo": "  "}, headers=user)
    assert [item["msg"] for item in response.json()["detail"]] == ["motivo: informe ao menos 3 caractere(s)"]
    response = client.delete(f"{API}/divergencias/{two}/rejeitar", params={"motivo": " bônus já pago "}, headers=user)
    assert response.status_code == 200, response.text
    assert [(d["id"], d["motivo_rejeicao"]) for d in divergences(db) if d["status_processamento"] == "REJECTED"] == [
        (two, "bônus já pago")
    ]


def form_encoded(content_type: str, body: dict) -> bytes:
    """``body`` as a form or a fetch of another site would carry it under ``content_type``."""
    text = json.dumps(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        return urlencode({key: json.dumps(value) for key, value in body.items()}).encode()
    if content_type.startswith("multipart/form-data"):
        parts = [
            f'--x\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{json.dumps(value)}\r\n'
            for key, value in body.items()
        ]
        return ("".join(parts) + "--x--\r\n").encode()
    return text.encode()  # text/plain, or a Blob without a type: no Content-Type at all


def test_no_post_route_acts_on_a_body_another_site_can_send(api_app, client, as_user, db):
    """Every POST route, as a logged-in user whose browser a page of another site drives:
    each JSON body, sent as a form, as text/plain or without a Content-Type (a fetch without
    a preflight), is refused and changes nothing; the same body as application/json works."""
    from starlette.routing import Mount

    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    add_sale(db, "NF3", valor_bonus="1000.00", bonus_dpto="700.00")
    ids = detect(db)
    one, two, three = (ids[(sale, "bonus_dpto")] for sale in ("NF1", "NF2", "NF3"))
    (plugin,) = [r.app for r in api_app.routes if isinstance(r, Mount) and r.path == "/divergencias"]
    bodies = {
        "/api/v1/divergencias/aprovar": ("/divergencias/aprovar", {"ids": [one]}),
        "/api/v1/divergencias/rejeitar": ("/divergencias/rejeitar", {"ids": [two], "motivo": "não procede"}),
        "/api/v1/divergencias/{divergencia_id}/rejeitar": (
            f"/divergencias/{three}/rejeitar",
            {"motivo": "não procede"},
        ),
        "/api/v1/divergencias/processar": ("/divergencias/processar", {"modo": "manual"}),
        "/api/v1/sessoes/{sessao_id}/rollback": ("/sessoes/1/rollback", {"motivo": "desfazer"}),
    }
    assert sorted(r.path for r in plugin.routes if "POST" in getattr(r, "methods", ())) == sorted(bodies)
    user = as_user("controladora")
    operations = "SELECT count(*) FROM audit.operacoes"
    before = (business_state(db), db.execute(operations).fetchone(), _run_count())

    for path, body in bodies.values():
        for content_type in (*FORM_TYPES, None):
            headers = {**user, "Content-Type": content_type} if content_type else user
            # A form without fields posts an empty body: the URL's query string is all it has.
            for content, refusal in (
                (form_encoded(content_type or "", body), "envie um objeto JSON com Content-Type: application/json"),
                (b"", "obrigatório"),
            ):
                response = client.post(API + path, params=body, content=content, headers=headers)
                assert response.status_code == 422, (path, content_type, content, response.text)
                assert [item["msg"] for item in response.json()["detail"]] == [f"corpo da requisição: {refusal}"]
    assert (business_state(db), db.execute(operations).fetchone(), _run_count()) == before

    for path, body in bodies.values():
        response = client.post(API + path, json=body, headers=user)
        assert response.status_code in (200, 201), (path, response.text)


# --- runs ----------------------------------------------------------------------------------


def _dag_run(run_id: str):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.run_id == run_id).one()
        return run.dag_id, run.conf, run.triggering_user_name, run.state


def _run_count() -> int:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).count()


def test_processar_validates_like_the_trigger_form_and_queues_a_run(client, as_user, db):
    user = as_user("controladora")
    for body in (
        {"data_inicio": "2026-11-01"},
        {"data_inicio": "2026-11-10", "data_fim": "2026-11-01"},
        {"modo": "rapido"},
        {"data_inicio": "2024-01-01", "data_fim": "2026-01-01"},
        {"data_inicio": "01/11/2026", "data_fim": "02/11/2026"},
    ):
        assert client.post(f"{API}/divergencias/processar", json=body, headers=user).status_code == 422, body

    response = client.post(
        f"{API}/divergencias/processar",
        json={"data_inicio": "2026-11-01", "data_fim": "2026-11-10", "modo": "manual"},
        headers=user,
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["url"] == f"http://localhost:8080/dags/divergencias_diarias/runs/{quote(result['dag_run_id'])}"
    dag_id, conf, who, state = _dag_run(result["dag_run_id"])
    assert (dag_id, who, state) == ("divergencias_diarias", "controladora", "queued")
    assert conf == {"data_inicio": "2026-11-01", "data_fim": "2026-11-10", "modo": "manual"}

    body = {
        "data_inicio": "2024-01-01",
        "data_fim": "2026-01-01",
        "permitir_periodo_longo": True,
        "confirmar_resolucao_em_massa": True,
    }
    response = client.post(f"{API}/divergencias/processar", json=body, headers=user)
    assert response.status_code == 201, response.text
    assert _dag_run(response.json()["dag_run_id"])[1] == {**body, "modo": "auto"}


def test_a_misspelled_field_is_refused_not_dropped(client, as_user, db):
    """{"value": ...} for "valor" would apply the rule's suggestion, {"mode": "manual"} for
    "modo" would queue an auto run: both answer 422 naming the field, and nothing happens."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    user = as_user("controladora")

    response = approve(client, user, [one], value="950.00")
    assert response.status_code == 422, response.text
    assert [item["msg"] for item in response.json()["detail"]] == ["value: campo não reconhecido"]
    assert status_of(db, one) == "DETECTED" and booked(db, "NF1")[0] == "900.00"

    runs_before = _run_count()
    for path, body in (
        ("/divergencias/processar", {"mode": "manual"}),
        ("/divergencias/rejeitar", {"ids": [one], "motivo": "não procede", "motive": "x"}),
        (f"/divergencias/{one}/rejeitar", {"motivo": "não procede", "ids": [one]}),
        ("/sessoes/1/rollback", {"motivo": "desfazer", "sessao_id": 2}),
    ):
        response = client.post(f"{API}{path}", json=body, headers=user)
        assert response.status_code == 422, (path, response.text)
        assert any(item["msg"].endswith("campo não reconhecido") for item in response.json()["detail"]), path
    assert status_of(db, one) == "DETECTED" and _run_count() == runs_before


def test_a_misspelled_filter_is_refused_not_ignored(client, as_user, db):
    """?status=DETECTED (the audit list's name) for status_processamento was ignored: the list
    answered the whole queue, and an export wrote every divergence, as if filtered."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    auditor = as_user("auditor")
    assert approve(client, as_user("controladora"), [one]).status_code == 200
    for path, params, unknown in (
        ("/divergencias", {"status": "DETECTED"}, "status"),
        ("/divergencias", {"status_processamento": "DETECTED", "idnfsexternos": "NF9"}, "idnfsexternos"),
        ("/relatorios/divergencias/export", {"formato": "csv", "tipo": "VALIDACAO_VALOR"}, "tipo"),
        ("/relatorios/divergencias/export", {"formato": "excel", "competência": "2026-11"}, "competência"),
        (f"/divergencias/{one}", {"historico": "false"}, "historico"),
        ("/auditoria/operacoes", {"status_operacao": "FAILED"}, "status_operacao"),
        ("/auditoria/sessoes", {"tipo": "MANUAL_RUN"}, "tipo"),
        ("/relatorios/metricas/performance", {"limite": "1"}, "limite"),
        ("/metricas/resumo", {"desde": "2026-11-01"}, "desde"),
    ):
        response = client.get(API + path, params=params, headers=auditor)
        assert response.status_code == 422, (path, params, response.status_code)
        assert [item["msg"] for item in response.json()["detail"]] == [f"{unknown}: campo não reconhecido"], path
    # without a login it is still a 401, whatever the query
    assert client.get(f"{API}/divergencias", params={"status": "DETECTED"}).status_code == 401


def test_rollback_route_triggers_the_rollback_dag(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    sessao = approve(client, as_user("controladora"), [one]).json()["sessao_id"]
    user = as_user("aprovador")

    assert client.post(f"{API}/sessoes/99999/rollback", json={"motivo": "teste"}, headers=user).status_code == 404
    (running,) = db.execute(
        """INSERT INTO audit.sessoes_processamento (tipo_sessao, status, inicio_processamento)
           VALUES ('MANUAL_RUN', 'RUNNING', now() AT TIME ZONE 'America/Sao_Paulo') RETURNING id"""
    ).fetchone()
    response = client.post(f"{API}/sessoes/{running}/rollback", json={"motivo": "teste"}, headers=user)
    assert response.status_code == 409 and "em execução" in response.json()["detail"], response.text
    assert client.post(f"{API}/sessoes/{sessao}/rollback", json={}, headers=user).status_code == 422
    response = client.post(f"{API}/sessoes/{sessao}/rollback", json={"motivo": "valor errado"}, headers=user)
    assert response.status_code == 201, response.text
    dag_id, conf, who, _ = _dag_run(response.json()["dag_run_id"])
    assert (dag_id, conf, who) == (
        "divergencias_rollback",
        {"sessao_id": sessao, "motivo": "valor errado"},
        "aprovador",
    )


# --- exports, metrics, audit -------------------------------------------------------------


def test_excel_export_shows_control_characters_instead_of_failing(client, as_user, db):
    add_sale(db, "NF\x01BELL", valor_bonus="1000.00", bonus_dpto="900.00")
    detect(db)
    response = client.get(
        f"{API}/relatorios/divergencias/export", params={"formato": "excel"}, headers=as_user("auditor")
    )
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert [row[2].value for row in sheet.iter_rows(min_row=2)] == ["NF\ufffdBELL"]


def test_csv_and_excel_exports(client, as_user, db):
    add_sale(db, "=HYPERLINK(1)", valor_bonus="1000.00", bonus_dpto="-10,50")
    add_sale(db, "NF2", valor_bonus="70000.00", bonus_dpto="1.234,56")
    detect(db)
    auditor = as_user("auditor")

    response = client.get(f"{API}/relatorios/divergencias/export", params={"formato": "csv"}, headers=auditor)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0])[:17] == [
        "id",
        "sessao_id",
        "idnfsexterno",
        "tipo_divergencia",
        "campo_afetado",
        "valor_original",
        "valor_anterior",
        "valor_sugerido",
        "valor_aplicado",
        "competencia",
        "status_processamento",
        "confidence_score",
        "regras_aplicadas",
        "detectado_em",
        "processado_em",
        "processado_por",
        "motivo_rejeicao",
    ]
    trade = {(r["idnfsexterno"], r["tipo_divergencia"]): r for r in rows}
    hyperlink = trade[("'=HYPERLINK(1)", "TRADE_MARKETING_BONUS")]
    assert hyperlink["valor_original"] == "-10,50" and hyperlink["valor_anterior"] == "-10.50"  # a number
    assert trade[("NF2", "TRADE_MARKETING_BONUS")]["valor_sugerido"] == "70000.00"
    filtered = client.get(
        f"{API}/relatorios/divergencias/export", params={"formato": "csv", "idnfsexterno": "NF2"}, headers=auditor
    )
    assert {r["idnfsexterno"] for r in csv.DictReader(io.StringIO(filtered.content.decode("utf-8-sig")))} == {"NF2"}

    # identity: Airflow's gzip middleware would otherwise replace the file's length.
    plain = {**auditor, "Accept-Encoding": "identity"}
    response = client.get(f"{API}/relatorios/divergencias/export", params={"formato": "excel"}, headers=plain)
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX and int(response.headers["content-length"]) == len(response.content)
    assert response.headers["content-disposition"].endswith(f'divergencias_{_sao_paulo_today()}.xlsx"')
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["Divergências"]
    sheet = workbook.active
    header = [c.value for c in sheet[1]]
    assert header == [
        "ID",
        "Sessão",
        "Nota fiscal (idnfsexterno)",
        "Tipo de divergência",
        "Campo afetado",
        "Valor original (texto)",
        "Valor anterior",
        "Valor sugerido",
        "Valor aplicado",
        "Competência",
        "Status",
        "Confiança",
        "Regras aplicadas",
        "Detectado em",
        "Processado em",
        "Processado por",
        "Motivo da rejeição",
        "Regra",
        "Diferença",
    ]
    assert sheet.freeze_panes == "A2"
    assert [sheet.column_dimensions[c[0].column_letter].width for c in sheet.iter_cols(max_row=1)] == [
        max(12, len(h) + 2) for h in header
    ]
    by_nf = {row[2].value: row for row in sheet.iter_rows(min_row=2) if row[3].value == "TRADE_MARKETING_BONUS"}
    money = by_nf["NF2"][header.index("Valor sugerido")]
    assert money.value == 70000 and "R$" in money.number_format
    assert by_nf["NF2"][header.index("Valor anterior")].value == 1234.56  # Excel keeps numbers as doubles
    detected = by_nf["NF2"][header.index("Detectado em")]
    assert isinstance(detected.value, datetime) and detected.number_format.startswith("dd/mm/yyyy")
    assert by_nf["'=HYPERLINK(1)"][header.index("Valor original (texto)")].value == "-10,50"
    # Every row, every money and date cell: the database's value (money to the cent, as the
    # nearest double, which is all a cell holds) in the BRL or date format, empty ones too.
    stored = {d["id"]: d for d in divergences(db)}
    rows = list(sheet.iter_rows(min_row=2))
    assert sorted(row[0].value for row in rows) == sorted(stored)
    for row in rows:
        divergence = stored[row[0].value]
        for column in ("Valor anterior", "Valor sugerido", "Valor aplicado"):
            cell, value = row[header.index(column)], divergence[column.lower().replace(" ", "_")]
            assert cell.number_format == '"R$" #,##0.00;-"R$" #,##0.00'
            assert cell.value is None if value is None else Decimal(str(cell.value)) == value
        for column in ("Detectado em", "Processado em"):
            assert row[header.index(column)].number_format == "dd/mm/yyyy hh:mm:ss"
        # cut to the second, as the run's CSV writes it
        assert row[header.index("Detectado em")].value == divergence["detectado_em"].replace(microsecond=0)
    assert (
        client.get(f"{API}/relatorios/divergencias/export", params={"formato": "pdf"}, headers=auditor).status_code
        == 422
    )


def stored_cells(xlsx: bytes) -> dict[str, str | None]:
    """Each numeric cell of the sheet by reference (H2), as the file holds it: the text of
    its <v>, before any reader turns it into a float."""
    import zipfile
    from xml.etree import ElementTree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        root = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    return {c.get("r"): c.findtext(f"{main}v") for c in root.iter(f"{main}c") if c.get("t") == "n"}


def test_excel_cells_hold_money_to_the_cent(client, as_user, db):
    """openpyxl writes a Decimal as "%.16g" of its float: 81794322.29 was stored as
    81794322.29000001, and so read by whatever opened the file other than Excel's own display."""
    from openpyxl.utils import get_column_letter

    add_sale(db, "NF1", valor_bonus="81794322.29", bonus_dpto="12345678901.23")
    add_sale(db, "NF2", valor_bonus="0.30", bonus_dpto="0.1")
    add_sale(db, "NF3", valor_bonus="9400325007361.38", bonus_dpto="571078398.18")
    detect(db)
    auditor = as_user("auditor")
    listed = client.get(f"{API}/divergencias", params={"ordenar": "id"}, headers=auditor).json()["itens"]
    response = client.get(
        f"{API}/relatorios/divergencias/export", params={"formato": "excel", "ordenar": "id"}, headers=auditor
    )
    header = [c.value for c in openpyxl.load_workbook(io.BytesIO(response.content)).active[1]]
    cells = stored_cells(response.content)
    numbers = ("valor_anterior", "valor_sugerido", "valor_aplicado", "diferenca", "confidence_score")
    columns = {
        field: get_column_letter(header.index(label) + 1)
        for field, label in zip(
            numbers, ("Valor anterior", "Valor sugerido", "Valor aplicado", "Diferença", "Confiança"), strict=True
        )
    }
    for line, divergence in enumerate(listed, start=2):
        for field, column in columns.items():
            assert cells[f"{column}{line}"] == divergence[field], (divergence["idnfsexterno"], field)
    assert {"81794322.29", "12345678901.23", "0.30", "9400325007361.38", "571078398.18"} <= set(cells.values())


def test_exports_write_times_as_the_run_csv_does_whatever_the_database_datestyle(
    client, as_user, db, review_db, tmp_path
):
    """The run's CSV writes a time as YYYY-MM-DD HH:MI:SS, cut to the second. The exports
    rounded it (23:59:59.7 became the next day's 00:00:00) and the CSV followed the server's
    DateStyle ("11/11/2026 00:00:00" under 'SQL, DMY')."""
    from divergencias.report import write_report

    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    detect(db)
    db.execute(
        """UPDATE audit.divergencias_processadas
              SET detectado_em = '2026-11-10 23:59:59.7', processado_em = '2026-11-30 08:15:00.5'"""
    )
    dbname = psycopg.conninfo.conninfo_to_dict(review_db)["dbname"]
    db.execute(f"ALTER DATABASE \"{dbname}\" SET datestyle = 'SQL, DMY'")
    (divergence,) = divergences(db)
    with psycopg.connect(review_db) as conn:  # a new connection, in the database's DateStyle
        write_report(conn, divergence["sessao_id"], tmp_path / "execucao.csv")
    (run_row,) = csv.DictReader(io.StringIO((tmp_path / "execucao.csv").read_text(encoding="utf-8-sig")))
    assert (run_row["detectado_em"], run_row["processado_em"]) == ("2026-11-10 23:59:59", "2026-11-30 08:15:00")

    url, auditor = f"{API}/relatorios/divergencias/export", as_user("auditor")
    response = client.get(url, params={"formato": "csv"}, headers=auditor)
    (row,) = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert (row["detectado_em"], row["processado_em"]) == (run_row["detectado_em"], run_row["processado_em"])
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(url, params={"formato": "excel"}, headers=auditor).content))
    header = [c.value for c in sheet.active[1]]
    (cells,) = sheet.active.iter_rows(min_row=2, values_only=True)
    assert cells[header.index("Detectado em")] == datetime(2026, 11, 10, 23, 59, 59)
    assert cells[header.index("Processado em")] == datetime(2026, 11, 30, 8, 15)


def many_divergences(conn: psycopg.Connection, sales: int) -> int:
    """``sales`` sales each booked with a bonus other than the incentive's (one divergence
    each, cents varying), detected by a real run; the number of divergences."""
    conn.execute(
        """INSERT INTO byd.vendas (idnfsexterno, dta_processamento, data_final_venda)
           SELECT 'NF' || i, %(day)s, %(day)s FROM generate_series(1, %(n)s) AS i""",
        {"day": datetime(2026, 11, 10, 9), "n": sales},
    )
    conn.execute(
        """INSERT INTO byd.incentivos (idnfsexterno, valor_bonus, trade, bonus_utilizado)
           SELECT 'NF' || i, (1000 + i * 0.37)::numeric(15, 2)::text, '0', 'SIM' FROM generate_series(1, %(n)s) AS i""",
        {"n": sales},
    )
    conn.execute(
        """INSERT INTO byd.controladoria (idnfsexterno, bonus_dpto, trade_mkt_dpto)
           SELECT 'NF' || i, '900.00', '0' FROM generate_series(1, %(n)s) AS i""",
        {"n": sales},
    )
    detect(conn)
    return conn.execute("SELECT count(*) FROM audit.divergencias_processadas").fetchone()[0]


def sheet_rows(xlsx: bytes) -> int:
    """Rows of the workbook's sheet, header included, read as a stream."""
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True)
    try:
        return sum(1 for _ in workbook.active.iter_rows(values_only=True))
    finally:
        workbook.close()


def other_connections(conn: psycopg.Connection) -> int:
    """Backends on the test's database besides ``conn``; a closed one can take a moment to go."""
    deadline = time.monotonic() + 10
    while True:
        count = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def files_open_under(folder: Path) -> list[str]:
    """What this process holds open inside ``folder`` (an unlinked file included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{folder}/"):
                found.append(target)
    return found


def leave_after_first_chunk(client, url: str, headers: dict[str, str]) -> list[dict]:
    """GET ``url`` through the real app as a browser that takes the first chunk of the body
    and goes away: the ASGI messages uvicorn gives the app (spec 2.3: http.disconnect)."""
    import anyio

    sent: list[dict] = []
    path, _, query = url.partition("?")

    async def run() -> None:
        first_chunk = anyio.Event()
        requested = False

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await first_chunk.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                first_chunk.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            # identity: the gzip middleware would hold the first chunks back
            "headers": [(b"host", b"testserver"), (b"accept-encoding", b"identity")]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("testclient", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        await client.app(scope, receive, send)

    client.portal.call(run)
    return sent


def test_exports_answer_503_when_the_database_cannot_be_reached(client, as_user, monkeypatch):
    auditor = as_user("auditor")
    with socket.socket() as refusing:  # bound but never listening: every connection is refused
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_FINANCIAL_DB", f"postgresql://nobody:nothing@127.0.0.1:{port}/nothing?connect_timeout=2"
        )
        listing = client.get(f"{API}/divergencias", headers=auditor)
        assert listing.status_code == 503
        for formato in ("csv", "excel"):
            response = client.get(f"{API}/relatorios/divergencias/export", params={"formato": formato}, headers=auditor)
            assert response.status_code == 503, formato
            assert response.json() == listing.json() == {"detail": "Banco financial_db indisponível."}


def test_excel_refuses_more_rows_than_a_sheet_holds_before_writing_any(client, as_user, db, monkeypatch, tmp_path):
    from divergencias.review import exports

    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    add_sale(db, "NF3", valor_bonus="1000.00", bonus_dpto="700.00")
    detect(db)
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 2)  # a sheet of two rows stands for Excel's 1,048,575
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    auditor = as_user("auditor")
    url = f"{API}/relatorios/divergencias/export"
    response = client.get(url, params={"formato": "excel"}, headers=auditor)
    assert response.status_code == 422
    assert response.json() == {"detail": "Linhas demais para uma planilha Excel: filtre mais ou use CSV."}
    assert list(tmp_path.iterdir()) == [] and files_open_under(tmp_path) == []
    assert other_connections(db) == 0
    two = client.get(url, params={"formato": "excel", "diferenca_minima": "200"}, headers=auditor)
    assert two.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(two.content)).active.max_row == 3  # header and the two rows


def test_exports_leave_no_connection_or_file_behind_when_the_client_goes_away(
    client, as_user, db, monkeypatch, tmp_path
):
    rows = many_divergences(db, 3000)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the workbook's temporary files land here
    auditor = as_user("auditor")
    url = f"{API}/relatorios/divergencias/export"

    complete = client.get(url, params={"formato": "excel"}, headers=auditor)
    assert complete.status_code == 200
    assert sheet_rows(complete.content) == rows + 1
    assert list(tmp_path.iterdir()) == [] and files_open_under(tmp_path) == []
    assert other_connections(db) == 0

    for formato in ("csv", "excel"):
        whole = client.get(url, params={"formato": formato}, headers={**auditor, "Accept-Encoding": "identity"})
        sent = leave_after_first_chunk(client, f"{url}?formato={formato}", auditor)
        assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200, formato
        # Cut off mid-stream: far from the whole body went out.
        assert 0 < sum(len(m.get("body", b"")) for m in sent) < len(whole.content) / 2, formato
        assert other_connections(db) == 0, formato
        assert list(tmp_path.iterdir()) == [] and files_open_under(tmp_path) == [], formato


def test_excel_memory_does_not_follow_the_rows(db, tmp_path, monkeypatch):
    """Before, every row of the sheet was in memory several times over (a list of dicts, a
    DataFrame, a whole workbook): about 10 KB a row. Now one batch of the cursor is."""
    from divergencias.review import exports

    rows = many_divergences(db, 5000)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tracemalloc.start()
    try:
        export = exports.excel_file({}, "id")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        content = b"".join(export.chunks)
    finally:
        export.close()
    assert sheet_rows(content) == rows + 1
    # 5000 rows at the old ~10 KB each would be ~50 MB; a batch of 2000 rows is a few MB.
    assert peak < 12 * 2**20, f"{peak / 2**20:.1f} MiB for {rows} rows"


def test_metrics_and_audit_lists(client, as_user, db):
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    ids = detect(db)
    approve(client, as_user("controladora"), [ids[("NF1", "bonus_dpto")]])
    auditor = as_user("auditor")

    summary = client.get(f"{API}/metricas/resumo", headers=auditor).json()
    assert summary["divergencias_abertas"] == 1 and summary["criticidade"] == "BAIXA"
    assert summary["por_status"] == {"APPROVED": 1, "DETECTED": 1}
    assert summary["abertas_por_regra"] == [
        {
            "tipo_divergencia": "TRADE_MARKETING_BONUS",
            "regra": "Bônus contabilizado diferente do registrado",
            "regra_ativa": True,
            "total": 1,
            "diferenca_total": "200.00",
        }
    ]
    assert summary["ultima_execucao"]["tipo_sessao"] == "MANUAL_RUN" and summary["diferenca_aberta_total"] == "200.00"
    daily = client.get(f"{API}/metricas/diarias", headers=auditor).json()
    assert daily == [
        {
            "dia": _sao_paulo_today(),
            "tipo_divergencia": "TRADE_MARKETING_BONUS",
            "regra": "Bônus contabilizado diferente do registrado",
            "total": 2,
        }
    ]
    performance = client.get(f"{API}/relatorios/metricas/performance", headers=auditor).json()
    assert [p["tipo_sessao"] for p in performance] == ["MANUAL_RUN"]
    assert performance[0]["total_registros_analisados"] == 2

    ops = client.get(f"{API}/auditoria/operacoes", params={"tipo_operacao": "APPROVE"}, headers=auditor).json()
    assert ops["total"] == 1 and ops["itens"][0]["usuario"] == "controladora"
    assert ops["itens"][0]["campos_gravados"] == 1 and "dados_posteriores" not in ops["itens"][0]
    assert client.get(f"{API}/auditoria/operacoes", params={"usuario": "ninguem"}, headers=auditor).json() == {
        "total": 0,
        "limit": 100,
        "offset": 0,
        "itens": [],
    }
    sessions = client.get(f"{API}/auditoria/sessoes", params={"limit": 1}, headers=auditor).json()
    assert sessions["total"] == 2 and [s["tipo_sessao"] for s in sessions["itens"]] == ["MANUAL_APPROVAL"]
    second = client.get(f"{API}/auditoria/sessoes", params={"limit": 1, "offset": 1}, headers=auditor).json()
    assert [s["tipo_sessao"] for s in second["itens"]] == ["MANUAL_RUN"]


def test_audit_lists_count_their_matches_when_the_offset_is_past_the_end(client, as_user, db):
    """total is what the filters match, whatever the page: a page past the end is empty but
    still says how many there are (it said 0, as if the audit trail had been emptied)."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    ids = detect(db)
    approve(client, as_user("controladora"), [ids[("NF1", "bonus_dpto")]])
    auditor = as_user("auditor")
    sessions = client.get(f"{API}/auditoria/sessoes", params={"offset": 10}, headers=auditor).json()
    assert sessions == {"total": 2, "limit": 50, "offset": 10, "itens": []}
    ops = client.get(f"{API}/auditoria/operacoes", params={"offset": 500}, headers=auditor)
    everything = client.get(f"{API}/auditoria/operacoes", headers=auditor).json()
    assert everything["total"] >= 1
    assert ops.json() == {"total": everything["total"], "limit": 100, "offset": 500, "itens": []}
    # the divergence list already counted apart from its page
    listing = client.get(f"{API}/divergencias", params={"offset": 100}, headers=auditor).json()
    assert listing["total"] == 1 and listing["itens"] == []


def test_dashboard_days_and_times_are_sao_paulo_whatever_the_database_zone(client, as_user, db, review_db):
    """Times the pipeline records are São Paulo wall time; the summary's gerado_em and the
    daily chart's window were the database server's zone (UTC in most servers: gerado_em
    three hours ahead of every other time shown, the window a day off in the evening)."""
    from zoneinfo import ZoneInfo

    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    detect(db)
    sao_paulo_today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    db.execute(
        "UPDATE audit.divergencias_processadas SET detectado_em = %s",
        (datetime.combine(sao_paulo_today - timedelta(days=29), datetime.min.time()) + timedelta(hours=12),),
    )
    dbname = psycopg.conninfo.conninfo_to_dict(review_db)["dbname"]
    db.execute(f"ALTER DATABASE \"{dbname}\" SET timezone = 'Etc/GMT-14'")
    auditor = as_user("auditor")
    summary = client.get(f"{API}/metricas/resumo", headers=auditor).json()
    generated = datetime.fromisoformat(summary["gerado_em"])
    now_sao_paulo = datetime.now(ZoneInfo("America/Sao_Paulo")).replace(tzinfo=None)
    assert abs(generated - now_sao_paulo) < timedelta(minutes=2), (generated, now_sao_paulo)
    daily = client.get(f"{API}/metricas/diarias", params={"dias": 30}, headers=auditor).json()
    assert [d["dia"] for d in daily] == [(sao_paulo_today - timedelta(days=29)).isoformat()]


def test_metrics_summary_refuses_a_missing_or_invalid_level_naming_it(client, as_user, db):
    """With no open divergence the level is BAIXA; a deactivated or invalid level used to be
    compared with NULL and report ATENÇÃO. Now: 503 naming the setting, whichever level it is."""
    auditor = as_user("auditor")
    assert client.get(f"{API}/metricas/resumo", headers=auditor).json()["criticidade"] == "BAIXA"
    broken = (
        (
            "pendentes_nivel_atencao",
            "UPDATE audit.configuracoes_sistema SET ativo = false WHERE chave = %s",
            "UPDATE audit.configuracoes_sistema SET ativo = true WHERE chave = %s",
            "ausente ou inativa",
        ),
        (
            "pendentes_nivel_critico",
            "UPDATE audit.configuracoes_sistema SET ativo = false WHERE chave = %s",
            "UPDATE audit.configuracoes_sistema SET ativo = true WHERE chave = %s",
            "ausente ou inativa",
        ),
        (
            "pendentes_nivel_atencao",
            """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, versao, ativo, criado_por)
            SELECT chave, 'dez', tipo_valor, max(versao) + 1, true, 'teste'
              FROM audit.configuracoes_sistema WHERE chave = %s GROUP BY chave, tipo_valor""",
            "DELETE FROM audit.configuracoes_sistema WHERE chave = %s AND criado_por = 'teste'",
            "inválida",
        ),
    )
    # committed (the API reads on its own connection), then undone before the next case
    for key, breaking, repairing, says in broken:
        db.execute(breaking, (key,))
        response = client.get(f"{API}/metricas/resumo", headers=auditor)
        db.execute(repairing, (key,))
        assert response.status_code == 503, (key, breaking, response.text)
        assert f'"{key}"' in response.json()["detail"] and says in response.json()["detail"], response.text
    assert client.get(f"{API}/metricas/resumo", headers=auditor).json()["criticidade"] == "BAIXA"


# --- pt-BR validation messages -----------------------------------------------------------


def test_validation_errors_name_the_field_in_portuguese(client, as_user, db):
    """The page shows each ``detail[].msg`` as it comes: pydantic's English must not reach it."""
    user = as_user("controladora")

    def messages(response) -> list[str]:
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert all(set(item) == {"type", "loc", "msg"} for item in detail), detail
        return [item["msg"] for item in detail]

    assert messages(approve(client, user, [1], valor="1.234,56")) == [
        "valor: informe um número decimal com ponto antes dos centavos (ex.: 1234.56)"
    ]
    assert messages(approve(client, user, [1], valor="12.345")) == ["valor: no máximo 2 casas decimais"]
    assert messages(approve(client, user, [1], valor="-1")) == ["valor: deve ser maior ou igual a 0"]
    assert messages(approve(client, user, [])) == ["ids: informe ao menos 1 item(ns)"]
    assert messages(approve(client, user, [0, 2])) == ["ids[0]: deve ser maior que 0"]
    assert messages(approve(client, user, [1, 2], valor="10.00")) == [
        "valor só pode ser informado ao aprovar uma única divergência"
    ]
    processing = f"{API}/divergencias/processar"
    assert messages(client.post(processing, json={"data_inicio": "2026-11-01"}, headers=user)) == [
        "informe data_inicio e data_fim juntas, ou nenhuma das duas"
    ]
    assert messages(client.post(processing, json={"modo": "rapido"}, headers=user)) == [
        "modo: valor não aceito; use 'auto' ou 'manual'"
    ]
    assert messages(
        client.post(processing, json={"data_inicio": "01/11/2026", "data_fim": "2026-11-02"}, headers=user)
    ) == ["data_inicio: informe uma data no formato AAAA-MM-DD (ex.: 2026-11-30)"]
    assert messages(client.post(f"{API}/sessoes/1/rollback", json={}, headers=user)) == ["motivo: obrigatório"]
    assert messages(
        client.post(f"{API}/sessoes/1/rollback", content=b"{", headers={**user, "Content-Type": "application/json"})
    ) == ["corpo da requisição: JSON inválido"]
    listing = f"{API}/divergencias"
    assert messages(client.get(listing, params={"limit": 0}, headers=user)) == ["limit: deve ser maior ou igual a 1"]
    assert messages(client.get(listing, params={"competencia": "Novembro"}, headers=user)) == [
        "competencia: use o formato AAAA-MM (ex.: 2026-11)"
    ]
    assert messages(client.get(listing, params={"diferenca_minima": "1,5"}, headers=user)) == [
        "diferenca_minima: informe um número decimal com ponto antes dos centavos (ex.: 1234.56)"
    ]
    assert messages(client.get(listing, params={"diferenca_minima": "NaN"}, headers=user)) == [
        "diferenca_minima: informe um número finito"
    ]
    assert messages(client.get(listing, params={"diferenca_minima": "0.001"}, headers=user)) == [
        "diferenca_minima: no máximo 2 casas decimais"
    ]
    # a month that does not exist matched nothing and answered an empty list
    for competencia in ("2026-13", "2026-00", "２０２６-１１"):
        assert messages(client.get(listing, params={"competencia": competencia}, headers=user)) == [
            "competencia: use o formato AAAA-MM (ex.: 2026-11)"
        ], competencia
    assert messages(client.get(f"{API}/divergencias/abc", headers=user)) == [
        "divergencia_id: informe um número inteiro"
    ]


def test_out_of_range_numbers_and_nul_characters_are_refused_not_a_500(api_app, as_user, db):
    """Ids are PostgreSQL integers, offsets bigints, and text cannot hold a NUL character:
    such input reached the database and came back as a bare 500 "Internal Server Error"."""
    from fastapi.testclient import TestClient

    client = TestClient(api_app, raise_server_exceptions=False)
    user = as_user("controladora")
    too_big = 2**31
    requests = [
        ("GET", f"/divergencias/{too_big}", None),
        ("GET", f"/divergencias?offset={2**63}", None),
        ("GET", f"/auditoria/operacoes?sessao_id={too_big}", None),
        ("GET", f"/auditoria/sessoes?offset={2**63}", None),
        ("GET", "/divergencias?diferenca_minima=1e1000000", None),
        ("GET", "/divergencias?diferenca_minima=1e-1000000", None),
        ("GET", "/relatorios/divergencias/export?formato=csv&diferenca_minima=1e1000000", None),
        ("GET", "/divergencias?idnfsexterno=NF%00", None),
        ("GET", "/divergencias?tipo_divergencia=%00", None),
        ("GET", "/relatorios/divergencias/export?formato=csv&idnfsexterno=%00", None),
        ("GET", "/auditoria/operacoes?usuario=%00", None),
        ("POST", "/divergencias/aprovar", {"ids": [too_big]}),
        ("POST", "/divergencias/aprovar", {"ids": [1], "comentario": "ok\x00"}),
        ("POST", "/divergencias/1/rejeitar", {"motivo": "motivo\x00"}),
        ("DELETE", "/divergencias/1/rejeitar?motivo=motivo%00", None),
        ("POST", "/divergencias/rejeitar", {"ids": [too_big], "motivo": "motivo"}),
        ("POST", f"/divergencias/{too_big}/rejeitar", {"motivo": "motivo"}),
        ("POST", f"/sessoes/{too_big}/rollback", {"motivo": "motivo"}),
        ("POST", "/sessoes/1/rollback", {"motivo": "motivo\x00"}),
    ]
    for method, path, body in requests:
        response = client.request(method, API + path, json=body, headers=user)
        assert response.status_code == 422, (method, path, response.status_code, response.text)
        assert response.json()["detail"], (method, path)
    response = client.post(f"{API}/divergencias/1/rejeitar", json={"motivo": "motivo\x00"}, headers=user)
    assert [d["msg"] for d in response.json()["detail"]] == ["motivo: o caractere nulo (\\x00) não é aceito"]


def test_refusals_show_money_the_pt_br_way(client, as_user, db):
    """The page shows a refusal's detail as it comes: its amounts are R$ 1.234,56, not the
    API's decimal text ("valor 100000.01 inválido (deve estar entre 0 e 100000)")."""
    add_sale(db, "NF_NEG", valor_bonus="1000.00", bonus_dpto="-5")
    add_sale(db, "NF_BIG", valor_bonus="90000.00", bonus_dpto="10000.00")
    ids = detect(db)
    neg = next(d["id"] for d in divergences(db, "NF_NEG") if d["tipo_divergencia"] == "VALIDACAO_VALOR")
    big = ids[("NF_BIG", "bonus_dpto")]
    response = approve(client, as_user("controladora"), [neg], valor="100000.01")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"Divergência {neg}: valor R$\xa0100.000,01 inválido (deve estar entre R$\xa00,00 e R$\xa0100.000,00)."
    )
    assert approve(client, as_user("controladora"), [big]).json()["aguardando_segunda_aprovacao"] == [big]
    response = approve(client, as_user("aprovador"), [big], valor="85000")
    assert response.status_code == 409
    assert "foi para R$\xa090.000,00, não R$\xa085.000,00" in response.json()["detail"]


def test_a_sale_period_ending_before_it_starts_is_refused_not_an_empty_list(client, as_user, db):
    """Dates typed the wrong way round answered an empty list (and empty exports): a
    controller read "Nenhuma divergência" for a queue that had some. Now a 422 that says so,
    as processar does."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    detect(db)
    swapped = {"data_inicio": "2026-11-30", "data_fim": "2026-11-01"}
    for path in ("/divergencias", "/relatorios/divergencias/export", "/auditoria/operacoes"):
        response = client.get(API + path, params=swapped, headers=as_user("auditor"))
        assert response.status_code == 422, (path, response.status_code)
        assert "data_fim anterior a data_inicio" in response.text, path
    same_day = {"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}
    assert client.get(f"{API}/divergencias", params=same_day, headers=as_user("auditor")).json()["total"] == 1


def test_the_lists_total_and_rows_come_from_one_snapshot(client, as_user, db, monkeypatch):
    """total and the page are two queries: a decision committed between them (another person,
    a run) made a page whose rows disagreed with its total (total 2, one row)."""
    from divergencias.review import queries

    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    add_sale(db, "NF2", valor_bonus="1000.00", bonus_dpto="800.00")
    ids = detect(db)
    built = []
    original = queries.filtered

    def filtered_then_someone_decides(query):
        built.append(query)
        if len(built) == 2:  # the count ran; the page has not
            db.execute(
                "UPDATE audit.divergencias_processadas SET status_processamento = 'REJECTED' WHERE id = %s",
                (ids[("NF1", "bonus_dpto")],),
            )
        return original(query)

    monkeypatch.setattr(queries, "filtered", filtered_then_someone_decides)
    page = client.get(
        f"{API}/divergencias", params={"status_processamento": "DETECTED"}, headers=as_user("auditor")
    ).json()
    assert len(built) == 2
    assert page["total"] == len(page["itens"]) == 2


def test_a_paused_dag_is_not_triggered_as_if_it_would_run(client, as_user, db):
    """Deployments create DAGs paused (docker-compose: DAGS_ARE_PAUSED_AT_CREATION), and the
    manual-only rollback DAG may never be unpaused: the API answered 201 "disparado" for a
    run that would wait in the queue for good. Now a 409 that names the paused DAG."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    sessao = approve(client, as_user("controladora"), [one]).json()["sessao_id"]
    admin, user = as_user("admin"), as_user("controladora")
    requests = {
        "divergencias_diarias": (f"{API}/divergencias/processar", {"modo": "manual"}),
        "divergencias_rollback": (f"{API}/sessoes/{sessao}/rollback", {"motivo": "aprovado por engano"}),
    }
    for dag_id, (url, body) in requests.items():
        assert client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": True}, headers=admin).status_code == 200
        try:
            response = client.post(url, json=body, headers=user)
        finally:
            client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=admin)
        assert response.status_code == 409, (dag_id, response.text)
        assert f"A DAG {dag_id} está pausada" in response.json()["detail"]
        assert client.post(url, json=body, headers=user).status_code == 201


def test_a_rule_switched_off_is_marked_wherever_the_api_shows_the_catalog(client, as_user, db):
    """With ativo = false a rule's open divergences wait for a person, unjudged: the catalog,
    the detail and the dashboard say which rule is off, and the detail says why it waits."""
    add_sale(db, "NF1", valor_bonus="1000.00", bonus_dpto="900.00")
    one = detect(db)[("NF1", "bonus_dpto")]
    db.execute("UPDATE audit.regras_divergencia SET ativo = false WHERE codigo = 'TRADE_MARKETING_BONUS'")
    detect(db)
    auditor = as_user("auditor")

    rules = {r["codigo"]: r["ativo"] for r in client.get(f"{API}/regras", headers=auditor).json()}
    assert rules["TRADE_MARKETING_BONUS"] is False and rules["VALOR_INVALIDO"] is True
    detail = client.get(f"{API}/divergencias/{one}", headers=auditor).json()
    assert detail["status_processamento"] == "DETECTED" and detail["regra"]["ativo"] is False
    assert "inativa" in detail["dados_contextuais"]["motivo_nao_avaliada"]
    (bucket,) = client.get(f"{API}/metricas/resumo", headers=auditor).json()["abertas_por_regra"]
    assert (bucket["tipo_divergencia"], bucket["regra_ativa"]) == ("TRADE_MARKETING_BONUS", False)


def test_metrics_summary_refuses_an_attention_level_above_the_critical_one(client, as_user, db):
    """The daily run refuses pendentes_nivel_atencao > pendentes_nivel_critico at its first
    task; the API compared them anyway and reported a criticality from contradictory levels
    (30 pending with levels 40/20: BAIXA). Now a 503 naming both, as the run says it."""
    auditor = as_user("auditor")
    db.execute(
        """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, versao, ativo, criado_por)
           SELECT chave, '40', tipo_valor, max(versao) + 1, true, 'teste'
             FROM audit.configuracoes_sistema WHERE chave = 'pendentes_nivel_atencao' GROUP BY chave, tipo_valor"""
    )
    response = client.get(f"{API}/metricas/resumo", headers=auditor)
    db.execute("DELETE FROM audit.configuracoes_sistema WHERE criado_por = 'teste'")
    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert '"pendentes_nivel_atencao" (40) acima de "pendentes_nivel_critico" (20)' in detail, detail
    assert client.get(f"{API}/metricas/resumo", headers=auditor).json()["criticidade"] == "BAIXA"
