-- regras: the rule catalog, for the page's filters and labels.
SELECT r.codigo, r.rotulo, r.descricao, r.campos, r.confidence_score, r.corrigivel
  FROM audit.regras_divergencia r
 ORDER BY r.codigo
