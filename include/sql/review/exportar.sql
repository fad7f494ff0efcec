-- exportar: the columns of the review exports (CSV and Excel), read from the CTE
-- "filtradas" (divergencias.sql with the request's filters). Same columns and order as the
-- run's CSV report (contract §7) plus the rule's label and the difference; text a
-- spreadsheet would run as a formula is neutralised, numbers stay numbers.
SELECT f.id, f.sessao_id, audit.celula_segura(f.idnfsexterno) AS idnfsexterno, f.tipo_divergencia,
       f.campo_afetado, audit.celula_segura(f.valor_original) AS valor_original, f.valor_anterior,
       f.valor_sugerido, f.valor_aplicado, f.competencia, f.status_processamento, f.confidence_score,
       audit.celula_segura(array_to_string(f.regras_aplicadas, '|')) AS regras_aplicadas,
       f.detectado_em::timestamp(0) AS detectado_em, f.processado_em::timestamp(0) AS processado_em,
       audit.celula_segura(f.processado_por) AS processado_por,
       audit.celula_segura(f.motivo_rejeicao) AS motivo_rejeicao, f.regra, f.diferenca
  FROM filtradas f
