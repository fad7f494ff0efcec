-- 036: the money parser reads the same text the same way whatever the collation. 023's
-- pattern used \d and \s, whose meaning follows the collation of the text: with ICU (a
-- database or a byd column created with it) or PostgreSQL 18's builtin PG_UNICODE_FAST,
-- \d also matches Arabic-Indic ('٥٠٠٠') and full-width ('５') digits, the text passed the
-- pattern, and its cast to numeric raised: one such cell failed the whole detection step
-- instead of being recorded as an unreadable value. Digits are now [0-9] and the space after
-- 'R$' is spelled out ([ \t\n\r\f\v], what \s means under the C collation), so every
-- database reads as the C collation always did. The fast path is unchanged (no pattern).
CREATE OR REPLACE FUNCTION audit.ler_valor_monetario(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN texto <> '' AND translate(texto, '0123456789', '') IN ('', '.')
         AND texto NOT LIKE '.%' AND texto NOT LIKE '%.'
        THEN texto::numeric
        WHEN btrim(texto, E' \t\r\n')
             ~ '^-?(R\$[ \t\n\r\f\v]*)?-?([0-9]{1,3}(\.[0-9]{3})+,[0-9]+|[0-9]+,[0-9]+|[0-9]+(\.[0-9]+)?)$'
         AND btrim(texto, E' \t\r\n') !~ '^-.*-'
        THEN CASE WHEN strpos(texto, '-') > 0 THEN -1 ELSE 1 END
           * (CASE WHEN strpos(texto, ',') > 0
                   THEN replace(replace(regexp_replace(btrim(texto, E' \t\r\n'), '^-?(R\$[ \t\n\r\f\v]*)?-?', ''),
                                        '.', ''), ',', '.')
                   ELSE regexp_replace(btrim(texto, E' \t\r\n'), '^-?(R\$[ \t\n\r\f\v]*)?-?', '')
              END)::numeric
    END
$$;
