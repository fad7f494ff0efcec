"""``airflow api-server`` as a process of its own, with the review plugin and the simple auth
manager's login: the browser tests and the README's screenshot (devtools.review_screenshot)
start it the same way."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
HEALTH_PATH = "/divergencias/api/v1/health"
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simple_auth_settings(roles: Mapping[str, str], passwords: Mapping[str, str], folder: Path) -> dict[str, str]:
    """Airflow settings for a login with the simple auth manager: ``roles`` maps each user to
    its role ("" for none), ``passwords`` are written to a file in ``folder``; fresh signing
    secrets, so no token of another server is accepted."""
    password_file = folder / "passwords.json"
    password_file.write_text(json.dumps(dict(passwords)))
    password_file.chmod(0o600)
    return {
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in roles.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
    }


class ApiServerFailed(RuntimeError):
    """The api-server exited or did not answer in time; the message ends with its log."""


@contextmanager
def api_server(env: Mapping[str, str], folder: Path) -> Iterator[str]:
    """``airflow api-server`` on a free local port, with ``env`` (its Airflow settings) and the
    project's plugins importable; yields its base URL once the plugin answers. Its log is
    ``folder/api-server.log``. The server and its workers are stopped on leaving, whatever
    failed."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = folder / "api-server.log"
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), env.get("PYTHONPATH")]))
    command = [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(port)]
    with log_path.open("w") as log:
        # A session of its own, so its uvicorn workers stop with it.
        process = subprocess.Popen(
            command,
            env={**env, "PYTHONPATH": pythonpath, "AIRFLOW__API__BASE_URL": base_url},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,
        )
        try:
            _wait_until_healthy(process, base_url, log_path)
            yield base_url
        finally:
            _stop(process)


def _wait_until_healthy(process: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise ApiServerFailed(f"api-server exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(base_url + HEALTH_PATH, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ApiServerFailed(f"api-server did not answer in {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    # The group may already be gone (the server exited at start): nothing left to signal.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
