-- metricas_diarias: divergences recorded per day and rule over the last %(dias)s days
-- (today included), for the page's chart.
SELECT d.detectado_em::date AS dia, d.tipo_divergencia, r.rotulo AS regra, count(*) AS total
  FROM audit.divergencias_processadas d
  LEFT JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
 WHERE d.detectado_em >= current_date - (%(dias)s::integer - 1)
 GROUP BY 1, 2, 3
 ORDER BY 1, 2
