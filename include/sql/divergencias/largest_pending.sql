-- email_summary: the 20 pending divergences with the largest value difference (suggested
-- minus current; a value with no suggestion counts by its own size).
SELECT d.idnfsexterno, d.tipo_divergencia, coalesce(r.rotulo, d.tipo_divergencia) AS rotulo, d.campo_afetado, d.valor_original, d.valor_anterior,
       d.valor_sugerido, abs(coalesce(d.valor_sugerido, 0) - coalesce(d.valor_anterior, 0)) AS diferenca,
       d.competencia, d.dados_contextuais ->> 'revenda' AS revenda,
       d.dados_contextuais ->> 'motivo_nao_aplicada' AS motivo_nao_aplicada
  FROM audit.divergencias_processadas d
  LEFT JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
 WHERE d.status_processamento = 'DETECTED'
 ORDER BY diferenca DESC, d.id
 LIMIT 20
