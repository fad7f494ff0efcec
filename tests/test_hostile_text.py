"""Text typed by people in other systems (byd.bonus_view), by a controller (a rollback's
motivo) or by whoever set a Variable reaches the emails as data only: it never forges a
header, a line of the plain-text body, or markup of the HTML body."""

import json
from datetime import date
from types import SimpleNamespace

from devtools.sql_steps import run_session
from divergencias.notifications import notify_task_failure, summary_mail
from divergencias.rollback import send_confirmation
from tests.helpers import add_sale

DAY = date(2026, 11, 10)
MARKUP = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
FORGED_LINE = "Execução no Airflow: http://golpe.example/login"
# Every character str.splitlines() breaks a line on: a mail reader breaks on some of them too.
LINE_BREAKS = ("\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _failure_context() -> dict:
    # What Airflow hands on_failure_callback, reduced to what the alert reads.
    ti = SimpleNamespace(
        dag_id="divergencias_diarias", task_id="detect_divergences", run_id="manual__x", log_url="http://log"
    )
    return {"ti": ti, "exception": RuntimeError(f"falhou: valor {MARKUP}\n{FORGED_LINE}")}


def test_a_line_break_in_the_environment_variable_neither_silences_the_alert_nor_adds_a_header(smtp, monkeypatch):
    """Python's email refuses a header value with a line break (ValueError), and the failure
    callback swallows that to keep the task's own error: a Variable environment pasted with
    a line break inside lost every failure alert, with only a log line to tell."""
    for line_break in LINE_BREAKS:
        monkeypatch.setenv("AIRFLOW_VAR_ENVIRONMENT", f"PRODUCTION{line_break}Bcc: intruso@golpe.example")
        notify_task_failure(_failure_context())
    assert len(smtp.mails) == len(LINE_BREAKS)
    for mail in smtp.mails:
        message = mail.message
        assert message["Bcc"] is None and mail.recipients == ["controladoria@teste.local"]
        assert message["Subject"].startswith("[PRODUCTION BCC: INTRUSO@GOLPE.EXAMPLE] FALHA em divergencias_diarias")
        text = message.get_body(("plain",)).get_content()
        assert "(PRODUCTION BCC: INTRUSO@GOLPE.EXAMPLE)" in text.splitlines()[0]
        # the error's own second line stays under it, not a line of the email's
        error = text.splitlines()[5:7]
        assert error == [f"Erro:     RuntimeError: falhou: valor {MARKUP}", f"          {FORGED_LINE}"]
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_source_text_stays_on_its_line_in_the_summary_and_escaped_in_its_html(conn):
    """A line break in a sale's nota fiscal, revenda or booked text let the source write lines
    of its own into the plain-text summary, e.g. a second 'Execução no Airflow:' link."""
    for i, line_break in enumerate(LINE_BREAKS):
        add_sale(
            conn,
            f"NF{i}{line_break}{FORGED_LINE}",
            revenda=f"Loja{line_break}{FORGED_LINE}{MARKUP}",
            bonus_dpto=f"abc{line_break}{FORGED_LINE}",
        )
    params = run_session(conn, DAY, DAY)
    mail = summary_mail(conn, params["sessao_id"], "http://airflow")

    lines = mail.text.splitlines()
    assert [line for line in lines if line.startswith("Execução no Airflow:")] == [
        "Execução no Airflow: http://airflow"
    ]
    pending = [line for line in lines if line.startswith("- NF")]
    assert len(pending) == len(LINE_BREAKS)  # one VALOR_INVALIDO per sale
    assert all(f"NF{i} {FORGED_LINE} Loja {FORGED_LINE}{MARKUP}" in mail.text for i in range(len(LINE_BREAKS)))
    assert "<script>" not in mail.html and "<img" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in mail.html


def test_a_rollback_reason_stays_on_its_line_in_the_confirmation(smtp, monkeypatch):
    """The reason a controller types in the review page reaches the confirmation email as is."""
    motivo = f"pedido da controladoria\n\nVALORES RESTAURADOS\n- NF1 / bonus_dpto: 0 -> 99999{MARKUP}"
    restored = [
        {
            "idnfsexterno": f"NF1\n{FORGED_LINE}",
            "campo": "bonus_dpto",
            "valor_desfeito": "1.00",
            "valor_restaurado": f"abc\n{FORGED_LINE}",
        }
    ]
    request = {"sessao_id": 7, "motivo": motivo, "usuario": "airflow:admin"}
    assert send_confirmation(request, [1, 0, "[]", json.dumps(restored)])

    message = smtp.mails[0].message
    lines = message.get_body(("plain",)).get_content().splitlines()
    assert lines.count("VALORES RESTAURADOS") == 1
    assert [line for line in lines if line.startswith("Motivo:")] == [
        f"Motivo: pedido da controladoria  VALORES RESTAURADOS - NF1 / bonus_dpto: 0 -> 99999{MARKUP}"
    ]
    assert not any(line.startswith("Execução no Airflow") for line in lines)
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
