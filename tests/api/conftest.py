"""The review API as users reach it: Airflow's api-server app (create_app) with the plugin
loaded, the simple auth manager's login, and a real business database per test.

Users (simple auth manager roles): controladora and aprovador may decide (role user),
auditor only reads (viewer), operador (op) and admin are Airflow's higher roles, semacesso
has no role at all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest

from devtools.api_server import simple_auth_settings
from tests.conftest import run_airflow

USERS = {
    "controladora": "user",
    "aprovador": "user",
    "auditor": "viewer",
    "semacesso": "",
    "operador": "op",
    "admin": "admin",
}


@pytest.fixture(scope="session")
def passwords(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {user: secrets.token_urlsafe(12) for user in USERS}


@pytest.fixture(scope="session")
def airflow_auth(tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]) -> dict[str, str]:
    """Login settings of the api-server: the users, their passwords, the signing secrets."""
    settings = simple_auth_settings(USERS, passwords, tmp_path_factory.mktemp("auth"))
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    yield settings
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def serialized_dags(airflow_db: Path) -> Path:
    """Both DAGs parsed into Airflow's metadata database, so runs can be triggered."""
    run_airflow("dags", "reserialize")
    return airflow_db


@pytest.fixture(scope="session")
def api_app(airflow_auth: dict[str, str], serialized_dags: Path):
    from airflow.api_fastapi.app import create_app, purge_cached_app

    app = create_app()
    yield app
    purge_cached_app()


@pytest.fixture(scope="session")
def client(api_app):
    from fastapi.testclient import TestClient

    with TestClient(api_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def tokens(client, passwords: dict[str, str]) -> dict[str, str]:
    """A JWT per user, from the real login endpoint."""
    result = {}
    for user, password in passwords.items():
        response = client.post("/auth/token", json={"username": user, "password": password})
        assert response.status_code == 201, response.text
        result[user] = response.json()["access_token"]
    return result


@pytest.fixture
def as_user(tokens: dict[str, str]):
    """Authorization headers of a user."""
    return lambda user: {"Authorization": f"Bearer {tokens[user]}"}


@pytest.fixture
def review_db(business_db: str) -> str:
    """A migrated business database; financial_db points at it."""
    return business_db


@pytest.fixture
def db(review_db: str):
    with psycopg.connect(review_db, autocommit=True) as connection:
        yield connection
