-- 030: what the review API (contract §9) needs. audit.aprovacoes keeps one row per
-- approval a person gave through the API, append-only like the operations: a change of at
-- least limite_dupla_aprovacao is applied only by a second approval of another user, and the
-- first one must survive until then. Also the key for that threshold (for databases where
-- the lead's migration did not add it yet) and the cell guard of the review exports.
CREATE TABLE IF NOT EXISTS audit.aprovacoes (
    id              bigserial PRIMARY KEY,
    divergencia_id  integer       NOT NULL REFERENCES audit.divergencias_processadas(id),
    usuario         varchar(100)  NOT NULL,
    aprovado_em     timestamp     NOT NULL DEFAULT clock_timestamp(),
    valor           numeric(15,2) NOT NULL,
    comentario      text,
    -- the APPROVE operation that applied it; NULL for a first approval still waiting
    operacao_id     integer REFERENCES audit.operacoes(id),
    sessao_id       integer REFERENCES audit.sessoes_processamento(id)
);
CREATE INDEX IF NOT EXISTS idx_aprovacoes_divergencia ON audit.aprovacoes (divergencia_id);
CREATE INDEX IF NOT EXISTS idx_aprovacoes_usuario ON audit.aprovacoes (usuario);

CREATE OR REPLACE FUNCTION audit.proteger_aprovacao() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.aprovacoes %: aprovações registradas não podem ser alteradas nem apagadas', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER IF EXISTS trg_aprovacoes_somente_inclusao ON audit.aprovacoes;
CREATE TRIGGER trg_aprovacoes_somente_inclusao
    BEFORE UPDATE OR DELETE ON audit.aprovacoes
    FOR EACH ROW EXECUTE FUNCTION audit.proteger_aprovacao();

INSERT INTO audit.configuracoes_sistema
       (chave, valor, tipo_valor, descricao, versao, ativo, criado_por, valor_padrao, validacao_regex, obrigatorio)
SELECT 'limite_dupla_aprovacao', '50000.00', 'NUMERIC',
       'Variação (R$) a partir da qual uma correção precisa de duas aprovações de pessoas diferentes',
       1, true, 'migracao', '50000.00', '^\d+(\.\d+)?$', true
 WHERE NOT EXISTS (SELECT 1 FROM audit.configuracoes_sistema WHERE chave = 'limite_dupla_aprovacao');

-- A text cell a spreadsheet would run as a formula gets a leading apostrophe.
CREATE OR REPLACE FUNCTION audit.celula_segura(texto text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN texto ~ '^[=+\-@\t\r]' THEN '''' || texto ELSE texto END
$$;
