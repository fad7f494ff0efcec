"""Reports through object storage: divergencias_output_dir as a URL, read back by the email."""

import logging

import psycopg
import pytest
from psycopg.rows import dict_row

from divergencias import storage
from divergencias.settings import PROJECT_ROOT
from tests.helpers import add_sale

DAY = {"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}


def test_a_url_output_dir_is_written_recorded_and_attached(dag, conn, business_db, smtp, tmp_path, monkeypatch):
    url = (tmp_path / "armazenamento").as_uri() + "/relatorios"
    monkeypatch.setenv("AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR", url)
    add_sale(conn, "NF1", bonus_dpto="1")

    assert dag.test(run_conf=DAY).state == "success"

    with psycopg.connect(business_db, row_factory=dict_row) as c:
        session = c.execute("SELECT * FROM audit.sessoes_processamento ORDER BY id DESC LIMIT 1").fetchone()
    name = f"divergencias_2026-11-10_2026-11-10_sessao{session['id']}.csv"
    assert session["status"] == "COMPLETED"
    assert session["arquivo_relatorio"] == f"{url}/{name}"
    written = (tmp_path / "armazenamento" / "relatorios" / name).read_bytes()
    assert b"NF1" in written
    (attachment,) = list(smtp.mails[0].message.iter_attachments())
    assert attachment.get_filename() == name
    assert attachment.get_payload(decode=True) == written


def test_a_relative_output_dir_is_taken_from_the_project_folder():
    assert str(storage.location("Datasets")) == str(PROJECT_ROOT / "Datasets")
    assert str(storage.location("file:///srv/relatorios")) == "file:///srv/relatorios"


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = storage.location((tmp_path / "saida").as_uri()) / "relatorio.csv"
    with pytest.raises(RuntimeError), storage.write_atomically(target) as out:
        out.write(b"metade")
        raise RuntimeError("conexão perdida")
    assert list((tmp_path / "saida").iterdir()) == []


def test_a_report_another_worker_cannot_reach_is_not_attached_and_says_why(tmp_path, caplog):
    missing = storage.location(str(tmp_path / "disco_de_outro_worker" / "relatorio.csv"))
    with caplog.at_level(logging.WARNING, logger="divergencias.storage"):
        assert storage.attachable(missing, 10 * 2**20) is False
    assert "divergencias_output_dir" in caplog.text


def test_a_cleared_run_whose_csv_then_fails_does_not_attach_the_first_attempts_csv(conn, tmp_path, monkeypatch):
    from datetime import date

    from devtools.sql_steps import open_session, run_step
    from divergencias.database import sql_file
    from divergencias.notifications import summary_mail
    from divergencias.report import export_session_report

    monkeypatch.delenv("AIRFLOW_VAR_DIVERGENCIAS_ANEXO_MAX_MB", raising=False)
    add_sale(conn, "NF1", bonus_dpto="1")
    day = date(2026, 11, 10)
    params = open_session(conn, day, day, dag_run_id="manual__limpa")
    for step in ("detect_divergences", "apply_corrections"):
        run_step(conn, step, params)
    export_session_report(conn, params["sessao_id"], storage.location(str(tmp_path)) / "primeira.csv")
    assert summary_mail(conn, params["sessao_id"], "http://airflow").attachment is not None

    # the run is cleared: open_session reopens the same session, and this time the CSV fails
    # (the export task drops its done mark as it starts, then fails before writing)
    params = open_session(conn, day, day, dag_run_id="manual__limpa")
    for step in ("detect_divergences", "apply_corrections"):
        run_step(conn, step, params)
    conn.execute(sql_file("divergencias/step_started.sql"), {"sessao_id": params["sessao_id"], "etapa": "export_csv"})
    mail = summary_mail(conn, params["sessao_id"], "http://airflow")
    assert mail.attachment is None
    assert "O relatório CSV não foi gerado nesta execução" in mail.text
    # nor does the session, which auditors and the review API read, point at that file
    (arquivo,) = conn.execute(
        "SELECT arquivo_relatorio FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()
    assert arquivo is None


def test_the_email_says_a_report_it_cannot_reach_is_unreachable_not_too_large(conn, tmp_path, monkeypatch):
    from datetime import date

    from devtools.sql_steps import open_session, run_step
    from divergencias.notifications import summary_mail
    from divergencias.report import export_session_report

    monkeypatch.delenv("AIRFLOW_VAR_DIVERGENCIAS_ANEXO_MAX_MB", raising=False)
    add_sale(conn, "NF1", bonus_dpto="1")
    day = date(2026, 11, 10)
    params = open_session(conn, day, day)
    for step in ("detect_divergences", "apply_corrections"):
        run_step(conn, step, params)
    path = storage.location(str(tmp_path / "disco_do_worker_que_exportou")) / "r.csv"
    export_session_report(conn, params["sessao_id"], path)
    path.unlink()  # what the worker that emails sees of another worker's local disk

    mail = summary_mail(conn, params["sessao_id"], "http://airflow")
    assert mail.attachment is None
    for body in (mail.text, mail.html):
        assert str(path) in body and "grande demais" not in body and "não está acessível" in body


def _cleared_run_reopens(conn: psycopg.Connection, data_inicio, data_fim) -> dict:
    """open_session, detect and apply of the run "manual__limpa": a clearing reruns them."""
    from devtools.sql_steps import open_session, run_step

    params = open_session(conn, data_inicio, data_fim, dag_run_id="manual__limpa")
    for step in ("detect_divergences", "apply_corrections"):
        run_step(conn, step, params)
    return params


def test_a_cleared_runs_new_csv_replaces_the_first_attempts_under_the_same_name(conn, tmp_path):
    """The name is the session's id and stored period, which a reopened session keeps (even
    if the run's params now resolved another period), so the new file replaces the old one."""
    from datetime import date

    from divergencias.dag_helpers import step_started
    from divergencias.report import export_session_report, report_path

    folder = storage.location(str(tmp_path / "relatorios"))
    add_sale(conn, "NF1", bonus_dpto="1")
    first = _cleared_run_reopens(conn, date(2026, 11, 10), date(2026, 11, 10))
    first_path = report_path(folder, first["data_inicio"], first["data_fim"], first["sessao_id"])
    export_session_report(conn, first["sessao_id"], first_path)

    add_sale(conn, "NF2", bonus_dpto="2")
    again = _cleared_run_reopens(conn, date(2026, 11, 1), date(2026, 11, 10))
    step_started(again["sessao_id"], "export_csv")
    path = report_path(folder, again["data_inicio"], again["data_fim"], again["sessao_id"])
    export_session_report(conn, again["sessao_id"], path)

    assert str(path) == str(first_path)
    assert [p.name for p in (tmp_path / "relatorios").iterdir()] == [path.name]
    assert b"NF2" in path.read_bytes()


def test_a_cleared_export_that_fails_leaves_no_csv_the_session_does_not_point_at(conn, tmp_path, monkeypatch):
    """step_started unlinks the first attempt's CSV from the session; when the new attempt
    then fails, that file must not stay in the folder under the session's name, stale."""
    from datetime import date

    from divergencias import report
    from divergencias.dag_helpers import step_started

    folder = storage.location(str(tmp_path / "relatorios"))
    add_sale(conn, "NF1", bonus_dpto="1")
    day = date(2026, 11, 10)
    params = _cleared_run_reopens(conn, day, day)
    path = report.report_path(folder, params["data_inicio"], params["data_fim"], params["sessao_id"])
    report.export_session_report(conn, params["sessao_id"], path)
    assert path.exists()

    params = _cleared_run_reopens(conn, day, day)
    step_started(params["sessao_id"], "export_csv")

    def copy_interrupted(*args: object) -> int:
        raise psycopg.OperationalError("conexão perdida durante o COPY")

    monkeypatch.setattr(report, "write_report", copy_interrupted)
    with pytest.raises(psycopg.OperationalError):
        report.export_session_report(conn, params["sessao_id"], path)
    (arquivo,) = conn.execute(
        "SELECT arquivo_relatorio FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()
    assert arquivo is None
    assert list((tmp_path / "relatorios").iterdir()) == []
