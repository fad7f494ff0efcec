-- restaurar_concessoes: run by the migration runner after the pending migrations, in their
-- transaction. Each view and function of audit that guardar_concessoes.sql saw and that still
-- exists (the same name, and the same arguments for a function) gets its grants back,
-- exactly: a role read the old dashboard view alone still does, and a helper closed to
-- PUBLIC stays closed. Grants the migrations themselves give (039) are kept beside them.
DO $$
DECLARE
    concessao record;
BEGIN
    FOR concessao IN
        SELECT c.tipo, c.objeto, c.privilege_type, c.is_grantable,
               CASE WHEN c.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(c.grantee)) END AS papel
          FROM concessoes_anteriores c
         WHERE CASE c.tipo WHEN 'TABLE' THEN to_regclass(c.objeto)::oid ELSE to_regprocedure(c.objeto)::oid END IS NOT NULL
         ORDER BY c.objeto, c.grantee, c.privilege_type
    LOOP
        EXECUTE format('GRANT %s ON %s %s TO %s%s', concessao.privilege_type, concessao.tipo, concessao.objeto,
                       concessao.papel, CASE WHEN concessao.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR concessao IN
        SELECT f.objeto FROM funcoes_fechadas f WHERE to_regprocedure(f.objeto) IS NOT NULL ORDER BY f.objeto
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', concessao.objeto);
    END LOOP;
END
$$;
