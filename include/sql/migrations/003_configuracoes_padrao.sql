-- 003: default settings of the contract. A key that already has rows (a controller may
-- have tuned it) is left alone.
INSERT INTO audit.configuracoes_sistema
       (chave, valor, tipo_valor, descricao, versao, ativo, criado_por, valor_padrao, validacao_regex, obrigatorio)
SELECT c.chave, c.valor, 'NUMERIC', c.descricao, 1, true, 'migracao', c.valor, c.regex, true
  FROM (VALUES
    ('tolerancia_valor', '0.01', 'Diferença máxima (R$) entre valor registrado e contabilizado que não é divergência', '^\d+(\.\d+)?$'),
    ('limite_auto_aplicacao', '0.95', 'Confiança mínima para a correção automática', '^(0(\.\d+)?|1(\.0+)?)$'),
    ('limite_outlier', '100000', 'Valor acima do qual um montante é considerado absurdo (R$)', '^\d+(\.\d+)?$'),
    ('dias_retroativos', '31', 'Dias antes do dia de referência revisitados pela execução diária', '^\d+$'),
    ('pendentes_nivel_atencao', '10', 'Pendências a partir das quais a criticidade é ATENÇÃO', '^\d+$'),
    ('pendentes_nivel_critico', '20', 'Pendências acima das quais a criticidade é CRÍTICO', '^\d+$')
  ) AS c(chave, valor, descricao, regex)
 WHERE NOT EXISTS (SELECT 1 FROM audit.configuracoes_sistema s WHERE s.chave = c.chave);
