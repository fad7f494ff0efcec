"""The fixture of the users' databases reproduces SEED_AUDIT_SCHEMA.md: the old DDL's objects
exactly, the old cron job's rows with their flaws, and main's own installs."""

import re

import psycopg
import pytest
from psycopg.rows import dict_row

from divergencias.migrations import MIGRATIONS_DIR
from tests import old_system
from tests.old_system import OLD_TABLES, OLD_VIEWS

MONTH_NAMES = {
    "Janeiro",
    "Fevereiro",
    "Março",
    "Abril",
    "Maio",
    "Junho",
    "Julho",
    "Agosto",
    "Setembro",
    "Outubro",
    "Novembro",
    "Dezembro",
}
CONTRACT_TYPES = {
    "TRADE_MARKETING_BONUS",
    "TRADE_MARKETING_TRADE",
    "PENDENTE_VERIFICACAO",
    "VALIDACAO_VALOR",
    "VALOR_INVALIDO",
}
OLD_RULES = {
    "BONUS_DPTO_DIVERGENTE",
    "TRADE_MKT_DIVERGENTE",
    "APONTAMENTO_REVISAR",
    "BONUS_PENDENTE_VERIFICACAO",
    "VALOR_NEGATIVO",
    "VALOR_ACIMA_LIMITE",
    "VALOR_NAO_NUMERICO",
}

OLD_INDEXED = {
    "operacoes": {"tipo_operacao", "usuario", "tabela_afetada", "timestamp_inicio DESC", "status", "origem"},
    "divergencias_processadas": {
        "idnfsexterno",
        "tipo_divergencia",
        "status_processamento",
        "competencia",
        "detectado_em DESC",
    },
    "sessoes_processamento": {"inicio_processamento DESC", "status", "tipo_sessao"},
    "configuracoes_sistema": {"chave, ativo", "modificado_em DESC"},
}


@pytest.fixture
def old(old_rows_db):
    with psycopg.connect(old_rows_db, autocommit=True) as c:
        yield c


def _scalar(conn, query, params=None):
    return conn.execute(query, params).fetchone()[0]


def test_the_old_ddl_is_not_rerunnable_it_fails_on_its_first_index(system_db):
    with psycopg.connect(system_db, autocommit=True) as c:
        old_system.build_old_system(c, with_rows=False)
        with pytest.raises(psycopg.errors.DuplicateTable, match='"idx_operacoes_tipo_operacao" already exists'):
            c.execute((old_system.OLD_SYSTEM / "ddl.sql").read_text(encoding="utf-8"))


def test_tables_have_exactly_the_old_columns_and_keys(old_schema_db):
    with psycopg.connect(old_schema_db) as c:
        for table, expected in OLD_TABLES.items():
            found = c.execute(
                """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
                     FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
                    WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
                (f"audit.{table}",),
            ).fetchall()
            assert found == expected, table
        constraints = {
            r[0]
            for r in c.execute(
                """SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE connamespace = 'audit'::regnamespace AND contype <> 'n'"""
            )
        }
        assert constraints == {
            "audit.operacoes PRIMARY KEY (id)",
            "audit.operacoes FOREIGN KEY (rollback_de) REFERENCES audit.operacoes(id)",
            "audit.divergencias_processadas PRIMARY KEY (id)",
            "audit.divergencias_processadas FOREIGN KEY (operacao_id) REFERENCES audit.operacoes(id)",
            "audit.sessoes_processamento PRIMARY KEY (id)",
            "audit.configuracoes_sistema PRIMARY KEY (id)",
            "audit.configuracoes_sistema UNIQUE (chave, versao)",
        }
        assert _scalar(c, "SELECT count(*) FROM audit.configuracoes_sistema") == 0


def test_old_indexes_cover_the_listed_columns_under_names_migration_001_does_not_use(old_schema_db):
    with psycopg.connect(old_schema_db) as c:
        rows = c.execute(
            """SELECT tablename, indexname, indexdef FROM pg_indexes
                WHERE schemaname = 'audit' AND indexdef NOT LIKE 'CREATE UNIQUE%%'"""
        ).fetchall()
    indexed: dict[str, set[str]] = {}
    for table, _, definition in rows:
        indexed.setdefault(table, set()).add(re.search(r"USING btree \((.*)\)$", definition).group(1))
    assert indexed == OLD_INDEXED
    migration_001 = (MIGRATIONS_DIR / "001_audit_base.sql").read_text(encoding="utf-8")
    assert not {name for _, name, _ in rows} & set(re.findall(r"INDEX IF NOT EXISTS (\w+)", migration_001))


def test_helper_functions_have_the_exact_old_signatures_and_behaviour(old_schema_db):
    with psycopg.connect(old_schema_db, autocommit=True, row_factory=dict_row) as c:
        functions = {
            r["proname"]: r
            for r in c.execute(
                """SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS identity,
                          pg_get_function_arguments(p.oid) AS arguments, p.proargnames,
                          p.prorettype::regtype::text AS ret, l.lanname
                     FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                    WHERE p.pronamespace = 'audit'::regnamespace"""
            )
        }
        assert set(functions) == {"registrar_operacao", "finalizar_operacao"}
        registrar, finalizar = functions["registrar_operacao"], functions["finalizar_operacao"]
        assert registrar["identity"] == (
            "p_tipo_operacao character varying, p_descricao text, p_usuario character varying, "
            "p_origem character varying, p_tabela_afetada character varying, p_registros_afetados integer, "
            "p_query_executada text"
        )
        assert registrar["arguments"].endswith(
            "p_tabela_afetada character varying DEFAULT NULL::character varying, "
            "p_registros_afetados integer DEFAULT 0, p_query_executada text DEFAULT NULL::text"
        )
        assert registrar["proargnames"] == [
            "p_tipo_operacao",
            "p_descricao",
            "p_usuario",
            "p_origem",
            "p_tabela_afetada",
            "p_registros_afetados",
            "p_query_executada",
        ]
        assert (registrar["ret"], registrar["lanname"]) == ("integer", "plpgsql")
        assert finalizar["identity"] == "p_operacao_id integer, p_status character varying, p_erro_mensagem text"
        assert finalizar["arguments"].endswith("p_erro_mensagem text DEFAULT NULL::text")
        assert finalizar["proargnames"] == ["p_operacao_id", "p_status", "p_erro_mensagem"]
        assert (finalizar["ret"], finalizar["lanname"]) == ("void", "plpgsql")

        op = c.execute(
            "SELECT audit.registrar_operacao('UPDATE', 'teste', 'ana.ribeiro', 'NOTEBOOK') AS id"
        ).fetchone()["id"]
        row = c.execute(
            "SELECT status, registros_afetados, timestamp_fim FROM audit.operacoes WHERE id = %s", (op,)
        ).fetchone()
        assert row == {"status": "SUCCESS", "registros_afetados": 0, "timestamp_fim": None}
        c.execute("SELECT audit.finalizar_operacao(%s, 'FAILED', 'falhou')", (op,))
        row = c.execute(
            "SELECT status, erro_mensagem, timestamp_fim IS NOT NULL AS fim, duracao_segundos >= 0 AS dur "
            "FROM audit.operacoes WHERE id = %s",
            (op,),
        ).fetchone()
        assert row == {"status": "FAILED", "erro_mensagem": "falhou", "fim": True, "dur": True}


def test_views_keep_the_old_columns_in_order(old_schema_db):
    with psycopg.connect(old_schema_db) as c:
        for view, columns in OLD_VIEWS.items():
            found = [
                r[0]
                for r in c.execute(
                    """SELECT column_name FROM information_schema.columns
                    WHERE table_schema = 'audit' AND table_name = %s ORDER BY ordinal_position""",
                    (view,),
                )
            ]
            assert found == columns, view


def test_old_rows_carry_the_old_jobs_flaws(old):
    assert not old.execute(
        """SELECT column_name FROM information_schema.columns
            WHERE table_schema = 'audit' AND column_name IN ('sessao_id', 'valor_original')"""
    ).fetchall()
    competencias = {r[0] for r in old.execute("SELECT DISTINCT competencia FROM audit.divergencias_processadas")}
    assert {"Maio", "Julho", "Outubro"} <= competencias <= MONTH_NAMES | {None}
    statuses = {r[0] for r in old.execute("SELECT DISTINCT status_processamento FROM audit.divergencias_processadas")}
    assert statuses == {"DETECTED", "AUTO_APPLIED", "APPROVED", "REJECTED"}
    types = {r[0] for r in old.execute("SELECT DISTINCT tipo_divergencia FROM audit.divergencias_processadas")}
    assert types == CONTRACT_TYPES
    rules = {r[0] for r in old.execute("SELECT DISTINCT unnest(regras_aplicadas) FROM audit.divergencias_processadas")}
    assert rules == OLD_RULES
    assert (
        _scalar(
            old,
            """SELECT count(*) FROM audit.divergencias_processadas
                            WHERE regras_aplicadas IN ('{BONUS_DPTO_DIVERGENTE}', '{TRADE_MKT_DIVERGENTE}')""",
        )
        > 0
    )
    assert _scalar(
        old,
        """SELECT bool_and(processado_por = 'sistema_automatico') FROM audit.divergencias_processadas
                            WHERE status_processamento IN ('DETECTED', 'AUTO_APPLIED')""",
    )
    assert _scalar(
        old,
        """SELECT bool_and(dados_contextuais ?& ARRAY['des_modelo', 'bonus_utilizado', 'dta_processamento'])
                             FROM audit.divergencias_processadas""",
    )
    # pandas' NaN fitted numeric(15,2); the contract reads 'NaN' as empty.
    assert _scalar(old, "SELECT count(*) FROM audit.divergencias_processadas WHERE valor_anterior = 'NaN'") > 0
    assert _scalar(old, "SELECT count(*) FROM audit.configuracoes_sistema") == 0
    assert _scalar(old, "SELECT max(detectado_em) < now() FROM audit.divergencias_processadas")


def test_the_same_divergence_is_open_in_several_rows(old):
    groups = old.execute(
        """SELECT count(*) FROM audit.divergencias_processadas WHERE status_processamento = 'DETECTED'
            GROUP BY idnfsexterno, tipo_divergencia, campo_afetado"""
    ).fetchall()
    sizes = [n for (n,) in groups]
    assert (sum(sizes), len(sizes)) == (old_system.OLD_OPEN_ROWS, old_system.OLD_OPEN_KEYS)
    assert sum(n > 1 for n in sizes) == old_system.OLD_DUPLICATE_GROUPS
    assert len(set(sizes)) >= 4
    assert _scalar(old, "SELECT count(*) FROM audit.vw_divergencias_abertas") == old_system.OLD_OPEN_ROWS + _scalar(
        old,
        "SELECT count(*) FROM audit.divergencias_processadas WHERE status_processamento = 'APPROVED' "
        "AND processado_em IS NULL",
    )


def test_people_decided_on_divergences_the_old_job_kept_recording(old):
    redetected = _scalar(
        old,
        """SELECT count(DISTINCT r.id) FROM audit.divergencias_processadas r
             JOIN audit.divergencias_processadas d
            USING (idnfsexterno, tipo_divergencia, campo_afetado)
            WHERE r.status_processamento = 'REJECTED' AND d.status_processamento = 'DETECTED'
              AND d.detectado_em > r.processado_em""",
    )
    assert redetected == old_system.OLD_REJECTED_THEN_REDETECTED
    not_applied = _scalar(
        old,
        """SELECT count(*) FROM audit.vw_divergencias_abertas
            WHERE status_processamento = 'APPROVED' AND valor_aplicado IS NULL AND operacao_id IS NULL""",
    )
    assert not_applied == old_system.OLD_APPROVED_NOT_APPLIED


def test_sessions_span_months_and_the_dying_job_left_some_running(old):
    by_status = dict(old.execute("SELECT status, count(*) FROM audit.sessoes_processamento GROUP BY status").fetchall())
    assert sum(by_status.values()) == old_system.OLD_SESSIONS
    assert by_status["RUNNING"] == old_system.OLD_RUNNING_SESSIONS
    assert by_status["COMPLETED"] > sum(by_status.values()) / 2 and by_status["FAILED"] > 0
    assert _scalar(
        old, "SELECT bool_and(fim_processamento IS NULL) FROM audit.sessoes_processamento WHERE status = 'RUNNING'"
    )
    assert (
        _scalar(
            old,
            "SELECT count(*) FROM audit.sessoes_processamento WHERE status = 'FAILED' "
            "AND resultado_geral LIKE '%%character varying(7)'",
        )
        > 0
    )
    span = _scalar(old, "SELECT max(inicio_processamento) - min(inicio_processamento) FROM audit.sessoes_processamento")
    assert span.days > 150
    assert {r[0] for r in old.execute("SELECT DISTINCT tipo_sessao FROM audit.sessoes_processamento")} == {
        "DAILY_AUTO",
        "MANUAL_RUN",
        "REPROCESSING",
    }
    assert _scalar(old, "SELECT status_ultima_execucao FROM audit.vw_dashboard_monitoramento") == "RUNNING"


def test_every_correction_has_one_update_operation(old):
    applied = old.execute(
        """SELECT d.status_processamento, o.tipo_operacao, o.origem, o.status, d.idnfsexterno, d.campo_afetado,
                  d.valor_aplicado, o.dados_anteriores, o.dados_posteriores
             FROM audit.divergencias_processadas d JOIN audit.operacoes o ON o.id = d.operacao_id"""
    ).fetchall()
    updates = _scalar(old, "SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'UPDATE'")
    assert len(applied) == updates > 0
    origins = set()
    for status, kind, origem, op_status, sale, field, value, before, after in applied:
        assert kind == "UPDATE"
        origins.add((status, origem))
        assert len(before) == len(after) == 1
        assert set(before[0]) == set(after[0]) == {"idnfsexterno", "campo", "valor"}
        assert (after[0]["idnfsexterno"], after[0]["campo"]) == (sale, field)
        assert isinstance(after[0]["valor"], (int, float)) and after[0]["valor"] == float(value)
        assert op_status in ("SUCCESS", "ROLLED_BACK")
    assert {("AUTO_APPLIED", "AUTOMATION"), ("APPROVED", "API")} <= origins
    assert (
        _scalar(
            old,
            """SELECT count(*) FROM audit.operacoes r JOIN audit.operacoes u ON u.id = r.rollback_de
                            WHERE r.tipo_operacao = 'ROLLBACK' AND u.status = 'ROLLED_BACK'""",
        )
        == 1
    )


def test_old_open_rows_reference_the_demo_sales_as_documented(old, main_v2_db):
    """Which old open divergences a correct first run keeps, and which it resolves: the keys
    main's own pipeline finds on the same byd are the ones that still diverge."""
    with psycopg.connect(main_v2_db) as c:
        found_now = set(
            c.execute(
                "SELECT DISTINCT idnfsexterno, tipo_divergencia, campo_afetado FROM audit.divergencias_processadas"
            ).fetchall()
        )
    open_keys = old.execute(
        """SELECT DISTINCT d.idnfsexterno, d.tipo_divergencia, d.campo_afetado,
                  EXISTS (SELECT FROM byd.bonus_view v WHERE v.idnfsexterno = d.idnfsexterno) AS sale_exists
             FROM audit.divergencias_processadas d WHERE d.status_processamento = 'DETECTED'"""
    ).fetchall()
    gone = [k for k in open_keys if not k[3]]
    still = [k for k in open_keys if k[3] and k[:3] in found_now]
    no_longer = [k for k in open_keys if k[3] and k[:3] not in found_now]
    assert (len(still), len(no_longer), len(gone)) == (
        old_system.OLD_OPEN_STILL_DIVERGING,
        old_system.OLD_OPEN_NO_LONGER_HOLDING,
        old_system.OLD_OPEN_SALE_GONE,
    )


def test_main_v2_database_is_migrated_and_run_by_main(main_v2_db):
    with psycopg.connect(main_v2_db) as c:
        versions = [r[0] for r in c.execute("SELECT versao FROM audit.schema_migracoes ORDER BY versao")]
        assert versions == sorted(p.name for p in MIGRATIONS_DIR.glob("00[1-8]_*.sql"))
        assert len(versions) == 8
        assert c.execute("SELECT status, tipo_sessao FROM audit.sessoes_processamento").fetchall() == [
            ("COMPLETED", "MANUAL_RUN")
        ]
        statuses = {r[0] for r in c.execute("SELECT DISTINCT status_processamento FROM audit.divergencias_processadas")}
        assert {"DETECTED", "AUTO_APPLIED"} <= statuses
        assert _scalar(c, "SELECT bool_and(sessao_id IS NOT NULL) FROM audit.divergencias_processadas")
        assert _scalar(c, "SELECT count(*) FROM audit.configuracoes_sistema") > 0
