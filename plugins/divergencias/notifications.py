"""The pt-BR emails: the summary after every run and the alert when a task fails.

Built here from the audit tables and the templates (money and dates formatted by
``divergencias.formatting``); sent through the smtp provider's connection
``smtp_default``. No recipients or no SMTP connection means the email is skipped with a
warning: a run is not failed for a mail setup that was never made. A configured server
that refuses is a failure.
"""

from __future__ import annotations

import logging
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from psycopg.rows import dict_row

from divergencias import settings, storage
from divergencias.database import financial_db, sql_file
from divergencias.formatting import br_date, brl, plural, session_type_label

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

DEFAULT_SENDER = "divergencias@localhost"


def criticality(pending: int, attention_level: int, critical_level: int) -> str:
    """BAIXA below the attention level, ATENÇÃO up to the critical level, CRÍTICO above."""
    if pending < attention_level:
        return "BAIXA"
    if pending <= critical_level:
        return "ATENÇÃO"
    return "CRÍTICO"


def one_line(value: Any) -> Any:
    """Text on one line: every line break str.splitlines() knows (the ones Python's email
    refuses in a header, and the ones a mail reader breaks a plain-text body on) becomes a
    space. Source text, a controller's reason or a Variable holding one could otherwise add a
    header, or write lines of its own (a second link, a fake total) into a plain-text email."""
    return " ".join(value.splitlines()) if isinstance(value, str) else value


@cache
def _templates(plain_text: bool) -> Environment:
    # HTML is escaped; plain text has no escaping, so there every printed value is one line
    # (text meant to span lines is printed line by line by its template).
    env = Environment(
        loader=FileSystemLoader(settings.TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=one_line if plain_text else None,
    )
    env.filters["brl"] = brl
    env.filters["data_br"] = br_date
    env.filters["plural"] = plural
    return env


def render(name: str, **context: Any) -> str:
    return _templates(name.endswith(".txt.j2")).get_template(name).render(**context)


class Attachment(NamedTuple):
    filename: str
    content: bytes


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str
    attachment: Attachment | None = None


def report_attachment(report: ObjectStoragePath | Path | None) -> Attachment | None:
    """The CSV report to attach, read back through the storage the export wrote it to; None
    when there is none, this worker cannot reach it, or it is over the size limit (the email
    then says where the report is)."""
    if report is None or not storage.attachable(report, settings.attachment_limit_bytes()):
        return None
    return Attachment(report.name, report.read_bytes())


def smtp_configured() -> bool:
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(settings.SMTP_CONN_ID)
    except AirflowNotFoundException:
        return False
    return True


def deliverable_recipients(kind: str) -> list[str]:
    """Recipients, or [] after a warning saying why the email is skipped."""
    to = settings.recipients()
    if not to:
        log.warning("%s skipped: Variable %s has no recipients", kind, settings.RECIPIENTS_VARIABLE)
        return []
    if not smtp_configured():
        log.warning("%s skipped: no Airflow connection %r", kind, settings.SMTP_CONN_ID)
        return []
    return to


def build_message(mail: Mail, sender: str, to: list[str]) -> EmailMessage:
    """multipart/mixed: the text and HTML bodies as alternatives, then the CSV, if any."""
    message = EmailMessage()
    message["Subject"] = one_line(mail.subject)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    if mail.attachment is not None:
        message.add_attachment(
            mail.attachment.content,
            maintype="text",
            subtype="csv",
            filename=mail.attachment.filename,
            params={"charset": "utf-8"},
        )
    return message


def send(mail: Mail, to: list[str]) -> list[str]:
    """Send ``mail``; return the recipients the server accepted. One it refused while taking
    the others is logged, not raised: the mail went out, and a retry would resend it."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=settings.SMTP_CONN_ID) as hook:
        message = build_message(mail, hook.from_email or hook.smtp_user or DEFAULT_SENDER, to)
        # Not the provider's public SmtpHook.send_email_smtp (nor SmtpNotifier, which calls
        # it): it builds MIMEMultipart(mime_subtype) with exactly one text/html part plus the
        # files, so the plain-text body of contract §7 cannot be added (with
        # mime_subtype="alternative" the CSV would become a third alternative body), and it
        # reads attachments only from local file paths. The hook still connects, negotiates
        # TLS and logs in (get_conn, from the connection); its connected smtplib client, the
        # only private name used here, sends our message.
        refused = hook._smtp_client.send_message(message)
    accepted = [address for address in to if address not in refused]
    log.info("email %r sent to %s", mail.subject, ", ".join(accepted))
    for address, (code, reply) in refused.items():
        log.warning("email %r: the server refused recipient %s (%d %s)", mail.subject, address, code, reply)
    return accepted


def summary_mail(conn: psycopg.Connection, sessao_id: int, run_url: str, attach: bool = True) -> Mail:
    """The morning summary of one session, built from the audit tables; ``attach=False``: the
    CSV is linked as too large to attach (the mail server said so)."""
    params = {"sessao_id": sessao_id}
    with conn.cursor(row_factory=dict_row) as cur:
        session = cur.execute(sql_file("divergencias/session_summary.sql"), params).fetchone()
        rules = cur.execute(sql_file("divergencias/summary_by_rule.sql"), params).fetchall()
        largest = cur.execute(sql_file("divergencias/largest_pending.sql"), params).fetchall()
    if session is None:
        raise LookupError(f"sessão {sessao_id} não encontrada em audit.sessoes_processamento")
    report = storage.location(session["arquivo_relatorio"]) if session["arquivo_relatorio"] else None
    attachment = report_attachment(report) if attach else None
    context = {
        "sessao": session,
        "tipo_sessao": session_type_label(session["tipo_sessao"]),
        "regras": rules,
        "totais": {key: sum(r[key] for r in rules) for key in ("novas", "aplicadas", "pendentes", "resolvidas")},
        "maiores_pendentes": largest,
        "criticidade": criticality(session["pendentes"], session["nivel_atencao"], session["nivel_critico"]),
        "link_execucao": run_url,
        "relatorio": report,
        "relatorio_anexado": attachment is not None,
        # Not attached because this worker cannot reach it (another worker's local disk), not
        # because it is too large: the email must not send the reader after the wrong cause.
        "relatorio_inacessivel": report is not None and attachment is None and not report.exists(),
    }
    subject = (
        f"[{session['ambiente']}] Divergências "
        f"{br_date(session['data_inicio'])} a {br_date(session['data_fim'])}: "
        + ", ".join(
            f"{n} {plural(n, singular, plural_form)}"
            for n, singular, plural_form in (
                (session["divergencias_detectadas"], "nova", "novas"),
                (session["correcoes_aplicadas"], "corrigida", "corrigidas"),
                (session["pendentes"], "pendente", "pendentes"),
            )
        )
    )
    return Mail(
        subject=subject,
        text=render("email_resumo.txt.j2", **context),
        html=render("email_resumo.html.j2", **context),
        attachment=attachment,
    )


# Pauses before each attempt to record a summary that was sent: long enough to ride out a
# dropped connection or a restarting server, short next to the task's timeout.
RECORD_PAUSES_S = (0, 2, 10, 30)


def send_summary(sessao_id: int, run_url: str) -> list[str]:
    """Send the summary (or skip it); record on the session who was notified. Runs after the
    CSV whatever became of it: a session whose data work did not commit gets the failure
    email instead, so this one is skipped.

    Once the mail server has accepted the summary, nothing may make Airflow retry the task: a
    retry sends it again. So no database connection is held while mailing (a connection lost
    meanwhile would fail the record), the record is retried here, and if it still fails the
    task fails for good, saying the summary went out (AirflowFailException: no retry). Only a
    worker killed between the two steps still gets the summary resent: a lost summary is the
    worse of the two."""
    with financial_db() as conn:
        (data_work_done,) = conn.execute(
            "SELECT etapas_concluidas @> ARRAY['detect_divergences', 'apply_corrections'] "
            "FROM audit.sessoes_processamento WHERE id = %s",
            (sessao_id,),
        ).fetchone()
        if not data_work_done:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"sessão {sessao_id}: detecção ou correções não concluídas, resumo não enviado")
        to = deliverable_recipients("summary email")
        mail = summary_mail(conn, sessao_id, run_url) if to else None
    if mail is None:
        _record_notification(sessao_id, to)
        return to
    try:
        to = send(mail, to)
    except smtplib.SMTPResponseException as refused:
        # 552: the message is over the server's size (RFC 1870), which the attachment limit,
        # counted on the CSV before base64, cannot foresee. The summary still goes out.
        if refused.smtp_code != 552 or mail.attachment is None:
            raise
        log.warning("the mail server refused the summary with its CSV as too large (%s): sent without it", refused)
        with financial_db() as conn:
            mail = summary_mail(conn, sessao_id, run_url, attach=False)
        to = send(mail, to)
    error: Exception | None = None
    for pause in RECORD_PAUSES_S:
        time.sleep(pause)
        try:
            _record_notification(sessao_id, to)
            return to
        except psycopg.OperationalError as lost:
            error = lost
            log.warning("summary sent but not recorded on session %d yet: %s", sessao_id, lost)
        except Exception as unexpected:
            error = unexpected
            break
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(
        f"resumo da sessão {sessao_id} enviado a {', '.join(to)}, mas não registrado na sessão "
        f"(não será reenviado): {type(error).__name__}: {error}"
    ) from error


def _record_notification(sessao_id: int, to: list[str]) -> None:
    with financial_db() as conn:
        # lock_timeout: someone holding the session's row fails this attempt instead of hanging it.
        conn.execute("SELECT audit.iniciar_etapa()")
        conn.execute(
            sql_file("divergencias/record_notification.sql"),
            {"sessao_id": sessao_id, "destinatarios": to or None, "enviado": bool(to)},
        )


def failure_mail(
    dag_id: str, task_id: str, run_id: str, error: BaseException | None, log_url: str, ambiente: str
) -> Mail:
    context = {
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        # No exception when Airflow's DAG processor runs the callback of a task whose process
        # died (killed, out of memory, heartbeat lost): only the log tells more.
        "erro": f"{type(error).__name__}: {error}"
        if error is not None
        else "a tarefa parou sem relatar um erro (processo encerrado ou sem sinal de vida); veja o log",
        "link_log": log_url,
        "ambiente": ambiente,
    }
    return Mail(
        subject=f"[{ambiente}] FALHA em {dag_id}.{task_id} ({run_id})",
        text=render("email_falha.txt.j2", **context),
        html=render("email_falha.html.j2", **context),
    )


def notify_task_failure(context: dict) -> None:
    """on_failure_callback: one alert per failed task. Never raises: a broken mail setup
    must not hide the task's own error."""
    try:
        to = deliverable_recipients("failure email")
        if not to:
            return
        ti = context["ti"]
        ambiente = settings.environment_label()
        mail = failure_mail(ti.dag_id, ti.task_id, ti.run_id, context.get("exception"), ti.log_url, ambiente)
        send(mail, to)
    except Exception:
        log.exception("could not send the failure email")
