-- historico: every status change of one divergence (audit.historico_divergencias, written by
-- the status triggers), oldest first. Parameter: id.
-- The triggers store the numeric(15,2) columns (valor_sugerido, valor_aplicado) in detalhes
-- as JSON numbers, which a JSON reader turns into floats (1234.5). Every number of detalhes
-- is money, so each goes out as decimal text with at least two places ("1234.50"), like the
-- money columns of the other answers; round() only pads, it never drops a digit.
SELECT h.registrado_em, h.status_anterior, h.status_novo, h.usuario, h.sessao_id, h.operacao_id,
       CASE WHEN jsonb_typeof(h.detalhes) = 'object' THEN
           (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'number'
                                                         THEN to_jsonb(round(n.valor, greatest(2, scale(n.valor)))::text)
                                                         ELSE e.value END), '{}')
              FROM jsonb_each(h.detalhes) AS e
              CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(e.value) = 'number'
                                              THEN (e.value #>> '{}')::numeric END AS valor) AS n)
       ELSE h.detalhes END AS detalhes
  FROM audit.historico_divergencias h
 WHERE h.divergencia_id = %(id)s
 ORDER BY h.registrado_em, h.id
