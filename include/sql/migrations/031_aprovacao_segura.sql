-- 031: four-eyes approval that one person cannot get round (contract §9: a change of at least
-- limite_dupla_aprovacao needs two different users).
--   The change is measured from the field's current text as audit.ler_valor_monetario reads
--   it, not from valor_anterior: that column is NULL for a text it cannot read or for an
--   amount too large for numeric(15,2), and reading NULL as 0 let one person overwrite such a
--   field alone. A change that cannot be measured needs two people.
--   A first approval holds only for the divergence its approver saw: detection refreshes an
--   open divergence in place when the source changes, and the second approver must not apply
--   a value given for other figures. Each approval keeps the values it was given for.

-- The field's current amount as an approval measures a change from it: an empty field reads
-- 0, a text that cannot be read gives NULL.
CREATE OR REPLACE FUNCTION audit.valor_atual_campo(valor_original text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN audit.texto_monetario_vazio(valor_original) THEN 0
                ELSE audit.ler_valor_monetario(valor_original) END
$$;

-- What the divergence showed when the approval was given. NULL for approvals recorded before
-- this migration: what they saw is unknown, so they no longer count as a first approval.
ALTER TABLE audit.aprovacoes ADD COLUMN IF NOT EXISTS valores_vistos jsonb;

CREATE OR REPLACE FUNCTION audit.valores_aprovados(d audit.divergencias_processadas) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('valor_original', d.valor_original, 'valor_sugerido', d.valor_sugerido)
$$;

-- A first approval still waiting for a second person: not applied, on a divergence still
-- open and showing what its approver saw (a NULL comparison counts as not waiting).
CREATE OR REPLACE FUNCTION audit.aprovacao_pendente(a audit.aprovacoes, d audit.divergencias_processadas)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT a.operacao_id IS NULL AND d.status_processamento = 'DETECTED'
           AND coalesce(a.valores_vistos = audit.valores_aprovados(d), false)
$$;
