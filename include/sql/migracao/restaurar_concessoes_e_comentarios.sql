-- restaurar_concessoes_e_comentarios: run by the migration runner after the pending
-- migrations, in their transaction. Each view and function of audit that
-- guardar_concessoes_e_comentarios.sql saw and that still exists (the same name, and the same
-- arguments for a function) gets its grants back, exactly: a role read the old dashboard view
-- alone still does, and a helper closed to PUBLIC stays closed. Grants the migrations
-- themselves give (039) are kept beside them. Its comments come back too, each where the
-- object (or the view's column) still exists and the migrations did not document it anew.
DO $$
DECLARE
    concessao record;
    comentario record;
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
    FOR comentario IN
        SELECT c.tipo, c.objeto, c.coluna, c.description
          FROM comentarios_anteriores c
          LEFT JOIN pg_attribute a
                 ON a.attrelid = CASE WHEN c.coluna IS NOT NULL THEN to_regclass(c.objeto) END
                AND a.attname = c.coluna AND NOT a.attisdropped
         WHERE CASE WHEN c.tipo = 'FUNCTION' THEN obj_description(to_regprocedure(c.objeto), 'pg_proc') IS NULL
                                                  AND to_regprocedure(c.objeto) IS NOT NULL
                    WHEN c.coluna IS NULL THEN obj_description(to_regclass(c.objeto), 'pg_class') IS NULL
                                               AND to_regclass(c.objeto) IS NOT NULL
                    ELSE col_description(a.attrelid, a.attnum) IS NULL AND a.attnum IS NOT NULL END
         ORDER BY c.objeto, c.coluna NULLS FIRST
    LOOP
        IF comentario.coluna IS NULL THEN
            EXECUTE format('COMMENT ON %s %s IS %L', comentario.tipo, comentario.objeto, comentario.description);
        ELSE
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', comentario.objeto, comentario.coluna, comentario.description);
        END IF;
    END LOOP;
END
$$;
