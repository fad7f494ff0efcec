-- 012: a person's decision holds. A divergence someone REJECTED, or whose correction a
-- rollback undid, is not reopened nor applied while its source texts stay the same. Rows
-- of the old system kept no text (valor_original), only the rounded numbers it recorded:
-- those are compared instead, so a divergence the old job re-detected after a controller
-- rejected it is not applied over that rejection on the first run.
CREATE OR REPLACE FUNCTION audit.decisao_mantida(
    p_idnfsexterno text, p_tipo_divergencia text, p_campo_afetado text, p_valor_original text,
    p_valor_referencia text, p_valor_anterior numeric, p_valor_sugerido numeric
) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM audit.divergencias_processadas f
         WHERE f.idnfsexterno = p_idnfsexterno
           AND f.tipo_divergencia = p_tipo_divergencia
           AND f.campo_afetado = p_campo_afetado
           AND f.status_processamento IN ('REJECTED', 'ROLLED_BACK')
           AND CASE WHEN f.valor_original IS NOT NULL OR f.sessao_id IS NOT NULL
                    THEN f.valor_original IS NOT DISTINCT FROM p_valor_original
                         AND f.dados_contextuais ->> 'valor_referencia' IS NOT DISTINCT FROM p_valor_referencia
                    ELSE f.valor_anterior IS NOT DISTINCT FROM round(p_valor_anterior, 2)
                         AND f.valor_sugerido IS NOT DISTINCT FROM round(p_valor_sugerido, 2)
               END)
$$;
