-- 041: a value a person approved stands like a rejection. A controller who approves 4500.00
-- where the rule suggests 5000.00 (what the source holds) decided that sale: the next run
-- found it divergent again and auto-applied 5000.00 over the person's value, every morning.
-- An APPROVED divergence now keeps the sale out of new records while the field holds the
-- text the approval wrote and the reference is the one it was given for; a new reference or
-- a newer edit of the field is a new divergence. Redefines audit.decisao_mantida (012), one
-- expression still, so detection and apply keep it inlined.
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
            AND f.valor_aplicado IS NOT NULL
            AND valor_original IS NOT DISTINCT FROM audit.texto_monetario_canonico(f.valor_aplicado)
            AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM valor_referencia)
$$;
