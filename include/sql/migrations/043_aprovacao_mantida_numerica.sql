-- 043: a value a person approved stands whatever the column's type or the way it is typed.
-- 041 compared the field's text with the approved amount's canonical text ('4500.00'): a
-- numeric(15,3) column shows it as '4500.000', and a person re-typing the same amount writes
-- '4500' or '4.500,00'; either way the next run recorded the sale again and auto-applied the
-- rule's suggestion over the approval. The field's amount, read as detection reads money, is
-- compared instead. Redefines audit.decisao_mantida (041), one expression still.
CREATE OR REPLACE FUNCTION audit.decisao_mantida(
    f audit.divergencias_processadas, valor_original text, valor_referencia text, valor_anterior numeric,
    valor_sugerido numeric
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (f.status_processamento IN ('REJECTED', 'ROLLED_BACK')
            AND CASE WHEN f.valor_original IS NOT NULL OR f.sessao_id IS NOT NULL
                     THEN f.valor_original IS NOT DISTINCT FROM valor_original
                          AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM valor_referencia
                     ELSE f.valor_anterior IS NOT DISTINCT FROM round(valor_anterior, 2)
                          AND f.valor_sugerido IS NOT DISTINCT FROM round(valor_sugerido, 2)
                END)
        OR (f.status_processamento = 'APPROVED'
            AND (audit.ler_valor_monetario(valor_original) = f.valor_aplicado) IS TRUE
            AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM valor_referencia)
$$;
