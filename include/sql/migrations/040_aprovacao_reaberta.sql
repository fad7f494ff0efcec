-- 040: a first approval lapses once the divergence it was given for has been closed, even if
-- a rollback reopens it later with the same values (the value checks its correction closed):
-- what happened in between (a correction, its undoing) is news to the first approver, so the
-- change again needs two people approving now. Redefines audit.aprovacao_pendente (031).
-- Any status change recorded after the approval on a divergence DETECTED again means it left
-- the queue and came back.
CREATE OR REPLACE FUNCTION audit.aprovacao_pendente(a audit.aprovacoes, d audit.divergencias_processadas)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT a.operacao_id IS NULL AND d.status_processamento = 'DETECTED'
           AND coalesce(a.valores_vistos = audit.valores_aprovados(d), false)
           AND NOT EXISTS (SELECT 1 FROM audit.historico_divergencias h
                            WHERE h.divergencia_id = d.id
                              AND h.status_anterior IS NOT NULL
                              AND h.registrado_em >= a.aprovado_em)
$$;
