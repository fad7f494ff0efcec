-- 061: a person's decision holds for amounts, not for how the source spells them. 012/043/049
-- compared valor_original and the reference as text: the commercial side re-exporting
-- '5000.00' as '5000', or a person re-typing '4000.00' as '4.000,00', reopened a REJECTED or
-- ROLLED_BACK divergence (and an APPROVED one, through its reference) and the next auto run
-- applied the suggestion over the decision. Two texts now match when they are equal, both
-- empty, or read as the same exact amount: never rounded, so '5000.005' still differs from
-- '5000.00', and an unreadable text matches only itself. Redefines audit.decisao_mantida (049).

-- CASE: the reading runs only for texts that differ, rarely, in the NOT EXISTS of detection.
CREATE OR REPLACE FUNCTION audit.mesmo_valor_monetario(a text, b text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a IS NOT DISTINCT FROM b THEN true
                WHEN audit.texto_monetario_vazio(a) OR audit.texto_monetario_vazio(b)
                THEN audit.texto_monetario_vazio(a) AND audit.texto_monetario_vazio(b)
                ELSE coalesce(audit.ler_valor_monetario(a) = audit.ler_valor_monetario(b), false)
           END
$$;

CREATE OR REPLACE FUNCTION audit.decisao_mantida(
    f audit.divergencias_processadas, valor_original text, valor_referencia text, valor_anterior numeric,
    valor_sugerido numeric
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (f.status_processamento IN ('REJECTED', 'ROLLED_BACK')
            AND CASE WHEN f.valor_original IS NOT NULL OR f.sessao_id IS NOT NULL
                     THEN audit.mesmo_valor_monetario(f.valor_original, valor_original)
                          AND audit.mesmo_valor_monetario(f.dados_contextuais ->> 'valor_referencia', valor_referencia)
                     ELSE nullif(f.valor_anterior, 'NaN') IS NOT DISTINCT FROM round(valor_anterior, 2)
                          AND (CASE WHEN f.valor_sugerido = 'NaN' THEN 0.00 ELSE f.valor_sugerido END)
                              IS NOT DISTINCT FROM round(valor_sugerido, 2)
                END)
        OR (f.status_processamento = 'APPROVED'
            AND (audit.ler_valor_monetario(valor_original) = f.valor_aplicado) IS TRUE
            AND audit.mesmo_valor_monetario(f.dados_contextuais ->> 'valor_referencia', valor_referencia))
$$;
