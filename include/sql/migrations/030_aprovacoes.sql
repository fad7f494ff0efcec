-- 030: what the review API (contract §9) needs. audit.aprovacoes keeps one row per
-- approval a person gave through the API, append-only like the operations: a change of at
-- least limite_dupla_aprovacao is applied only by a second approval of another user, and the
-- first one must survive until then.
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
