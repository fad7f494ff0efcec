"""Passwords of the database and SMTP connections never reach task logs, rendered template
fields (stored in Airflow's database), the CSV or the email."""

import json
from pathlib import Path

from devtools.databases import airflow_connection_json
from tests.helpers import add_sale

PG_PASSWORD = "pg-Senha-Secreta-7f3a"
SMTP_PASSWORD = "smtp-Senha-Secreta-91c2"


def _files_containing(folder: Path, secret: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_passwords_never_appear_in_logs_fields_csv_or_email(
    dag, conn, business_db, smtp, output_dir, monkeypatch, capfd, airflow_db
):
    add_sale(conn, "NF1", bonus_dpto="1")
    connection = json.loads(airflow_connection_json(business_db))
    connection["password"] = PG_PASSWORD  # the embedded server trusts; the hook still sends it
    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", json.dumps(connection))
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp.airflow_connection_json("robo@teste.local", SMTP_PASSWORD))

    run = dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"})
    out, err = capfd.readouterr()
    assert run.state == "success"
    assert smtp.logins == ["robo@teste.local"], "the SMTP login must really have been used"
    assert smtp.mails
    for secret in (PG_PASSWORD, SMTP_PASSWORD):
        assert secret not in out and secret not in err
        assert _files_containing(output_dir, secret.encode()) == []
        assert _files_containing(airflow_db, secret.encode()) == []  # logs, airflow.db (rendered fields)
        assert all(secret.encode() not in m.message.as_bytes() for m in smtp.mails)
