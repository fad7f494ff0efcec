-- 000: makes a database of the old system adoptable before 001–008 run (their files are
-- frozen: their checksums are recorded in databases already migrated). It runs first on an
-- empty or old database, and last-but-pending on one already migrated by an earlier version.
-- * The old DDL's helper functions and views have shapes that 001 and 004 cannot
--   CREATE OR REPLACE (renamed parameters, reordered columns). They are dropped here and
--   recreated with their exact old signatures and columns by 009, in the same transaction.
-- * The old job recorded the same open divergence once per run. 002's unique index allows
--   one open row per (sale, rule, field): the oldest stays open, the others are RESOLVED
--   with the reason (their history rows are written by 009, once the history table exists).
DROP VIEW IF EXISTS audit.vw_dashboard_monitoramento;
DROP VIEW IF EXISTS audit.vw_divergencias_abertas;
DROP VIEW IF EXISTS audit.vw_operacoes_resumo;
DROP FUNCTION IF EXISTS audit.registrar_operacao(varchar, text, varchar, varchar, varchar, integer, text);
DROP FUNCTION IF EXISTS audit.finalizar_operacao(integer, varchar, text);

DO $$
BEGIN
    IF to_regclass('audit.divergencias_processadas') IS NULL THEN
        RETURN;
    END IF;
    UPDATE audit.divergencias_processadas d
       SET status_processamento = 'RESOLVED',
           processado_em = now(),
           processado_por = 'migracao:000_adocao_esquema_antigo',
           dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) || jsonb_build_object(
               'motivo_resolucao', 'duplicata deixada pelo sistema anterior: a divergência segue aberta no registro '
                                   || m.manter_id,
               'duplicata_de', m.manter_id)
      FROM (SELECT id,
                   first_value(id) OVER (PARTITION BY idnfsexterno, tipo_divergencia, campo_afetado
                                         ORDER BY detectado_em, id) AS manter_id
              FROM audit.divergencias_processadas
             WHERE status_processamento = 'DETECTED') AS m
     WHERE d.id = m.id
       AND m.id <> m.manter_id;
END
$$;
