-- metricas_resumo: the stable dashboard figures of GET metricas/resumo, one row.
-- criticidade as in the summary email: BAIXA below pendentes_nivel_atencao, ATENÇÃO up to
-- pendentes_nivel_critico, CRÍTICO above.
-- Both levels are read through audit.niveis_pendencias: a missing, inactive or invalid
-- setting, or an atencao above critico, raises (invalid_parameter_value, naming the keys)
-- instead of reporting a level computed from NULL or from contradictory levels.
-- MATERIALIZED so both are checked on every call: inlined into the CASE, the second would be
-- read only when the first comparison fails.
WITH niveis AS MATERIALIZED (
    SELECT n.atencao, n.critico FROM audit.niveis_pendencias() n
), abertas AS (
    SELECT d.tipo_divergencia, count(*) AS total,
           coalesce(sum(abs(d.valor_sugerido - audit.valor_atual_campo(d.valor_original))), 0) AS diferenca_total
      FROM audit.divergencias_processadas d
     WHERE d.status_processamento = 'DETECTED'
     GROUP BY d.tipo_divergencia
), por_status AS (
    SELECT d.status_processamento, count(*) AS total
      FROM audit.divergencias_processadas d
     GROUP BY d.status_processamento
), pendentes AS (
    SELECT coalesce(sum(total), 0)::bigint AS total FROM abertas
)
SELECT now()::timestamp(0) AS gerado_em,
       p.total AS divergencias_abertas,
       (SELECT coalesce(sum(diferenca_total), 0) FROM abertas) AS diferenca_aberta_total,
       CASE WHEN p.total < n.atencao THEN 'BAIXA'
            WHEN p.total <= n.critico THEN 'ATENÇÃO'
            ELSE 'CRÍTICO' END AS criticidade,
       (SELECT coalesce(jsonb_object_agg(status_processamento, total), '{}') FROM por_status) AS por_status,
       -- regra_ativa false: no run evaluates the rule (switched off); NULL: not in the catalog
       (SELECT coalesce(jsonb_agg(jsonb_build_object('tipo_divergencia', a.tipo_divergencia, 'regra', r.rotulo,
                                                      'regra_ativa', r.ativo, 'total', a.total,
                                                      'diferenca_total', a.diferenca_total::text)
                                  ORDER BY a.total DESC, a.tipo_divergencia), '[]')
          FROM abertas a LEFT JOIN audit.regras_divergencia r ON r.codigo = a.tipo_divergencia) AS abertas_por_regra,
       (SELECT count(DISTINCT a.divergencia_id) FROM audit.aprovacoes a
          JOIN audit.divergencias_processadas d ON d.id = a.divergencia_id
         WHERE audit.aprovacao_pendente(a, d)) AS aguardando_segunda_aprovacao,
       (SELECT to_jsonb(u) FROM (
            SELECT s.id, s.tipo_sessao, s.status, s.inicio_processamento, s.fim_processamento, s.data_inicio,
                   s.data_fim, s.divergencias_detectadas, s.correcoes_aplicadas, s.correcoes_pendentes
              FROM audit.vw_execucoes s
             ORDER BY s.id DESC LIMIT 1) AS u) AS ultima_execucao
  FROM pendentes p
 CROSS JOIN niveis n
