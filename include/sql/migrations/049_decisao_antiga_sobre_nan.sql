-- 049: a rejection of the old system holds on a field booked as 'NaN'. pandas read that text
-- as a number that is not a number, and the old job kept it in valor_anterior (numeric NaN
-- fits numeric(15,2)); the contract reads 'NaN' as empty, so detection now records NULL for
-- the same field. decisao_mantida (043) compared the old row's NaN with that NULL, found them
-- different, and the first run applied the rule's suggestion over the controller's rejection.
-- The old row's NaN now reads as the contract reads an empty text: valor_anterior NULL, and a
-- suggestion taken from an empty reference 0.00 (only the trade-marketing rules suggest, and
-- they suggest 0.00 for an empty reference). Rows of this system never hold NaN (detection
-- reads money through audit.ler_valor_monetario), so nothing else changes.
-- Redefines audit.decisao_mantida (043), one expression still.
CREATE OR REPLACE FUNCTION audit.decisao_mantida(
    f audit.divergencias_processadas, valor_original text, valor_referencia text, valor_anterior numeric,
    valor_sugerido numeric
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT (f.status_processamento IN ('REJECTED', 'ROLLED_BACK')
            AND CASE WHEN f.valor_original IS NOT NULL OR f.sessao_id IS NOT NULL
                     THEN f.valor_original IS NOT DISTINCT FROM valor_original
                          AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM valor_referencia
                     ELSE nullif(f.valor_anterior, 'NaN') IS NOT DISTINCT FROM round(valor_anterior, 2)
                          AND (CASE WHEN f.valor_sugerido = 'NaN' THEN 0.00 ELSE f.valor_sugerido END)
                              IS NOT DISTINCT FROM round(valor_sugerido, 2)
                END)
        OR (f.status_processamento = 'APPROVED'
            AND (audit.ler_valor_monetario(valor_original) = f.valor_aplicado) IS TRUE
            AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM valor_referencia)
$$;
