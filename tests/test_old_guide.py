"""What the old system's deployment guide (/work/shared/seed) told its users to rely on, checked
against this system: its monitoring SQL and its SMTP settings."""

import ipaddress
import json
import re
import ssl
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from devtools.smtp_catcher import smtp_catcher
from devtools.sql_steps import run_session
from divergencias.settings import PROJECT_ROOT
from tests.helpers import add_sale, divergences

DAY = date(2026, 11, 10)


def test_the_dashboard_counts_runs_today_not_approvals(conn):
    """The guide's vw_dashboard_monitoramento.execucoes_hoje counts the job's runs of the day;
    each approval here opens a MANUAL_APPROVAL session, which a controller approving one by one
    saw counted as a run."""
    from divergencias.review import decisions

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF2", trade="3000.00", trade_mkt_dpto="2000.00")
    run_session(conn, DAY, DAY, modo="manual")
    for detected in divergences(conn):
        decisions.approve([detected["id"]], None, None, "controladora")

    sessions = conn.execute("SELECT tipo_sessao FROM audit.sessoes_processamento ORDER BY id").fetchall()
    assert sessions == [("MANUAL_RUN",), ("MANUAL_APPROVAL",), ("MANUAL_APPROVAL",)]
    assert conn.execute("SELECT execucoes_hoje FROM audit.vw_dashboard_monitoramento").fetchone() == (1,)
    # the README's "last runs" read the same single definition of a run
    assert conn.execute("SELECT tipo_sessao FROM audit.vw_execucoes").fetchall() == [("MANUAL_RUN",)]
    assert [d["valor_aplicado"] for d in divergences(conn)] == [Decimal("5000.00"), Decimal("3000.00")]


def _self_signed(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1 made on the spot."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_the_readme_smtp_connection_sends_through_a_starttls_server_on_the_old_port_587(tmp_path, monkeypatch):
    """The old .env had SMTP_PORT=587, Gmail's submission port, which speaks plain SMTP and then
    STARTTLS. The README's smtp_default for it (host and port aside, and not checking this
    test's certificate) must deliver: the smtp provider opens port 587 with implicit TLS unless
    told disable_ssl, and every summary and failure email failed with an SSL error."""
    from divergencias import notifications

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"export AIRFLOW_CONN_SMTP_DEFAULT='(.*?)'", readme, re.S)
    connection = json.loads(example.group(1))
    assert connection["port"] == 587
    with smtp_catcher(starttls=_self_signed(tmp_path)) as catcher:
        connection.update(host=catcher.host, port=catcher.port)
        connection["extra"]["ssl_context"] = "none"
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(connection))
        notifications.send(notifications.Mail("teste", "corpo", "<p>corpo</p>"), ["controladoria@teste.local"])
    assert [mail.recipients for mail in catcher.mails] == [["controladoria@teste.local"]]
    assert catcher.logins == ["SMTP_USER"]
