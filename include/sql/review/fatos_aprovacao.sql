-- fatos_aprovacao: what the approval checks need, per divergence named (rows already locked
-- by travar_divergencias): status, values, limits (validated: a missing or invalid setting
-- stops the decision before anything is written), whether the sale is booked, whether the
-- field still holds exactly the text detection read, whether the view repeats the sale with
-- different values, the field's current amount (audit.valor_atual_campo: NULL when it cannot
-- be read), whether the suggestion is the rule's reference exactly as the source holds it
-- (not so when stored in cents it lost decimals: -0.004 reads 0.00; as in apply_corrections)
-- the first approvals still waiting (audit.aprovacao_pendente) and the values an approval is
-- given for (audit.valores_aprovados). Parameter: ids.
SELECT d.id, d.status_processamento, audit.valores_aprovados(d) AS valores, d.idnfsexterno,
       d.campo_afetado, d.valor_original,
       d.valor_sugerido, cfg.limite_outlier, cfg.limite_dupla_aprovacao,
       audit.valor_atual_campo(d.valor_original) AS valor_atual,
       d.dados_contextuais ->> 'valor_referencia' AS valor_referencia,
       (d.valor_sugerido = audit.valor_atual_campo(d.dados_contextuais ->> 'valor_referencia')) IS TRUE
           AS sugestao_exata,
       d.dados_contextuais ? 'linhas_conflitantes' AS linhas_conflitantes,
       EXISTS (SELECT 1 FROM byd.controladoria c WHERE c.idnfsexterno = d.idnfsexterno) AS lancada,
       EXISTS (SELECT 1 FROM byd.controladoria c
                WHERE c.idnfsexterno = d.idnfsexterno
                  AND CASE d.campo_afetado WHEN 'bonus_dpto' THEN c.bonus_dpto::text
                                           WHEN 'trade_mkt_dpto' THEN c.trade_mkt_dpto::text END
                      IS DISTINCT FROM d.valor_original) AS campo_alterado,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('usuario', a.usuario, 'valor', a.valor::text) ORDER BY a.id),
                        '[]')
          FROM audit.aprovacoes a
         WHERE a.divergencia_id = d.id AND audit.aprovacao_pendente(a, d)) AS pendentes
  FROM audit.divergencias_processadas d
 CROSS JOIN (SELECT audit.configuracao_validada('limite_outlier')::numeric AS limite_outlier,
                    audit.configuracao_validada('limite_dupla_aprovacao')::numeric AS limite_dupla_aprovacao) AS cfg
 WHERE d.id = ANY(%(ids)s::integer[])
 ORDER BY d.id
