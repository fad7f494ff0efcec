"""The databases users already have, rebuilt for tests: the old system's ``audit`` (its DDL,
with or without five months of its cron job's rows) and an ``audit`` built and run by main
as of commit 308fd28 (migrations 001-008). All three sit beside the demo ``byd`` the tests
use, loaded the way ``test_dag`` loads it.

Facts the rows reproduce, and what a correct first run of the DAG must do with them, are the
constants below; ``tests/test_old_system_fixture.py`` proves them on the fixture.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import psycopg

from devtools import demo_source
from devtools.sql_steps import run_sql
from divergencias.migrations import MIGRATIONS_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLD_SYSTEM = FIXTURES / "old_system"
MAIN_V2 = FIXTURES / "main_v2"

DEMO_SALES = 3000
DEMO_END = date(2026, 10, 31)
# The pass main_v2 databases were run with: the whole demo, corrections applied.
MAIN_V2_PERIOD = (date(2026, 9, 1), DEMO_END)

# What the old rows hold (deterministic: the generator uses no random()).
OLD_SESSIONS = 165
OLD_RUNNING_SESSIONS = 3
OLD_OPEN_ROWS = 413  # DETECTED rows
OLD_OPEN_KEYS = 119  # distinct (idnfsexterno, tipo_divergencia, campo_afetado) among them
OLD_DUPLICATE_GROUPS = 114  # keys with more than one DETECTED row
# After the first run, whatever its period (every open divergence is re-checked):
OLD_OPEN_STILL_DIVERGING = 87  # stay DETECTED (one row each once duplicates are collapsed)
OLD_OPEN_NO_LONGER_HOLDING = 29  # RESOLVED: the sale is in byd but the condition is gone
OLD_OPEN_SALE_GONE = 3  # RESOLVED: the sale is not in byd.bonus_view any more
# Traps among the still-diverging keys: the old job re-detected, after a controller REJECTED
# it, a divergence whose values had not changed; and two APPROVED rows were never applied
# (processado_em NULL, so vw_divergencias_abertas lists them beside their DETECTED rows).
OLD_REJECTED_THEN_REDETECTED = 7
OLD_APPROVED_NOT_APPLIED = 2


# The old schema as SEED_AUDIT_SCHEMA.md gives it: tables column by column, and the views
# with their columns in order (PostgreSQL refuses a CREATE OR REPLACE VIEW that moves one).
VARCHAR = "character varying"
TS = "timestamp without time zone"
# (column, type, NOT NULL, default) in table order, as SEED_AUDIT_SCHEMA.md lists them.
OLD_TABLES = {
    "operacoes": [
        ("id", "integer", True, "nextval('audit.operacoes_id_seq'::regclass)"),
        ("tipo_operacao", f"{VARCHAR}(50)", True, None),
        ("descricao", "text", True, None),
        ("usuario", f"{VARCHAR}(100)", True, None),
        ("origem", f"{VARCHAR}(50)", True, None),
        ("tabela_afetada", f"{VARCHAR}(200)", False, None),
        ("registros_afetados", "integer", False, "0"),
        ("filtros_aplicados", "jsonb", False, None),
        ("query_executada", "text", False, None),
        ("dados_anteriores", "jsonb", False, None),
        ("dados_posteriores", "jsonb", False, None),
        ("timestamp_inicio", TS, True, "now()"),
        ("timestamp_fim", TS, False, None),
        ("duracao_segundos", "numeric(10,3)", False, None),
        ("status", f"{VARCHAR}(20)", True, f"'PENDING'::{VARCHAR}"),
        ("erro_mensagem", "text", False, None),
        ("rollback_de", "integer", False, None),
        ("ip_origem", f"{VARCHAR}(45)", False, None),
        ("user_agent", "text", False, None),
        ("metadata", "jsonb", False, None),
    ],
    "divergencias_processadas": [
        ("id", "integer", True, "nextval('audit.divergencias_processadas_id_seq'::regclass)"),
        ("operacao_id", "integer", False, None),
        ("idnfsexterno", f"{VARCHAR}(100)", True, None),
        ("tipo_divergencia", f"{VARCHAR}(100)", True, None),
        ("competencia", f"{VARCHAR}(7)", False, None),
        ("valor_anterior", "numeric(15,2)", False, None),
        ("valor_sugerido", "numeric(15,2)", False, None),
        ("valor_aplicado", "numeric(15,2)", False, None),
        ("campo_afetado", f"{VARCHAR}(100)", False, None),
        ("status_processamento", f"{VARCHAR}(50)", True, None),
        ("decisao_automatica", "boolean", False, "false"),
        ("motivo_rejeicao", "text", False, None),
        ("detectado_em", TS, True, "now()"),
        ("processado_em", TS, False, None),
        ("processado_por", f"{VARCHAR}(100)", False, None),
        ("confidence_score", "numeric(3,2)", False, None),
        ("regras_aplicadas", "text[]", False, None),
        ("dados_contextuais", "jsonb", False, None),
    ],
    "sessoes_processamento": [
        ("id", "integer", True, "nextval('audit.sessoes_processamento_id_seq'::regclass)"),
        ("tipo_sessao", f"{VARCHAR}(50)", True, None),
        ("inicio_processamento", TS, True, "now()"),
        ("fim_processamento", TS, False, None),
        ("duracao_total_segundos", "integer", False, None),
        ("total_registros_analisados", "integer", False, "0"),
        ("divergencias_detectadas", "integer", False, "0"),
        ("correcoes_aplicadas", "integer", False, "0"),
        ("correcoes_pendentes", "integer", False, "0"),
        ("erros_encontrados", "integer", False, "0"),
        ("status", f"{VARCHAR}(20)", True, f"'RUNNING'::{VARCHAR}"),
        ("resultado_geral", "text", False, None),
        ("versao_sistema", f"{VARCHAR}(20)", False, None),
        ("ambiente", f"{VARCHAR}(20)", False, None),
        ("parametros_execucao", "jsonb", False, None),
        ("log_completo", "text", False, None),
        ("alertas_enviados", "boolean", False, "false"),
        ("destinatarios_notificados", "text[]", False, None),
    ],
    "configuracoes_sistema": [
        ("id", "integer", True, "nextval('audit.configuracoes_sistema_id_seq'::regclass)"),
        ("chave", f"{VARCHAR}(100)", True, None),
        ("valor", "text", True, None),
        ("tipo_valor", f"{VARCHAR}(20)", False, None),
        ("descricao", "text", False, None),
        ("versao", "integer", True, "1"),
        ("ativo", "boolean", False, "true"),
        ("criado_em", TS, True, "now()"),
        ("criado_por", f"{VARCHAR}(100)", True, None),
        ("modificado_em", TS, False, None),
        ("modificado_por", f"{VARCHAR}(100)", False, None),
        ("valor_padrao", "text", False, None),
        ("validacao_regex", f"{VARCHAR}(500)", False, None),
        ("obrigatorio", "boolean", False, "false"),
    ],
}
OLD_VIEWS = {
    "vw_operacoes_resumo": [
        "data",
        "tipo_operacao",
        "origem",
        "status",
        "total_operacoes",
        "total_registros",
        "duracao_media_seg",
        "total_erros",
    ],
    "vw_divergencias_abertas": [c[0] for c in OLD_TABLES["divergencias_processadas"]] + ["dias_pendente"],
    "vw_dashboard_monitoramento": [
        "data_consulta",
        "divergencias_abertas",
        "execucoes_hoje",
        "status_ultima_execucao",
        "erros_hoje",
    ],
}


def _load_demo_source(conn: psycopg.Connection) -> None:
    demo_source.generate_sales(conn, DEMO_SALES, end_date=DEMO_END, progress=None)


def _run_file(conn: psycopg.Connection, path: Path) -> None:
    with conn.transaction():
        conn.execute(path.read_text(encoding="utf-8"))


def build_old_system(conn: psycopg.Connection, with_rows: bool) -> None:
    """Create ``audit`` as the old DDL and the deployment guide's dashboard view left it and,
    with ``with_rows``, fill it as the old cron job did. Needs the demo ``byd`` for the rows.
    ``conn`` must be in autocommit."""
    _run_file(conn, OLD_SYSTEM / "ddl.sql")
    _run_file(conn, OLD_SYSTEM / "dashboard.sql")
    if with_rows:
        _run_file(conn, OLD_SYSTEM / "rows.sql")


def apply_main_v2_migrations(conn: psycopg.Connection) -> None:
    """Migrations 001-008 recorded exactly as main's runner recorded them at 308fd28
    (file name and sha256 in audit.schema_migracoes): a frozen copy on purpose, since the
    live runner is what is being changed."""
    with conn.transaction():
        conn.execute(
            """CREATE SCHEMA IF NOT EXISTS audit;
               CREATE TABLE IF NOT EXISTS audit.schema_migracoes (
                   versao       text PRIMARY KEY,
                   checksum     text NOT NULL,
                   aplicada_em  timestamp NOT NULL DEFAULT now()
               )"""
        )
    # 001-008 are frozen in include/sql/migrations (their checksums are recorded in users'
    # databases and verified on every run), so main's files are read from there.
    for path in sorted(MIGRATIONS_DIR.glob("00[1-8]_*.sql")):
        text = path.read_text(encoding="utf-8")
        with conn.transaction():
            conn.execute(text)
            conn.execute(
                "INSERT INTO audit.schema_migracoes (versao, checksum) VALUES (%s, %s)",
                (path.name, hashlib.sha256(text.encode()).hexdigest()),
            )


def run_main_v2_pass(conn: psycopg.Connection, data_inicio: date, data_fim: date, modo: str = "auto") -> int:
    """One run of main's DAG at 308fd28 without Airflow: its own SQL steps, the report and
    the email marked done, so the session ends COMPLETED. Returns the session id."""

    def step(name: str, params: dict) -> list[tuple] | None:
        return run_sql(conn, (MAIN_V2 / "steps" / f"{name}.sql").read_text(encoding="utf-8"), params)

    (opened,) = step(
        "open_session",
        {
            "tipo_sessao": "MANUAL_RUN",
            "data_inicio": str(data_inicio),
            "data_fim": str(data_fim),
            "modo": modo,
            "dag_run_id": f"manual__main_v2_{data_inicio}_{data_fim}",
            "ambiente": "DEVELOPMENT",
            "versao_sistema": "308fd28",
            "parametros_execucao": "{}",
        },
    )
    params = dict(zip(("sessao_id", "data_inicio", "data_fim", "modo"), opened, strict=True))
    step("detect_divergences", params)
    step("apply_corrections", params)
    for etapa in ("export_csv", "email_summary"):
        step("mark_step_done", {**params, "etapa": etapa})
    step("close_session", params)
    return params["sessao_id"]


def build_old_system_database(conn: psycopg.Connection, with_rows: bool) -> None:
    """The demo ``byd`` and the old ``audit``, in a database the system created."""
    _load_demo_source(conn)
    build_old_system(conn, with_rows)


def build_main_v2_database(conn: psycopg.Connection) -> None:
    """The demo ``byd`` and an ``audit`` migrated and run once by main at 308fd28."""
    apply_main_v2_migrations(conn)
    _load_demo_source(conn)
    run_main_v2_pass(conn, *MAIN_V2_PERIOD)
