"""The summary email as controllers read it, built from a real session (summary_mail)."""

from datetime import date

import pytest

from devtools.smtp_catcher import smtp_catcher
from devtools.sql_steps import run_session
from divergencias import storage
from divergencias.notifications import send_summary, summary_mail
from divergencias.report import export_session_report
from tests.helpers import add_sale, add_throwaway_rule

DAY = date(2026, 11, 10)


def _mail(conn):
    add_sale(conn, "NF1", bonus_dpto="1", trade="50.00")
    params = run_session(conn, DAY, DAY)
    return summary_mail(conn, params["sessao_id"], "http://airflow")


def test_the_plain_text_table_by_rule_keeps_its_columns_aligned(conn):
    """Labels were padded to 46 characters; the catalog's 'Trade marketing contabilizado
    diferente do registrado' has 53, which pushed that row's counts out of their columns."""
    lines = _mail(conn).text.splitlines()
    start = lines.index("POR REGRA")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("Total"))
    header, *rows, total = lines[start + 1 : end + 1]
    codes = [row.rsplit("  ", 1) for row in rows]
    assert len(codes) == conn.execute("SELECT count(*) FROM audit.regras_divergencia").fetchone()[0]
    assert {len(header), len(total)} | {len(counts) for counts, _code in codes} == {len(header)}


def test_the_session_type_reads_in_portuguese(conn):
    """The review page says 'Execução manual'; the email said MANUAL_RUN."""
    mail = _mail(conn)
    for body in (mail.text, mail.html):
        assert "sessão 1 (Execução manual, modo auto)" in body and "MANUAL_RUN" not in body


@pytest.mark.parametrize(("pending", "level"), [(1, "BAIXA"), (2, "ATENÇÃO"), (3, "ATENÇÃO"), (4, "CRÍTICO")])
def test_the_pending_criticality_at_its_boundaries(conn, pending, level):
    """Contract §6: BAIXA below pendentes_nivel_atencao, ATENÇÃO up to pendentes_nivel_critico
    (both inclusive), CRÍTICO above; here 2 and 3."""
    conn.execute("UPDATE audit.configuracoes_sistema SET valor = '2' WHERE chave = 'pendentes_nivel_atencao'")
    conn.execute("UPDATE audit.configuracoes_sistema SET valor = '3' WHERE chave = 'pendentes_nivel_critico'")
    for i in range(pending):
        add_sale(conn, f"NF{i}", bonus_utilizado="PENDENTE VERIFICACAO")
    params = run_session(conn, DAY, DAY)
    mail = summary_mail(conn, params["sessao_id"], "http://airflow")
    assert mail.subject.endswith(f" {pending} pendente" + ("s" if pending > 1 else ""))
    assert f"Criticidade das pendências: {level} (ATENÇÃO a partir de 2, CRÍTICO acima de 3)" in mail.text
    assert f">{level}</span>" in mail.html


def test_a_rule_removed_from_the_catalog_still_counts_its_open_divergences(conn):
    """The table by rule listed only the catalog's rules: the open divergences of a rule
    deleted from it, which no run evaluates any more and which stay open for a person (as an
    old system's rule does), were in no row and not in the total."""
    add_throwaway_rule(conn)
    add_sale(conn, "NF_ALTO", valor_bonus="8000.00", bonus_dpto="8000.00", bonus_utilizado="NAO")
    run_session(conn, DAY, DAY)
    conn.execute("DELETE FROM audit.regras_divergencia WHERE codigo = 'BONUS_ALTO_NAO_UTILIZADO'")
    params = run_session(conn, DAY, DAY)
    text = summary_mail(conn, params["sessao_id"], "http://airflow").text

    suffix = "BONUS_ALTO_NAO_UTILIZADO (fora do catálogo: não avaliada)"
    line = next(row for row in text.splitlines() if row.endswith(suffix))
    assert line.removesuffix(suffix).split()[-4:] == ["0", "0", "1", "0"]
    total = next(row for row in text.splitlines() if row.startswith("Total"))
    assert total.split()[1:] == ["0", "0", "1", "0"]


def test_counts_agree_with_their_words_in_portuguese(conn):
    """'1 novas, 1 corrigidas' in the subject and '1 vendas analisadas' in the body: one
    takes the singular, zero and more the plural."""
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    mail = summary_mail(conn, run_session(conn, DAY, DAY)["sessao_id"], "http://airflow")
    assert mail.subject.endswith(": 1 nova, 1 corrigida, 0 pendentes")
    words = ("1 venda analisada", "1 divergência nova", "1 corrigida automaticamente", "0 pendentes de análise")
    for body in (mail.text, mail.html.replace("<strong>", "").replace("</strong>", "")):
        assert [w for w in words if w not in body] == []


def test_an_amount_too_long_for_python_s_default_precision_is_listed_not_a_crash(conn):
    """The largest pending list reads an amount the column cannot hold from the source text
    (10^13 and more); brl formatted it in Python's default 28-digit context, which raised
    InvalidOperation from 29 digits on: one pasted cell killed the morning summary."""
    huge = "1" + "0" * 39 + ".50"
    add_sale(conn, "NF_ENORME", valor_bonus=huge, bonus_dpto=huge)
    mail = summary_mail(conn, run_session(conn, DAY, DAY)["sessao_id"], "http://airflow")
    grouped = "R$\xa01" + ".000" * 13 + ",50"
    assert f"atual {grouped}" in mail.text and grouped in mail.html


def test_a_summary_too_large_for_the_mail_server_goes_out_without_its_csv(conn, tmp_path, monkeypatch):
    """divergencias_anexo_max_mb counts the CSV's bytes, the server the message's: base64 makes
    an attached CSV a third larger. A CSV under the limit but over the server's size made the
    server refuse the summary (552) on every retry: the controllers got no summary at all."""
    for i in range(300):
        add_sale(conn, f"NF{i:04d}", bonus_utilizado="PENDENTE VERIFICACAO")
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    report = tmp_path / "relatorios" / "divergencias.csv"
    report.parent.mkdir()
    export_session_report(conn, sessao_id, storage.location(str(report)))
    limit = report.stat().st_size  # the CSV alone fits; base64-encoded with the bodies, it does not

    with smtp_catcher(size_limit=limit) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.airflow_connection_json())
        monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", "controladoria@teste.local")
        assert send_summary(sessao_id, "http://airflow") == ["controladoria@teste.local"]

    (mail,) = server.mails
    assert mail.message["Subject"].endswith(": 300 novas, 0 corrigidas, 300 pendentes")
    assert list(mail.message.iter_attachments()) == []
    text = mail.message.get_body(("plain",)).get_content()
    assert f"Relatório completo (grande demais para anexar): {report}" in text
    assert conn.execute(
        "SELECT alertas_enviados, destinatarios_notificados FROM audit.sessoes_processamento WHERE id = %s",
        (sessao_id,),
    ).fetchone() == (True, ["controladoria@teste.local"])


def test_a_recipient_the_server_refuses_is_not_recorded_as_notified(conn, smtp, monkeypatch, caplog):
    """The server took the summary for one recipient and refused the other (550 at RCPT):
    smtplib says so only in its return value, which was dropped. The session listed both as
    notified and the log said it was sent to both; the second never got it and nobody knew."""
    monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", "controladoria@teste.local,gerente@inexistente.local")

    async def refuse_the_unknown(server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN202
        if address.endswith("@inexistente.local"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.handle_RCPT = refuse_the_unknown  # aiosmtpd reads the hooks per connection
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    sessao_id = run_session(conn, DAY, DAY)["sessao_id"]
    assert send_summary(sessao_id, "http://airflow") == ["controladoria@teste.local"]

    assert [mail.recipients for mail in smtp.mails] == [["controladoria@teste.local"]]
    assert conn.execute(
        "SELECT destinatarios_notificados FROM audit.sessoes_processamento WHERE id = %s", (sessao_id,)
    ).fetchone() == (["controladoria@teste.local"],)
    assert "gerente@inexistente.local" in caplog.text and "refused" in caplog.text
