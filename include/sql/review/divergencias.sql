-- divergencias: the rows of the review API's list, detail and exports, each filter applied
-- only when given. The API wraps it as the CTE "filtradas" (page, total, CSV, Excel).
-- diferenca = |suggested value - the field's current amount| (audit.valor_atual_campo: empty
-- reads 0); NULL for rules that suggest nothing or a field that cannot be read, which always
-- needs two people when the field is one the system writes (campos_gravados).
-- aprovacoes_pendentes and valor_pendente: who already approved a DETECTED divergence that
-- waits for a second person, and the value the second approval would apply.
SELECT d.id, d.sessao_id, d.idnfsexterno, d.tipo_divergencia, r.rotulo AS regra, d.campo_afetado,
       d.competencia, d.valor_original, d.valor_anterior, d.valor_sugerido, d.valor_aplicado,
       v.diferenca,
       -- without a suggestion the value chosen decides; a missing or invalid setting shows "needs two".
       -- NULL when no approval can apply a value: the system writes only the booked fields
       -- (contract §4), so a divergence on a sales field is rejected and corrected at the source.
       CASE WHEN d.campo_afetado <> ALL (%(campos_gravados)s::text[]) THEN NULL
            WHEN v.atual IS NULL THEN true
            WHEN d.valor_sugerido IS NULL THEN false
            ELSE coalesce(v.diferenca >= cfg.limite_dupla_aprovacao, true)
       END AS requer_dupla_aprovacao,
       d.status_processamento, d.confidence_score, d.regras_aplicadas, d.dta_processamento,
       d.detectado_em, d.processado_em, d.processado_por, d.motivo_rejeicao, d.operacao_id,
       d.dados_contextuais,
       (SELECT coalesce(array_agg(a.usuario ORDER BY a.id), '{}') FROM audit.aprovacoes a
         WHERE a.divergencia_id = d.id AND audit.aprovacao_pendente(a, d)) AS aprovacoes_pendentes,
       (SELECT a.valor FROM audit.aprovacoes a
         WHERE a.divergencia_id = d.id AND audit.aprovacao_pendente(a, d) ORDER BY a.id LIMIT 1) AS valor_pendente
  FROM audit.divergencias_processadas d
 CROSS JOIN LATERAL (SELECT a.atual, abs(d.valor_sugerido - a.atual) AS diferenca
                       FROM (SELECT audit.valor_atual_campo(d.valor_original) AS atual) AS a) AS v
 -- checked (configuracao_ou_nula: NULL when invalid); the scalar subquery reads it once, not per row
 CROSS JOIN (SELECT (SELECT audit.configuracao_ou_nula('limite_dupla_aprovacao'))::numeric AS limite_dupla_aprovacao) AS cfg
  LEFT JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
 WHERE (%(id)s::integer IS NULL OR d.id = %(id)s)
   AND (%(status_processamento)s::text IS NULL OR d.status_processamento = %(status_processamento)s)
   AND (%(tipo_divergencia)s::text IS NULL OR d.tipo_divergencia = %(tipo_divergencia)s)
   AND (%(competencia)s::text IS NULL OR d.competencia = %(competencia)s)
   AND (%(idnfsexterno)s::text IS NULL OR d.idnfsexterno = %(idnfsexterno)s)
   AND (%(data_inicio)s::date IS NULL OR d.dta_processamento >= %(data_inicio)s::date)
   AND (%(data_fim)s::date IS NULL OR d.dta_processamento < %(data_fim)s::date + 1)
   AND (%(diferenca_minima)s::numeric IS NULL
        OR v.diferenca >= %(diferenca_minima)s::numeric)
