-- 009: the old system's interface, exactly as its users call and query it
-- (SEED_AUDIT_SCHEMA.md): both helper functions with their old parameter names and
-- behaviour, and the three views with every old column in its old place (new columns only
-- after them). Also finishes 000's adoption: history rows for the collapsed duplicates, and
-- no index kept twice where the old DDL had created one under another name.
-- On a new database 001 and 004 made their own versions first: replaced here.
DROP VIEW IF EXISTS audit.vw_dashboard_monitoramento;
DROP VIEW IF EXISTS audit.vw_divergencias_abertas;
DROP VIEW IF EXISTS audit.vw_operacoes_resumo;
DROP FUNCTION IF EXISTS audit.registrar_operacao(varchar, text, varchar, varchar, varchar, integer, text);
DROP FUNCTION IF EXISTS audit.finalizar_operacao(integer, varchar, text);

CREATE FUNCTION audit.registrar_operacao(
    p_tipo_operacao varchar(50), p_descricao text, p_usuario varchar(100), p_origem varchar(50),
    p_tabela_afetada varchar(200) DEFAULT NULL, p_registros_afetados integer DEFAULT 0,
    p_query_executada text DEFAULT NULL
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_id integer;
BEGIN
    INSERT INTO audit.operacoes (tipo_operacao, descricao, usuario, origem, tabela_afetada,
                                 registros_afetados, query_executada, status)
    VALUES (p_tipo_operacao, p_descricao, p_usuario, p_origem, p_tabela_afetada,
            p_registros_afetados, p_query_executada, 'SUCCESS')
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;

CREATE FUNCTION audit.finalizar_operacao(
    p_operacao_id integer, p_status varchar(20), p_erro_mensagem text DEFAULT NULL
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit.operacoes
       SET timestamp_fim = clock_timestamp(),
           duracao_segundos = extract(epoch FROM clock_timestamp() - timestamp_inicio),
           status = p_status,
           erro_mensagem = p_erro_mensagem
     WHERE id = p_operacao_id;
END
$$;

-- An operation is finished once it has an end: until then (PENDING, or the old helper's
-- SUCCESS row awaiting finalizar_operacao) it may be completed; afterwards only a rollback
-- may mark it ROLLED_BACK.
CREATE OR REPLACE FUNCTION audit.proteger_operacao_finalizada() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'PENDING' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.timestamp_fim IS NULL
       AND (to_jsonb(NEW) - ARRAY['timestamp_fim', 'duracao_segundos', 'status', 'erro_mensagem'])
         = (to_jsonb(OLD) - ARRAY['timestamp_fim', 'duracao_segundos', 'status', 'erro_mensagem']) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status = 'SUCCESS' AND NEW.status = 'ROLLED_BACK'
       AND (to_jsonb(NEW) - 'status') = (to_jsonb(OLD) - 'status') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit.operacoes % (status %) está finalizada: registros de auditoria não podem ser alterados nem apagados',
        OLD.id, OLD.status
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE VIEW audit.vw_operacoes_resumo AS
SELECT o.timestamp_inicio::date AS data,
       o.tipo_operacao,
       o.origem,
       o.status,
       count(*) AS total_operacoes,
       sum(o.registros_afetados) AS total_registros,
       avg(o.duracao_segundos) AS duracao_media_seg,
       count(*) FILTER (WHERE o.status = 'FAILED') AS total_erros
  FROM audit.operacoes o
 GROUP BY 1, 2, 3, 4;

CREATE VIEW audit.vw_divergencias_abertas AS
SELECT d.id, d.operacao_id, d.idnfsexterno, d.tipo_divergencia, d.competencia, d.valor_anterior,
       d.valor_sugerido, d.valor_aplicado, d.campo_afetado, d.status_processamento, d.decisao_automatica,
       d.motivo_rejeicao, d.detectado_em, d.processado_em, d.processado_por, d.confidence_score,
       d.regras_aplicadas, d.dados_contextuais,
       EXTRACT(DAY FROM (now() AT TIME ZONE 'America/Sao_Paulo') - d.detectado_em) AS dias_pendente,
       d.sessao_id, d.valor_original, d.dta_processamento, d.sessao_alteracao_id
  FROM audit.divergencias_processadas d
 WHERE d.status_processamento IN ('DETECTED', 'APPROVED')
   AND d.processado_em IS NULL
 ORDER BY d.detectado_em;

-- "Today" is São Paulo's, whatever the zone of the session that queries it: the audit
-- timestamps are São Paulo wall time (audit.iniciar_etapa).
CREATE VIEW audit.vw_dashboard_monitoramento AS
SELECT (now() AT TIME ZONE 'America/Sao_Paulo')::date AS data_consulta,
       (SELECT count(*) FROM audit.vw_divergencias_abertas) AS divergencias_abertas,
       (SELECT count(*) FROM audit.sessoes_processamento
         WHERE inicio_processamento::date = (now() AT TIME ZONE 'America/Sao_Paulo')::date) AS execucoes_hoje,
       (SELECT status FROM audit.sessoes_processamento
         WHERE tipo_sessao = 'DAILY_AUTO'
         ORDER BY inicio_processamento DESC LIMIT 1) AS status_ultima_execucao,
       (SELECT count(*) FROM audit.operacoes
         WHERE timestamp_inicio::date = (now() AT TIME ZONE 'America/Sao_Paulo')::date
           AND status = 'FAILED') AS erros_hoje;

INSERT INTO audit.historico_divergencias
       (divergencia_id, status_anterior, status_novo, usuario, registrado_em, detalhes)
SELECT d.id, 'DETECTED', 'RESOLVED', d.processado_por, d.processado_em,
       jsonb_build_object('motivo', d.dados_contextuais ->> 'motivo_resolucao')
  FROM audit.divergencias_processadas d
 WHERE d.processado_por = 'migracao:000_adocao_esquema_antigo'
   AND NOT EXISTS (SELECT 1 FROM audit.historico_divergencias h WHERE h.divergencia_id = d.id);

-- The old DDL named its indexes its own way, so 001 added the same ones again under our
-- names. Of indexes identical in table, columns, expressions, predicate and uniqueness,
-- the oldest is kept.
DO $$
DECLARE
    duplicado record;
BEGIN
    FOR duplicado IN
        SELECT i.indexrelid::regclass AS indice
          FROM pg_index i
          JOIN pg_class t ON t.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'audit'
         WHERE NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
           AND EXISTS (SELECT 1 FROM pg_index o
                        WHERE o.indrelid = i.indrelid AND o.indexrelid < i.indexrelid
                          AND o.indkey::text = i.indkey::text AND o.indclass::text = i.indclass::text
                          AND o.indoption::text = i.indoption::text AND o.indisunique = i.indisunique
                          AND pg_get_expr(o.indexprs, o.indrelid) IS NOT DISTINCT FROM pg_get_expr(i.indexprs, i.indrelid)
                          AND pg_get_expr(o.indpred, o.indrelid) IS NOT DISTINCT FROM pg_get_expr(i.indpred, i.indrelid))
    LOOP
        EXECUTE format('DROP INDEX %s', duplicado.indice);
    END LOOP;
END
$$;
