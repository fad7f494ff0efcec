-- 012: a person's decision holds. A divergence someone REJECTED, or whose correction a
-- rollback undid, is not reopened nor applied while its source texts stay the same. Rows
-- of the old system kept no text (valor_original), only the rounded numbers it recorded:
-- those are compared instead, so a divergence the old job re-detected after a controller
-- rejected it is not applied over that rejection on the first run.
-- decisao_mantida(f, …) tells whether the closed divergence f decided these values; callers
-- join it (detection, apply) so the comparison is one expression, inlined in their plans.
CREATE OR REPLACE FUNCTION audit.decisao_mantida(
    f audit.divergencias_processadas, valor_original text, valor_referencia text, valor_anterior numeric,
    valor_sugerido numeric
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT f.status_processamento IN ('REJECTED', 'ROLLED_BACK')
       AND CASE WHEN f.valor_original IS NOT NULL OR f.sessao_id IS NOT NULL
                THEN f.valor_original IS NOT DISTINCT FROM valor_original
                     AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM valor_referencia
                ELSE f.valor_anterior IS NOT DISTINCT FROM round(valor_anterior, 2)
                     AND f.valor_sugerido IS NOT DISTINCT FROM round(valor_sugerido, 2)
           END
$$;
