-- regra: the catalog entry of one rule (audit.regras_divergencia). Parameter: codigo.
SELECT r.codigo, r.rotulo, r.descricao, r.campos, r.confidence_score, r.corrigivel, r.ativo
  FROM audit.regras_divergencia r
 WHERE r.codigo = %(codigo)s
