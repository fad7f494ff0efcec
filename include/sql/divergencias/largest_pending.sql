-- email_summary: the 20 pending divergences with the largest value difference (suggested
-- minus current; a value with no suggestion counts by its own size). observacao: why it waits
-- for a person, that no run evaluates its rule first, else why it was not applied.
-- valor_anterior and valor_sugerido are numeric(15,2): a source amount with more decimals is
-- shown as the source holds it (valor_original, the rule's reference), so an outlier of
-- 100000.004 or a negative -0.004 does not read as R$ 100.000,00 or R$ 0,00. The exact
-- reading is used where it rounds to the stored cents (a suggestion a rule computed
-- otherwise keeps the stored value), and where nothing is stored: an amount of 10^13 or more
-- does not fit the column, and ranked as a difference of zero it was never listed.
SELECT d.idnfsexterno, d.tipo_divergencia, coalesce(r.rotulo, d.tipo_divergencia) AS rotulo, d.campo_afetado,
       d.valor_original, v.valor_anterior, v.valor_sugerido,
       abs(coalesce(v.valor_sugerido, 0) - coalesce(v.valor_anterior, 0)) AS diferenca,
       d.competencia, d.dados_contextuais ->> 'revenda' AS revenda,
       coalesce(d.dados_contextuais ->> 'motivo_nao_avaliada', d.dados_contextuais ->> 'motivo_nao_aplicada')
           AS observacao
  FROM audit.divergencias_processadas d
 CROSS JOIN LATERAL (
        SELECT CASE WHEN d.valor_anterior IS NULL OR round(l.atual, 2) = d.valor_anterior THEN l.atual
                    ELSE d.valor_anterior END AS valor_anterior,
               CASE WHEN round(l.referencia, 2) = d.valor_sugerido THEN l.referencia ELSE d.valor_sugerido END
                   AS valor_sugerido
          FROM (SELECT audit.ler_valor_monetario(d.valor_original) AS atual,
                       audit.ler_valor_monetario(d.dados_contextuais ->> 'valor_referencia') AS referencia) AS l) AS v
  LEFT JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
 WHERE d.status_processamento = 'DETECTED'
 ORDER BY diferenca DESC, d.id
 LIMIT 20
