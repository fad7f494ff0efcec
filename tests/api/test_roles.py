"""Who may call what, for each role of Airflow's simple auth manager, with real JWTs from
its login: reading, deciding, triggering, the page, the docs; and which tokens are refused."""

from __future__ import annotations

import re
import time
from html import unescape

import jwt
import pytest

API = "/divergencias/api/v1"
MISSING = 999_999
READERS = ("auditor", "controladora", "operador", "admin")
EDITORS = ("controladora", "operador", "admin")

READ_ROUTES = [
    f"{API}/eu",
    f"{API}/regras",
    f"{API}/divergencias",
    f"{API}/divergencias/{MISSING}",
    f"{API}/auditoria/operacoes",
    f"{API}/auditoria/sessoes",
    f"{API}/relatorios/divergencias/export?formato=csv",
    f"{API}/relatorios/divergencias/export?formato=excel",
    f"{API}/metricas/resumo",
    f"{API}/metricas/diarias",
    f"{API}/relatorios/metricas/performance",
    "/divergencias/api/docs",
    "/divergencias/api/openapi.json",
    "/divergencias/static/divergencias.js",
    "/divergencias/",
]
# Bodies that pass validation and name nothing that exists: an editor reaches the route's
# own answer (404, or 409 for a paused DAG), nobody else gets past the access check.
EDIT_ROUTES = [
    ("POST", f"{API}/divergencias/aprovar", {"ids": [MISSING]}),
    ("POST", f"{API}/divergencias/rejeitar", {"ids": [MISSING], "motivo": "teste"}),
    ("POST", f"{API}/divergencias/{MISSING}/rejeitar", {"motivo": "teste"}),
    ("DELETE", f"{API}/divergencias/{MISSING}/rejeitar?motivo=teste", None),
    ("POST", f"{API}/sessoes/{MISSING}/rollback", {"motivo": "teste"}),
]


def _status(client, headers, method: str, url: str, body=None) -> int:
    return client.request(method, url, json=body, headers=headers, follow_redirects=False).status_code


@pytest.mark.parametrize("user", [*READERS, "semacesso"])
def test_each_role_reads_only_with_read_access(client, as_user, db, user):
    expected = 200 if user in READERS else 403
    for url in READ_ROUTES:
        answer = _status(client, as_user(user), "GET", url)
        assert answer == (404 if expected == 200 and url.endswith(str(MISSING)) else expected), (url, answer)


@pytest.mark.parametrize("user", ["auditor", "semacesso", *EDITORS])
def test_each_role_decides_only_with_edit_access(client, as_user, db, user):
    for method, url, body in EDIT_ROUTES:
        answer = _status(client, as_user(user), method, url, body)
        if user in EDITORS:
            assert answer not in (401, 403, 422), (method, url, answer)
        else:
            assert answer == 403, (method, url, answer)


def _forged(tokens, airflow_auth, secret: str | None = None, **claims) -> str:
    """The admin's real token with ``claims`` changed, signed with ``secret`` (this
    server's when None)."""
    real = tokens["admin"]
    payload = {**jwt.decode(real, options={"verify_signature": False}), **claims}
    key = secret or airflow_auth["AIRFLOW__API_AUTH__JWT_SECRET"]
    return jwt.encode(payload, key, algorithm=jwt.get_unverified_header(real)["alg"])


def _tampered(tokens) -> str:
    """The viewer's token with its payload claiming the admin role, its signature kept."""
    header, _, signature = tokens["auditor"].split(".")
    claims = {**jwt.decode(tokens["auditor"], options={"verify_signature": False}), "role": "admin"}
    payload = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    return f"{header}.{payload}.{signature}"


def test_a_token_signed_here_and_still_valid_is_the_only_one_accepted(client, tokens, airflow_auth, db):
    """Sanity check of the forging itself: re-signed with this server's secret it works."""
    valid = _forged(tokens, airflow_auth)
    assert _status(client, {"Authorization": f"Bearer {valid}"}, "POST", *EDIT_ROUTES[0][1:]) == 404


@pytest.mark.parametrize("how", ["expired", "tampered", "other_instance"])
def test_expired_tampered_and_foreign_tokens_are_refused(client, tokens, airflow_auth, db, how):
    token = {
        "expired": lambda: _forged(tokens, airflow_auth, exp=int(time.time()) - 3600, iat=0, nbf=0),
        "tampered": lambda: _tampered(tokens),
        "other_instance": lambda: _forged(tokens, airflow_auth, secret="o-segredo-de-outro-airflow" * 3),
    }[how]()
    expected = 401 if how == "expired" else 403
    for headers, cookies in (({"Authorization": f"Bearer {token}"}, {}), ({}, {"_token": token})):
        client.cookies.clear()
        client.cookies.update(cookies)
        try:
            for url in (f"{API}/divergencias", "/divergencias/api/docs", "/divergencias/api/openapi.json"):
                assert _status(client, headers, "GET", url) == expected, (url, headers, cookies)
            for method, url, body in EDIT_ROUTES:
                assert _status(client, headers, method, url, body) == expected, (url, headers, cookies)
            page = client.get("/divergencias/", headers=headers, follow_redirects=False)
            assert page.status_code in (302, 307) and page.headers["location"].startswith("/auth/login")
        finally:
            client.cookies.clear()


def test_the_docs_page_runs_no_script_and_loads_nothing_from_another_origin(client, as_user, db):
    """FastAPI's Swagger UI page loaded its script from a CDN (swagger-ui-dist@5, any 5.x):
    a third party's code on Airflow's origin, where the browser sends the user's cookie, could
    approve and roll back as the user. The page lists every operation of the schema instead."""
    response = client.get("/divergencias/api/docs", headers=as_user("auditor"))
    assert response.status_code == 200
    page = response.text
    assert "<script" not in page.lower()
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:[a-z]+:)?//""", page, re.IGNORECASE)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    schema = client.get("/divergencias/api/openapi.json", headers=as_user("auditor")).json()
    operations = [(method.upper(), path) for path, item in schema["paths"].items() for method in item]
    assert len(operations) >= 17
    for method, path in operations:
        assert f"<code>{method} /divergencias{path}</code>" in page, (method, path)
    assert '"motivo":' in unescape(page) and '"motivo":' not in page  # the bodies' fields, escaped


def test_a_token_is_refused_after_its_user_logs_out(client, passwords, db):
    """Logging out revokes the token in Airflow's database: a copy of it (a script, another
    tab) must not go on approving."""
    login = client.post("/auth/token", json={"username": "controladora", "password": passwords["controladora"]})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert _status(client, headers, "GET", f"{API}/eu") == 200
    assert _status(client, headers, "GET", "/api/v2/auth/logout") in (302, 307)
    assert _status(client, headers, "GET", f"{API}/eu") == 403
    assert _status(client, headers, *EDIT_ROUTES[0]) == 403
