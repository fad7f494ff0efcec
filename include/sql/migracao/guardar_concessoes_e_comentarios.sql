-- guardar_concessoes_e_comentarios: run by the migration runner before the pending
-- migrations, in their transaction. Keeps who may use each view and function of audit, and
-- how it is documented, because a migration that must replace one (000 and 009 drop the old
-- views and helpers: their columns and parameter names cannot change in place) recreates it
-- with no grants and no comments at all. restaurar_concessoes_e_comentarios.sql gives them
-- back. Names as regclass/regprocedure print them: they resolve again by to_regclass and
-- to_regprocedure in the same session (schema-qualified unless audit is on its search_path).
CREATE TEMP TABLE concessoes_anteriores ON COMMIT DROP AS
SELECT 'TABLE' AS tipo, format('%I.%I', n.nspname, c.relname) AS objeto, a.grantee, a.privilege_type,
       a.is_grantable
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'audit'
 CROSS JOIN LATERAL aclexplode(c.relacl) AS a
 WHERE c.relkind IN ('v', 'm')
   AND a.grantee <> c.relowner
UNION ALL
SELECT 'FUNCTION', p.oid::regprocedure::text, a.grantee, a.privilege_type, a.is_grantable
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'audit'
 CROSS JOIN LATERAL aclexplode(p.proacl) AS a
 WHERE a.grantee <> p.proowner;

-- Functions a DBA had closed to PUBLIC (a recreated function is open to PUBLIC again).
CREATE TEMP TABLE funcoes_fechadas ON COMMIT DROP AS
SELECT p.oid::regprocedure::text AS objeto
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'audit'
 WHERE p.proacl IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM aclexplode(p.proacl) AS a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE');

-- The comments on the same objects (the old DDL documents its views and helpers with
-- COMMENT ON, and a DBA may have added their own), a view's columns included.
CREATE TEMP TABLE comentarios_anteriores ON COMMIT DROP AS
SELECT CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END AS tipo,
       format('%I.%I', n.nspname, c.relname) AS objeto, a.attname AS coluna, d.description
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'audit'
  JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
 WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'FUNCTION', p.oid::regprocedure::text, NULL, d.description
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'audit'
  JOIN pg_description d ON d.classoid = 'pg_proc'::regclass AND d.objoid = p.oid AND d.objsubid = 0;
