-- exportar: the columns of the review exports (CSV and Excel), read from the CTE
-- "filtradas" (divergencias.sql with the request's filters). Same columns and order as the
-- run's CSV report (contract §7) plus the rule's label and the difference; text a
-- spreadsheet would run as a formula is neutralised, numbers stay numbers. Times are cut
-- to the second as the run's CSV cuts them (to_char): rounded, 23:59:59.7 would be the next day.
SELECT f.id, f.sessao_id, audit.texto_planilha(f.idnfsexterno) AS idnfsexterno, f.tipo_divergencia,
       f.campo_afetado, audit.texto_planilha(f.valor_original) AS valor_original, f.valor_anterior,
       f.valor_sugerido, f.valor_aplicado, audit.texto_planilha(f.competencia) AS competencia, f.status_processamento, f.confidence_score,
       audit.texto_planilha(array_to_string(f.regras_aplicadas, '|')) AS regras_aplicadas,
       date_trunc('second', f.detectado_em) AS detectado_em, date_trunc('second', f.processado_em) AS processado_em,
       audit.texto_planilha(f.processado_por) AS processado_por,
       audit.texto_planilha(f.motivo_rejeicao) AS motivo_rejeicao, f.regra, f.diferenca
  FROM filtradas f
