-- 039: whoever could read the old system's views still can. 000 dropped them and 009 created
-- them again (their columns could not change in place), and a view created again starts with
-- no grants: a role the DBA had let read them (the old guide grants on ALL TABLES of audit,
-- which takes in views) was refused after adoption. Each view is granted to every role (or
-- PUBLIC) granted SELECT on all the tables it reads, which lets nobody read anything it could
-- not read already.
DO $$
DECLARE
    concessao record;
BEGIN
    FOR concessao IN
        SELECT v.visao, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END AS papel
          FROM (VALUES ('audit.vw_divergencias_abertas', ARRAY['audit.divergencias_processadas']),
                       ('audit.vw_operacoes_resumo', ARRAY['audit.operacoes']),
                       ('audit.vw_dashboard_monitoramento',
                        ARRAY['audit.divergencias_processadas', 'audit.sessoes_processamento', 'audit.operacoes']))
               AS v(visao, tabelas)
         CROSS JOIN LATERAL (
            SELECT a.grantee
              FROM unnest(v.tabelas) AS t(tabela)
              JOIN pg_class c ON c.oid = t.tabela::regclass
             CROSS JOIN LATERAL aclexplode(c.relacl) AS a
             WHERE a.privilege_type = 'SELECT'
               AND a.grantee <> c.relowner
             GROUP BY a.grantee
            HAVING count(DISTINCT t.tabela) = cardinality(v.tabelas)) AS g
    LOOP
        EXECUTE format('GRANT SELECT ON %s TO %s', concessao.visao, concessao.papel);
    END LOOP;
END
$$;
