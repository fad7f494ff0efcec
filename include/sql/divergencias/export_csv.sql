-- export_csv: rows of the CSV report (contract §7), in the contract's column order: the
-- divergences this session recorded or changed, plus the whole open queue.
-- Wrapped in COPY (...) TO STDOUT by the export task. Parameter: sessao_id.
SELECT d.id, d.sessao_id, d.idnfsexterno, d.tipo_divergencia, d.campo_afetado, d.valor_original,
       d.valor_anterior, d.valor_sugerido, d.valor_aplicado, d.competencia, d.status_processamento,
       d.confidence_score, array_to_string(d.regras_aplicadas, '|') AS regras_aplicadas,
       to_char(d.detectado_em, 'YYYY-MM-DD HH24:MI:SS') AS detectado_em,
       to_char(d.processado_em, 'YYYY-MM-DD HH24:MI:SS') AS processado_em,
       d.processado_por, d.motivo_rejeicao
  FROM audit.divergencias_processadas d
 WHERE d.sessao_id = %(sessao_id)s
    OR d.sessao_alteracao_id = %(sessao_id)s
    OR d.status_processamento = 'DETECTED'
 ORDER BY d.id
