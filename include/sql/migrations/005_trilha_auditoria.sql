-- 005: an audit trail that holds. Finished operations are append-only (the one change
-- allowed is SUCCESS -> ROLLED_BACK when a rollback undoes them), and every status change
-- of a divergence is kept in historico_divergencias with who, when, session and operation.
CREATE OR REPLACE FUNCTION audit.proteger_operacao_finalizada() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'PENDING' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
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

DROP TRIGGER IF EXISTS trg_operacoes_somente_inclusao ON audit.operacoes;
CREATE TRIGGER trg_operacoes_somente_inclusao
    BEFORE UPDATE OR DELETE ON audit.operacoes
    FOR EACH ROW EXECUTE FUNCTION audit.proteger_operacao_finalizada();

CREATE TABLE IF NOT EXISTS audit.historico_divergencias (
    id               bigserial PRIMARY KEY,
    divergencia_id   integer      NOT NULL REFERENCES audit.divergencias_processadas(id),
    status_anterior  varchar(50),
    status_novo      varchar(50)  NOT NULL,
    sessao_id        integer REFERENCES audit.sessoes_processamento(id),
    operacao_id      integer REFERENCES audit.operacoes(id),
    usuario          varchar(100) NOT NULL,
    registrado_em    timestamp    NOT NULL DEFAULT clock_timestamp(),
    detalhes         jsonb
);
CREATE INDEX IF NOT EXISTS idx_historico_divergencia ON audit.historico_divergencias (divergencia_id);
CREATE INDEX IF NOT EXISTS idx_historico_registrado ON audit.historico_divergencias (registrado_em DESC);

-- Statement-level triggers with transition tables: one INSERT … SELECT per statement, so
-- a run that records 50,000 divergences writes their history in one pass.
CREATE OR REPLACE FUNCTION audit.registrar_historico_inclusao() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit.historico_divergencias
           (divergencia_id, status_anterior, status_novo, sessao_id, operacao_id, usuario, detalhes)
    SELECT n.id, NULL, n.status_processamento, n.sessao_id, n.operacao_id,
           coalesce(n.processado_por, 'airflow:divergencias_diarias'),
           jsonb_build_object('valor_original', n.valor_original, 'valor_sugerido', n.valor_sugerido)
      FROM novas n;
    RETURN NULL;
END
$$;

-- Transition tables carry no statistics, so the planner would pair old and new rows with a
-- nested loop (quadratic: 2 s for 5,000 rows); a hash join is linear.
CREATE OR REPLACE FUNCTION audit.registrar_historico_alteracao() RETURNS trigger
LANGUAGE plpgsql SET enable_nestloop = off AS $$
BEGIN
    INSERT INTO audit.historico_divergencias
           (divergencia_id, status_anterior, status_novo, sessao_id, operacao_id, usuario, detalhes)
    SELECT n.id, a.status_processamento, n.status_processamento,
           coalesce(n.sessao_alteracao_id, n.sessao_id), n.operacao_id,
           coalesce(n.processado_por, 'desconhecido'),
           jsonb_strip_nulls(jsonb_build_object(
               'valor_aplicado', n.valor_aplicado, 'motivo_rejeicao', n.motivo_rejeicao,
               'motivo', coalesce(n.dados_contextuais ->> 'motivo_rollback',
                                  n.dados_contextuais ->> 'motivo_resolucao')))
      FROM novas n JOIN antigas a ON a.id = n.id
     WHERE n.status_processamento IS DISTINCT FROM a.status_processamento;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS trg_divergencias_historico_inclusao ON audit.divergencias_processadas;
CREATE TRIGGER trg_divergencias_historico_inclusao
    AFTER INSERT ON audit.divergencias_processadas
    REFERENCING NEW TABLE AS novas
    FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_historico_inclusao();

DROP TRIGGER IF EXISTS trg_divergencias_historico_alteracao ON audit.divergencias_processadas;
CREATE TRIGGER trg_divergencias_historico_alteracao
    AFTER UPDATE ON audit.divergencias_processadas
    REFERENCING OLD TABLE AS antigas NEW TABLE AS novas
    FOR EACH STATEMENT EXECUTE FUNCTION audit.registrar_historico_alteracao();
