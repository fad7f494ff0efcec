-- rejeitar: a person rejects DETECTED divergences (checked and locked by the API), with the
-- reason, in the caller's transaction; one REJECT operation names who and why. Nothing in
-- byd changes. Parameters: ids, motivo, usuario. Returns the operation.
CREATE TEMP TABLE operacao_rejeicao (id integer) ON COMMIT DROP;

WITH operacao AS (
    INSERT INTO audit.operacoes
           (tipo_operacao, descricao, usuario, origem, tabela_afetada, registros_afetados, filtros_aplicados,
            metadata, status)
    VALUES ('REJECT', 'Rejeição de ' || cardinality(%(ids)s::integer[]) || ' divergência(s)', %(usuario)s, 'API',
            'audit.divergencias_processadas', cardinality(%(ids)s::integer[]),
            jsonb_build_object('ids', to_jsonb(%(ids)s::integer[])), jsonb_build_object('motivo', %(motivo)s::text), 'PENDING')
    RETURNING id
)
INSERT INTO operacao_rejeicao SELECT id FROM operacao;

UPDATE audit.divergencias_processadas d
   SET status_processamento = 'REJECTED',
       motivo_rejeicao = %(motivo)s,
       decisao_automatica = false,
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = o.id
  FROM operacao_rejeicao o
 WHERE d.id = ANY(%(ids)s::integer[])
   AND d.status_processamento = 'DETECTED';

SELECT audit.finalizar_operacao(id, 'SUCCESS', NULL) FROM operacao_rejeicao;

SELECT id FROM operacao_rejeicao
