"""Run by airflow-init (docker-compose.yaml) before it migrates anything: refuses a .env that
would start a stack anyone can log into, or one whose first login cannot log in.

- A value still holding .env.example's "troque-..." placeholder: those values are public (they
  are in the repository), so a JWT secret left at its placeholder lets anyone sign an admin's
  token for the api-server, and the admin password is known to all.
- A Fernet key Airflow cannot use: everything would start, and the first connection saved in
  the UI would fail to be encrypted.
- A POSTGRES_PASSWORD the database URLs read as something else: it is the postgres role's
  password as typed and sits unencoded in the URLs of Airflow's database and Celery's results,
  so an @ moves the host and a %41 decodes to another password; every component would retry
  for a minute and fail with a connection error that does not name the password.
- AIRFLOW_ADMIN_USER missing from AIRFLOW_USERS: its password would be written for a user that
  does not exist, and the README's first login would be refused.
- A user name longer than the 100 characters the audit records (audit.operacoes.usuario): that
  user could log in and read, but every approval or rejection would be refused.

Every other Airflow service waits for airflow-init to succeed, so nothing starts until .env is
fixed; `docker compose logs airflow-init` shows why. Only the environment is read, so the
check needs no database and runs as the first step.
"""

from __future__ import annotations

import os
import sys

PLACEHOLDER = "troque-"
# The old system's audit columns naming who acted are varchar(100) (divergencias.review.access).
AUDIT_NAME_MAX = 100


def problems(env: dict[str, str]) -> list[str]:
    found = []
    placeholders = sorted(key for key, value in env.items() if PLACEHOLDER in value)
    if placeholders:
        found.append(
            f'replace every "{PLACEHOLDER}..." value of .env (.env.example\'s placeholders are public); '
            f"still in: {', '.join(placeholders)}"
        )
    fernet_key = env.get("AIRFLOW__CORE__FERNET_KEY", "")
    if fernet_key and PLACEHOLDER not in fernet_key:
        from cryptography.fernet import Fernet

        try:
            Fernet(fernet_key)
        except ValueError:
            found.append(
                "AIRFLOW_FERNET_KEY is not a Fernet key; generate one with: python3 -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            )
    password = env.get("POSTGRES_PASSWORD")
    if password:
        from sqlalchemy.engine import make_url

        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            raw = env.get(key, "")
            # only URLs the password was written into (an external database has its own)
            if password in raw and make_url(raw.removeprefix("db+")).password != password:
                found.append(
                    f"POSTGRES_PASSWORD cannot be written in {key} as it is: use letters, digits, - and _ "
                    "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
                break
    admin = env.get("AIRFLOW_ADMIN_USER", "")
    users = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "")
    names = [entry.split(":", 1)[0].strip() for entry in users.split(",")]
    if admin and admin not in names:
        found.append(f"AIRFLOW_ADMIN_USER={admin} is not one of AIRFLOW_USERS={users}: add it (e.g. {admin}:admin)")
    too_long = [name for name in names if len(name) > AUDIT_NAME_MAX]
    if too_long:
        found.append(
            f"AIRFLOW_USERS names longer than {AUDIT_NAME_MAX} characters (the audit trail records no more, so "
            f"they could not approve or reject): {', '.join(too_long)}"
        )
    return found


def main() -> int:
    found = problems(dict(os.environ))
    for problem in found:
        print(f"airflow-init: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
