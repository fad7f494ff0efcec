-- 036: the money parser reads the same text the same way whatever the collation, and takes
-- a no-break space for a space.
--   Collation. 023's pattern used \d and \s, whose meaning follows the collation of the
--   text: with ICU (a database or a byd column created with it) or PostgreSQL 18's builtin
--   PG_UNICODE_FAST, \d also matches Arabic-Indic ('٥٠٠٠') and full-width ('５') digits,
--   the text passed the pattern, and its cast to numeric raised: one such cell failed the
--   whole detection step instead of being recorded as unreadable. Digits are now [0-9]
--   and the space after 'R$' is spelled out ([ \t\n\r\f\v], what \s means under the C
--   collation), so every database reads as the C collation did.
--   No-break space (U+00A0). Excel and pt-BR currency formatting write 'R$ 1.234,56' with
--   one, and so do the summary email (brl) and the review page, which reads it back from
--   what a controller types: trimmed, and allowed after 'R$', like a space. Such texts
--   were unreadable ("Valor ilegível") and kept their sale out of the comparisons. Not
--   between digits: '1 234,56' stays unreadable. E'\u00a0' exists in LATIN1 and WIN1252
--   databases too.
-- The fast path is unchanged (no pattern); texto_monetario_vazio (002) is restated with the
-- same trim.
CREATE OR REPLACE FUNCTION audit.texto_monetario_vazio(texto text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT texto IS NULL OR btrim(texto, E' \t\r\n\u00a0') IN ('', 'NaN', 'nan', 'None', 'null')
$$;

CREATE OR REPLACE FUNCTION audit.ler_valor_monetario(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN texto <> '' AND translate(texto, '0123456789', '') IN ('', '.')
         AND texto NOT LIKE '.%' AND texto NOT LIKE '%.'
        THEN texto::numeric
        WHEN btrim(texto, E' \t\r\n\u00a0')
             ~ '^-?(R\$[ \t\n\r\f\v\u00a0]*)?-?([0-9]{1,3}(\.[0-9]{3})+,[0-9]+|[0-9]+,[0-9]+|[0-9]+(\.[0-9]+)?)$'
         AND btrim(texto, E' \t\r\n\u00a0') !~ '^-.*-'
        THEN CASE WHEN strpos(texto, '-') > 0 THEN -1 ELSE 1 END
           * (CASE WHEN strpos(texto, ',') > 0
                   THEN replace(replace(regexp_replace(btrim(texto, E' \t\r\n\u00a0'),
                                                       '^-?(R\$[ \t\n\r\f\v\u00a0]*)?-?', ''),
                                        '.', ''), ',', '.')
                   ELSE regexp_replace(btrim(texto, E' \t\r\n\u00a0'), '^-?(R\$[ \t\n\r\f\v\u00a0]*)?-?', '')
              END)::numeric
    END
$$;
