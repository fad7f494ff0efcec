-- export_csv: rows of the CSV report (contract §7), in the contract's column order: the
-- session's rows (audit.divergencias_da_sessao). Text a spreadsheet would run as a formula
-- is neutralised (audit.texto_planilha); numbers stay numbers.
-- Wrapped in COPY (...) TO STDOUT by the export task. Parameter: sessao_id.
SELECT d.id, d.sessao_id, audit.texto_planilha(d.idnfsexterno) AS idnfsexterno, d.tipo_divergencia,
       d.campo_afetado, audit.texto_planilha(d.valor_original) AS valor_original,
       d.valor_anterior, d.valor_sugerido, d.valor_aplicado, audit.texto_planilha(d.competencia) AS competencia,
       d.status_processamento, d.confidence_score,
       audit.texto_planilha(array_to_string(d.regras_aplicadas, '|')) AS regras_aplicadas,
       to_char(d.detectado_em, 'YYYY-MM-DD HH24:MI:SS') AS detectado_em,
       to_char(d.processado_em, 'YYYY-MM-DD HH24:MI:SS') AS processado_em,
       audit.texto_planilha(d.processado_por) AS processado_por,
       audit.texto_planilha(d.motivo_rejeicao) AS motivo_rejeicao
  FROM audit.divergencias_da_sessao(%(sessao_id)s) d
 ORDER BY d.id
