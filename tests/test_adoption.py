"""Taking over the users' databases (issue 7, point 1): the DAG migrates and runs on an empty
database, on one whose ``audit`` the old DDL created (with and without months of the old
job's rows) and on one migrated by the previous version, with the contract's results."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import psycopg
import pytest
from psycopg import sql

from devtools.sql_steps import run_session
from divergencias.migrations import MigrationChanged, apply_migrations
from tests import old_system
from tests.helpers import add_sale, booked, business_state
from tests.old_system import OLD_VIEWS

PERIOD = {"data_inicio": str(old_system.MAIN_V2_PERIOD[0]), "data_fim": str(old_system.MAIN_V2_PERIOD[1])}


OLD_OPERATION_COLUMNS = (
    "SELECT (id, tipo_operacao, descricao, usuario, origem, registros_afetados, dados_anteriores, dados_posteriores, "
    "timestamp_inicio, timestamp_fim, status, erro_mensagem, rollback_de)::text FROM audit.operacoes ORDER BY id"
)


@pytest.fixture
def fresh_db(make_business_db, monkeypatch):
    """An empty ``audit`` beside the same demo sales the old databases hold."""
    from devtools import databases, demo_source

    dsn = make_business_db()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA audit CASCADE")
        demo_source.generate_sales(conn, old_system.DEMO_SALES, end_date=old_system.DEMO_END, progress=None)
    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", databases.airflow_connection_json(dsn))
    return dsn


def _interface(conn: psycopg.Connection) -> dict:
    views = {
        name: [
            column
            for (column,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'audit' "
                "AND table_name = %s ORDER BY ordinal_position",
                (name,),
            )
        ]
        for name in OLD_VIEWS
    }
    functions = dict(
        conn.execute(
            """SELECT p.proname, pg_get_function_arguments(p.oid) FROM pg_proc p
                WHERE p.pronamespace = 'audit'::regnamespace
                  AND p.proname IN ('registrar_operacao', 'finalizar_operacao')"""
        ).fetchall()
    )
    return {"views": views, "functions": functions}


def _check_interface(conn: psycopg.Connection) -> None:
    found = _interface(conn)
    for name, old_columns in OLD_VIEWS.items():
        assert found["views"][name][: len(old_columns)] == old_columns, name
    assert found["functions"] == {
        "registrar_operacao": "p_tipo_operacao character varying, p_descricao text, p_usuario character varying, "
        "p_origem character varying, p_tabela_afetada character varying DEFAULT NULL::character varying, "
        "p_registros_afetados integer DEFAULT 0, p_query_executada text DEFAULT NULL::text",
        "finalizar_operacao": "p_operacao_id integer, p_status character varying, "
        "p_erro_mensagem text DEFAULT NULL::text",
    }
    # both old helpers still work as the old notebooks call them, named arguments included
    with conn.transaction():
        (op,) = conn.execute(
            "SELECT audit.registrar_operacao(p_tipo_operacao => 'UPDATE', p_descricao => 'notebook', "
            "p_usuario => 'analista', p_origem => 'NOTEBOOK')"
        ).fetchone()
        conn.execute("SELECT audit.finalizar_operacao(%s, 'SUCCESS')", (op,))
        assert conn.execute(
            "SELECT status, timestamp_fim IS NOT NULL FROM audit.operacoes WHERE id = %s", (op,)
        ).fetchone() == ("SUCCESS", True)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute("UPDATE audit.operacoes SET descricao = 'reescrita' WHERE id = %s", (op,))
        raise psycopg.Rollback()


def _open_keys(conn: psycopg.Connection) -> set[tuple]:
    return set(
        conn.execute(
            "SELECT idnfsexterno, tipo_divergencia, campo_afetado FROM audit.divergencias_processadas "
            "WHERE status_processamento = 'DETECTED'"
        ).fetchall()
    )


def _closed_history(conn: psycopg.Connection) -> list[tuple]:
    """Rows a person or the old job closed: history, never rewritten."""
    return conn.execute(
        """SELECT id, idnfsexterno, tipo_divergencia, campo_afetado, competencia, valor_anterior::text,
                  valor_sugerido::text, valor_aplicado::text, status_processamento, processado_em, processado_por,
                  regras_aplicadas
             FROM audit.divergencias_processadas
            WHERE status_processamento IN ('AUTO_APPLIED', 'APPROVED', 'REJECTED') ORDER BY id"""
    ).fetchall()


def _run_twice(dag, dsn: str, monkeypatch) -> tuple[dict, dict]:
    from devtools.databases import airflow_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", airflow_connection_json(dsn))
    results = []
    for _ in range(2):
        assert dag.test(run_conf={**PERIOD, "modo": "auto"}).state == "success"
        with psycopg.connect(dsn) as conn:
            results.append(
                conn.execute(
                    "SELECT status, divergencias_detectadas, correcoes_aplicadas FROM audit.sessoes_processamento "
                    "WHERE dag_run_id IS NOT NULL AND versao_sistema <> '308fd28' ORDER BY id DESC LIMIT 1"
                ).fetchone()
            )
    return results[0], results[1]


@pytest.fixture
def fresh_result(dag, fresh_db, smtp, output_dir, monkeypatch):
    first, second = _run_twice(dag, fresh_db, monkeypatch)
    with psycopg.connect(fresh_db) as conn:
        _check_interface(conn)
        return {"first": first, "second": second, "open": _open_keys(conn), "state": business_state(conn)[0]}


def test_an_empty_database_gets_the_old_interface_and_the_contract_results(fresh_result):
    assert fresh_result["first"][0] == "COMPLETED" and fresh_result["first"][1] > 0
    assert fresh_result["second"] == ("COMPLETED", 0, 0)


def test_a_database_whose_audit_the_old_ddl_created_is_adopted(
    dag, old_schema_db, smtp, output_dir, fresh_result, monkeypatch
):
    first, second = _run_twice(dag, old_schema_db, monkeypatch)
    with psycopg.connect(old_schema_db) as conn:
        _check_interface(conn)
        assert (first, second) == (fresh_result["first"], fresh_result["second"])
        assert _open_keys(conn) == fresh_result["open"]
        assert business_state(conn)[0] == fresh_result["state"]


def test_months_of_old_rows_are_adopted_kept_and_collapsed(
    dag, old_rows_db, smtp, output_dir, fresh_result, monkeypatch
):
    with psycopg.connect(old_rows_db) as conn:
        closed_before = _closed_history(conn)
        ids_before = [i for (i,) in conn.execute("SELECT id FROM audit.divergencias_processadas")]
        operations_before = conn.execute(OLD_OPERATION_COLUMNS).fetchall()
    first, second = _run_twice(dag, old_rows_db, monkeypatch)
    with psycopg.connect(old_rows_db) as conn:
        _check_interface(conn)
        # old rows kept, closed ones untouched, old operations untouched
        closed_after = {row[0]: row for row in _closed_history(conn)}
        assert [closed_after[row[0]] for row in closed_before] == closed_before
        assert conn.execute(OLD_OPERATION_COLUMNS).fetchall()[: len(operations_before)] == operations_before
        kept = conn.execute(
            "SELECT count(*) FROM audit.divergencias_processadas WHERE id = ANY(%s)", (ids_before,)
        ).fetchone()[0]
        assert kept == len(ids_before)
        # duplicates collapsed: the oldest row stays open, the others RESOLVED with the reason and a history row
        collapsed = conn.execute(
            """SELECT count(*), count(h.id) FROM audit.divergencias_processadas d
                 LEFT JOIN audit.historico_divergencias h ON h.divergencia_id = d.id AND h.status_novo = 'RESOLVED'
                WHERE d.dados_contextuais ->> 'motivo_resolucao' LIKE 'duplicata deixada pelo sistema anterior%'"""
        ).fetchone()
        assert collapsed == (old_system.OLD_OPEN_ROWS - old_system.OLD_OPEN_KEYS,) * 2
        # sessions the old job left RUNNING are FAILED with the reason
        assert conn.execute("SELECT count(*) FROM audit.sessoes_processamento WHERE status = 'RUNNING'").fetchone() == (
            0,
        )
        assert conn.execute(
            "SELECT count(*) FROM audit.sessoes_processamento WHERE resultado_geral LIKE '%sistema anterior%'"
        ).fetchone() == (old_system.OLD_RUNNING_SESSIONS,)
        # adopted, not recorded again: one open row per key, and the same queue a fresh database has
        assert conn.execute(
            """SELECT count(*) FROM (SELECT 1 FROM audit.divergencias_processadas
                WHERE status_processamento = 'DETECTED'
                GROUP BY idnfsexterno, tipo_divergencia, campo_afetado HAVING count(*) > 1) AS x"""
        ).fetchone() == (0,)
        # a controller's rejection in the old system holds: the old job's re-detection of the
        # same values is adopted but never applied over it
        held = conn.execute(
            """SELECT d.idnfsexterno, d.tipo_divergencia, d.campo_afetado, d.dados_contextuais ->> 'motivo_nao_aplicada'
                 FROM audit.divergencias_processadas d
                 JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia AND r.corrigivel
                WHERE d.status_processamento = 'DETECTED'
                  AND EXISTS (SELECT 1 FROM audit.divergencias_processadas x
                               WHERE (x.idnfsexterno, x.tipo_divergencia, x.campo_afetado)
                                     = (d.idnfsexterno, d.tipo_divergencia, d.campo_afetado)
                                 AND x.status_processamento = 'REJECTED' AND x.valor_original IS NULL
                                 AND x.valor_sugerido = d.valor_sugerido)"""
        ).fetchall()
        assert held and all("decisão mantida" in motivo for *_, motivo in held)
        # nor is any applied by a run: 'NaN' texts the old job kept as numeric NaN read as empty
        overridden = conn.execute(
            """SELECT count(*) FROM audit.divergencias_processadas d
                 JOIN audit.divergencias_processadas x
                   ON (x.idnfsexterno, x.tipo_divergencia, x.campo_afetado)
                      = (d.idnfsexterno, d.tipo_divergencia, d.campo_afetado)
                WHERE d.status_processamento = 'AUTO_APPLIED' AND d.processado_por = 'airflow:divergencias_diarias'
                  AND x.status_processamento = 'REJECTED' AND x.valor_original IS NULL
                  AND nullif(x.valor_anterior, 'NaN') IS NOT DISTINCT FROM d.valor_anterior
                  AND x.valor_sugerido = d.valor_sugerido"""
        ).fetchone()
        assert overridden == (0,)
        assert _open_keys(conn) == fresh_result["open"] | {tuple(row[:3]) for row in held}
        gone = conn.execute(
            "SELECT count(*) FROM audit.divergencias_processadas WHERE dados_contextuais ->> 'motivo_resolucao' "
            "= 'venda não encontrada na origem (byd.bonus_view)'"
        ).fetchone()[0]
        assert gone == old_system.OLD_OPEN_SALE_GONE
        assert second[1:] == (0, 0)


def test_a_database_migrated_by_the_previous_version_keeps_working(dag, main_v2_db, smtp, output_dir, monkeypatch):
    with psycopg.connect(main_v2_db) as conn:
        before = business_state(conn)
    first, second = _run_twice(dag, main_v2_db, monkeypatch)
    with psycopg.connect(main_v2_db) as conn:
        _check_interface(conn)
        assert first == ("COMPLETED", 0, 0) and second == ("COMPLETED", 0, 0)
        assert business_state(conn) == before


def test_a_migrated_audit_runs_for_its_owner_once_the_right_to_create_schemas_is_revoked(system_db):
    """A DBA grants the application's user CREATE on the database for the first run, which
    creates or adopts audit (migration 001 creates the schema), and revokes it afterwards:
    owning audit is then enough. Every run verifies the migrations first."""
    owner = f"dono_audit_{uuid.uuid4().hex[:8]}"
    database = psycopg.conninfo.conninfo_to_dict(system_db)["dbname"]
    grant = sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(owner))
    revoke = sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(sql.Identifier(database), sql.Identifier(owner))
    with psycopg.connect(system_db, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        admin.execute(grant)
        try:
            with psycopg.connect(system_db, user=owner, autocommit=True) as conn:
                assert apply_migrations(conn, progress=lambda _: None)
                admin.execute(revoke)
                assert conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone() == (
                    False,
                )
                assert apply_migrations(conn, progress=lambda _: None) == []
        finally:
            admin.execute("DROP SCHEMA IF EXISTS audit CASCADE")
            admin.execute(revoke)
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(owner)))


def test_whoever_could_read_the_old_views_still_can_after_adoption(old_schema_db):
    """The old guide grants on ALL TABLES of audit, which takes in its views; 000 and 009
    replace the views, and a replaced view starts with no grants. Nobody gets to read more
    than the tables it could read."""
    reader, auditor = (f"{name}_{uuid.uuid4().hex[:8]}" for name in ("leitor", "auditor"))
    with psycopg.connect(old_schema_db, autocommit=True) as admin:
        for role in (reader, auditor):
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            admin.execute(sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA audit TO {}").format(sql.Identifier(reader)))
        admin.execute(sql.SQL("GRANT SELECT ON audit.operacoes TO {}").format(sql.Identifier(auditor)))
        try:
            apply_migrations(admin, progress=lambda _: None)
            readable = {
                role: {
                    view
                    for view in OLD_VIEWS
                    if admin.execute(
                        "SELECT has_table_privilege(%s, %s, 'SELECT')", (role, f"audit.{view}")
                    ).fetchone()[0]
                }
                for role in (reader, auditor)
            }
            assert readable == {reader: set(OLD_VIEWS), auditor: {"vw_operacoes_resumo"}}
            with psycopg.connect(old_schema_db, user=reader) as conn:
                for view in OLD_VIEWS:
                    conn.execute(sql.SQL("SELECT * FROM audit.{}").format(sql.Identifier(view))).fetchall()
        finally:
            for role in (reader, auditor):
                admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_changed_migration_stops_the_run_naming_the_file(business_db, tmp_path, monkeypatch):
    from divergencias import migrations

    copy = tmp_path / "migrations"
    copy.mkdir()
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        (copy / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (copy / "003_configuracoes_padrao.sql").write_text("-- editado depois de aplicado\n", encoding="utf-8")
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", copy)
    with psycopg.connect(business_db, autocommit=True) as conn:
        with pytest.raises(MigrationChanged, match="003_configuracoes_padrao.sql foi alterada"):
            apply_migrations(conn)


# After the demo sales (they end on DEMO_END), so only the sales a test adds are in it.
LATER_PERIOD = (date(2026, 11, 1), date(2026, 11, 30))


def _old_job_row(conn: psycopg.Connection, idnfsexterno: str, tipo: str, campo: str | None, regra: str) -> int:
    """An open divergence as the old job's AuditLogger.registrar_divergencia wrote it."""
    return conn.execute(
        """INSERT INTO audit.divergencias_processadas
               (idnfsexterno, tipo_divergencia, campo_afetado, competencia, status_processamento,
                confidence_score, regras_aplicadas, detectado_em, dados_contextuais)
           VALUES (%s, %s, %s, 'Julho', 'DETECTED', 0.70, ARRAY[%s], '2026-07-12 07:00:31', '{}')
           RETURNING id""",
        (idnfsexterno, tipo, campo, regra),
    ).fetchone()[0]


def test_an_old_divergence_on_no_single_field_is_rechecked_by_its_sale_not_resolved_blindly(old_schema_db):
    """The old job recorded VALIDACAO_VALOR once per sale, on campo_afetado 'valores_bonus' (no
    such column), and the old schema allows no campo at all. Such a row names no field the
    catalog judges: it still holds while the sale breaks its rule, and is replaced (not
    dropped) once the run records the rule's divergences field by field."""
    with psycopg.connect(old_schema_db, autocommit=True) as conn:
        add_sale(conn, "NF_VELHA_FORA", valor_bonus="-500.00", dta_processamento=datetime(2026, 7, 10, 9))
        add_sale(conn, "NF_VELHA_DENTRO", valor_bonus="-700.00", dta_processamento=datetime(2026, 11, 10, 9))
        add_sale(conn, "NF_VELHA_CORRIGIDA", valor_bonus="800.00", dta_processamento=datetime(2026, 7, 10, 9))
        add_sale(
            conn,
            "NF_VELHA_PENDENTE",
            bonus_utilizado="PENDENTE VERIFICACAO",
            dta_processamento=datetime(2026, 7, 10, 9),
        )
        fora = _old_job_row(conn, "NF_VELHA_FORA", "VALIDACAO_VALOR", "valores_bonus", "BONUS_VALOR_NEGATIVO")
        dentro = _old_job_row(conn, "NF_VELHA_DENTRO", "VALIDACAO_VALOR", "valores_bonus", "BONUS_VALOR_NEGATIVO")
        corrigida = _old_job_row(conn, "NF_VELHA_CORRIGIDA", "VALIDACAO_VALOR", "valores_bonus", "BONUS_VALOR_NEGATIVO")
        pendente = _old_job_row(conn, "NF_VELHA_PENDENTE", "PENDENTE_VERIFICACAO", None, "VERIFICACAO_PENDENTE")
        apply_migrations(conn)
        sessao = run_session(conn, *LATER_PERIOD, modo="manual")["sessao_id"]
        rows = {
            row[0]: row[1:]
            for row in conn.execute(
                """SELECT id, status_processamento, dados_contextuais ->> 'motivo_resolucao'
                     FROM audit.divergencias_processadas WHERE id = ANY(%s)""",
                ([fora, dentro, corrigida, pendente],),
            )
        }
        assert rows[fora] == ("DETECTED", None)
        assert rows[pendente] == ("DETECTED", None)
        assert rows[corrigida] == ("RESOLVED", "a condição não se verifica mais na origem")
        status, motivo = rows[dentro]
        por_campo = conn.execute(
            """SELECT id FROM audit.divergencias_processadas
                WHERE idnfsexterno = 'NF_VELHA_DENTRO' AND tipo_divergencia = 'VALIDACAO_VALOR'
                  AND campo_afetado = 'valor_bonus' AND status_processamento = 'DETECTED' AND sessao_id = %s""",
            (sessao,),
        ).fetchall()
        assert len(por_campo) == 1
        assert status == "RESOLVED" and motivo.startswith("substituída") and str(por_campo[0][0]) in motivo


def _audit_shape(conn: psycopg.Connection) -> list[tuple]:
    """Every relation and function of audit with its columns or arguments: what a failed
    adoption must leave exactly as it found."""
    return conn.execute(
        """SELECT c.relname, c.relkind::text, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                                     ORDER BY a.attnum)
             FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relnamespace = 'audit'::regnamespace GROUP BY 1, 2
           UNION ALL
           SELECT p.proname, 'f', pg_get_function_arguments(p.oid) FROM pg_proc p
            WHERE p.pronamespace = 'audit'::regnamespace
            ORDER BY 1, 2"""
    ).fetchall()


def test_an_object_built_on_the_old_views_stops_the_adoption_naming_it_and_changes_nothing(old_schema_db):
    """The old guide taught building views on audit's views (vw_dashboard_monitoramento reads
    vw_divergencias_abertas); a report view of the DBA's own on one of them keeps 000 from
    replacing it. The take-over stops at once, names the migration and the dependent object
    without suggesting DROP … CASCADE (which would destroy the DBA's view), and leaves audit
    exactly as it was, the migration log included, until the DBA moves that view aside."""
    from airflow.sdk.exceptions import AirflowFailException

    from divergencias.preparation import prepare_run

    with psycopg.connect(old_schema_db, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA relatorios; CREATE VIEW relatorios.pendencias AS "
            "SELECT idnfsexterno, dias_pendente FROM audit.vw_divergencias_abertas"
        )
        before = _audit_shape(conn)
        with pytest.raises(AirflowFailException) as refused:
            prepare_run({}, "scheduled", datetime(2026, 11, 28, 10, 0).astimezone(), "scheduled__teste")
        message = str(refused.value)
        assert "000_adocao_esquema_antigo.sql" in message
        assert "relatorios.pendencias" in message and "audit.vw_divergencias_abertas" in message
        assert "CASCADE" not in message
        assert _audit_shape(conn) == before
        conn.execute("DROP VIEW relatorios.pendencias")
        assert apply_migrations(conn, progress=lambda _: None)
        _check_interface(conn)


def test_grants_on_the_old_views_and_helpers_themselves_survive_the_adoption(old_schema_db):
    """A DBA lets a monitoring login read the dashboard view alone (a view reads its tables
    with its owner's rights), and lets only the notebooks' login call the old helpers. 000
    and 009 replace those objects, which starts them with no grants, and 039 can only grant
    what the tables' grants imply: each object keeps the grants it had, no more, no less."""
    monitor, notebook = (f"{name}_{uuid.uuid4().hex[:8]}" for name in ("monitor", "notebook"))
    helper = "audit.registrar_operacao(varchar, text, varchar, varchar, varchar, integer, text)"
    with psycopg.connect(old_schema_db, autocommit=True) as admin:
        for role in (monitor, notebook):
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
            admin.execute(sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT SELECT ON audit.vw_dashboard_monitoramento TO {}").format(sql.Identifier(monitor)))
        admin.execute(sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(sql.SQL(helper)))
        admin.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(helper), sql.Identifier(notebook)))
        try:
            apply_migrations(admin, progress=lambda _: None)
            assert {
                (role, view)
                for role in (monitor, notebook)
                for view in OLD_VIEWS
                if admin.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (role, f"audit.{view}")).fetchone()[0]
            } == {(monitor, "vw_dashboard_monitoramento")}
            assert [
                admin.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, helper)).fetchone()[0]
                for role in (monitor, notebook)
            ] == [False, True]
            with psycopg.connect(old_schema_db, user=monitor) as conn:
                assert conn.execute("SELECT count(*) FROM audit.vw_dashboard_monitoramento").fetchone() == (1,)
        finally:
            for role in (monitor, notebook):
                admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_an_old_divergence_of_a_rule_the_catalog_does_not_know_stays_open_for_a_person(old_schema_db):
    """The old system may have recorded divergences of a rule this system does not have
    (audit.regras_divergencia knows only the contract's). No run evaluates it, so it cannot
    say the condition is gone: the row stays open, with the reason, for a person to decide,
    and is never applied. A sale gone from the source is still a fact the run can state."""
    with psycopg.connect(old_schema_db, autocommit=True) as conn:
        add_sale(conn, "NF_REGRA_ANTIGA", valor_bonus="800.00", dta_processamento=datetime(2026, 11, 10, 9))
        presente = _old_job_row(conn, "NF_REGRA_ANTIGA", "CHASSI_DUPLICADO", "chassi", "CHASSI_DUPLICADO")
        sumida = _old_job_row(conn, "NF_REGRA_SUMIDA", "CHASSI_DUPLICADO", "chassi", "CHASSI_DUPLICADO")
        apply_migrations(conn)
        for _ in range(2):
            run_session(conn, *LATER_PERIOD, modo="auto")
        rows = dict(
            (row[0], row[1:])
            for row in conn.execute(
                """SELECT id, status_processamento, dados_contextuais ->> 'motivo_resolucao',
                          dados_contextuais ->> 'motivo_nao_avaliada'
                     FROM audit.divergencias_processadas WHERE id = ANY(%s)""",
                ([presente, sumida],),
            )
        )
        status, resolucao, nao_avaliada = rows[presente]
        assert (status, resolucao) == ("DETECTED", None)
        assert "CHASSI_DUPLICADO" in nao_avaliada and "audit.regras_divergencia" in nao_avaliada
        assert rows[sumida][:2] == ("RESOLVED", "venda não encontrada na origem (byd.bonus_view)")


@pytest.mark.parametrize(
    ("booked_text", "reference_text", "old_values"),
    [("NaN", "2700.00", ("NaN", "2700.00")), ("1500.00", "NaN", ("1500.00", "NaN"))],
    ids=["nan_booked", "nan_reference"],
)
def test_a_rejection_of_the_old_system_on_a_nan_field_holds(old_schema_db, booked_text, reference_text, old_values):
    """pandas read a 'NaN' text as a number that is not a number and the old job kept it in
    valor_anterior or valor_sugerido (numeric NaN fits numeric(15,2)); the contract reads 'NaN'
    as empty (valor_anterior NULL, a suggestion from an empty reference 0.00). A controller
    rejected that correction, the old job re-detected it the next morning with the same texts:
    the first run must hold the rejection, not write the suggestion over it."""
    with psycopg.connect(old_schema_db, autocommit=True) as conn:
        add_sale(
            conn,
            "NF_NAN_REJEITADA",
            valor_bonus=reference_text,
            bonus_dpto=booked_text,
            dta_processamento=datetime(2026, 11, 10, 9),
        )
        values = ("NF_NAN_REJEITADA", "TRADE_MARKETING_BONUS", "bonus_dpto", "Outubro", *old_values)
        conn.execute(
            """INSERT INTO audit.divergencias_processadas
                   (idnfsexterno, tipo_divergencia, campo_afetado, competencia, valor_anterior, valor_sugerido,
                    status_processamento, confidence_score, regras_aplicadas, detectado_em, processado_em,
                    processado_por, motivo_rejeicao)
               VALUES (%s, %s, %s, %s, %s::numeric, %s::numeric, 'REJECTED', 0.95, '{BONUS_DPTO_DIVERGENTE}',
                       '2026-11-11 07:01:05', '2026-11-11 10:30:00', 'juliana.prado',
                       'Valor lançado confere com a nota de crédito da BYD')""",
            values,
        )
        (redetected,) = conn.execute(
            """INSERT INTO audit.divergencias_processadas
                   (idnfsexterno, tipo_divergencia, campo_afetado, competencia, valor_anterior, valor_sugerido,
                    status_processamento, confidence_score, regras_aplicadas, detectado_em, dados_contextuais)
               VALUES (%s, %s, %s, %s, %s::numeric, %s::numeric, 'DETECTED', 0.95, '{BONUS_DPTO_DIVERGENTE}',
                       '2026-11-12 07:01:42', '{}')
               RETURNING id""",
            values,
        ).fetchone()
        apply_migrations(conn)
        run_session(conn, *LATER_PERIOD, modo="auto")
        assert booked(conn, "NF_NAN_REJEITADA")[0] == booked_text
        status, motivo = conn.execute(
            """SELECT status_processamento, dados_contextuais ->> 'motivo_nao_aplicada'
                 FROM audit.divergencias_processadas WHERE id = %s""",
            (redetected,),
        ).fetchone()
        assert status == "DETECTED" and "decisão mantida" in motivo


def test_a_setting_the_old_database_holds_in_another_form_stops_the_run_telling_the_dba_what_to_do(old_schema_db):
    """configuracoes_sistema was the old system's own table: a DBA may have put a key there in
    pt-BR form ('0,01') before the take-over, and 003 leaves a key that has rows alone. The
    run refuses it before writing anything, naming the key and the value, and says how to
    correct it: a new version of the key, since the old row is history."""
    from airflow.sdk.exceptions import AirflowFailException

    from divergencias.preparation import prepare_run

    with psycopg.connect(old_schema_db, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, criado_por)
               VALUES ('tolerancia_valor', '0,01', 'STRING', 'dba')"""
        )
        with pytest.raises(AirflowFailException) as refused:
            prepare_run({}, "scheduled", datetime(2026, 11, 28, 10, 0).astimezone(), "scheduled__teste")
        message = str(refused.value)
        assert '"tolerancia_valor"' in message and "'0,01'" in message
        assert "nova versão" in message and "ativo = true" in message
        assert conn.execute("SELECT count(*) FROM audit.sessoes_processamento").fetchone() == (0,)


def _comments(conn: psycopg.Connection) -> dict[str, str]:
    """The comments on audit's views, their columns and its functions, by object."""
    return dict(
        conn.execute(
            """SELECT c.oid::regclass::text || coalesce('.' || a.attname, ''), d.description
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'audit'
                 JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid
                 LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
                WHERE c.relkind = 'v'
               UNION ALL
               SELECT p.oid::regprocedure::text, d.description
                 FROM pg_proc p
                 JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'audit'
                 JOIN pg_description d ON d.classoid = 'pg_proc'::regclass AND d.objoid = p.oid"""
        ).fetchall()
    )


def test_the_comments_on_the_old_views_and_helpers_survive_the_adoption(old_schema_db):
    """The old DDL documents its views and helpers with COMMENT ON, and a DBA may have added
    their own (here on a view's column). 000 and 009 replace those objects, which drops their
    comments: each comes back, unless a migration documents the new object itself."""
    with psycopg.connect(old_schema_db, autocommit=True) as admin:
        admin.execute("COMMENT ON COLUMN audit.vw_divergencias_abertas.idnfsexterno IS 'Nota fiscal (chave da venda)'")
        before = _comments(admin)
        assert "audit.vw_divergencias_abertas" in before and "audit.vw_divergencias_abertas.idnfsexterno" in before
        assert any(name.startswith("audit.registrar_operacao(") for name in before)
        apply_migrations(admin, progress=lambda _: None)
        assert before.items() <= _comments(admin).items()
