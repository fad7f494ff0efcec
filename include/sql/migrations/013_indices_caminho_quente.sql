-- 013: fewer indexes on the hot path. Every correction, approval and resolution updates a
-- divergence's status, and an UPDATE that changes an indexed column writes a new entry in
-- every index of the table. Two of the old schema's indexes serve no query: status and rule
-- have a handful of values each, so PostgreSQL scans rather than use them, and the open
-- queue is served by the partial indexes on DETECTED (uq_divergencias_abertas,
-- idx_divergencias_fila). Kept, because a query uses them: idnfsexterno (re-checks,
-- decisions, the review page), competencia and detectado_em (the review page's filters and
-- order, vw_divergencias_abertas), sessao_id, sessao_alteracao_id and operacao_id (a
-- session's rows, rollbacks). The old DDL may have named them its own way: they are found
-- by their definition.
DO $$
DECLARE
    indice record;
BEGIN
    FOR indice IN
        SELECT i.indexrelid::regclass AS nome
          FROM pg_index i
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = 'audit.divergencias_processadas'::regclass
           AND i.indnatts = 1 AND NOT i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
           AND a.attname IN ('status_processamento', 'tipo_divergencia')
    LOOP
        EXECUTE format('DROP INDEX %s', indice.nome);
    END LOOP;
END
$$;
