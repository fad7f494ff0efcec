-- regras: the rule catalog, for the page's filters and labels; ativo false: no run evaluates
-- the rule, its open divergences wait for a person.
SELECT r.codigo, r.rotulo, r.descricao, r.campos, r.confidence_score, r.corrigivel, r.ativo
  FROM audit.regras_divergencia r
 ORDER BY r.codigo
