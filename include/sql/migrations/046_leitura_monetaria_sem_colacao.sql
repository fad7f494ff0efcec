-- 046: the money parser reads a text byte for byte whatever collation its column carries.
-- 036 made the reading the same under every deterministic collation; a nondeterministic
-- one (ICU, deterministic = false: case- or accent-insensitive columns) still reached the
-- parser's regular expressions and LIKE, which PostgreSQL refuses for such collations
-- ("nondeterministic collations are not supported for regular expressions"): every
-- detection over such a source failed, and texto_monetario_vazio compared 'NAN' equal to
-- 'NaN'. Every use of the text now states COLLATE "C": the same reading as 036, still one
-- inlinable expression, and a collation costs nothing at run time.
CREATE OR REPLACE FUNCTION audit.texto_monetario_vazio(texto text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (texto COLLATE "C") IS NULL OR btrim((texto COLLATE "C"), E' \t\r\n\u00a0') IN ('', 'NaN', 'nan', 'None', 'null')
$$;

CREATE OR REPLACE FUNCTION audit.ler_valor_monetario(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN (texto COLLATE "C") <> '' AND translate((texto COLLATE "C"), '0123456789', '') IN ('', '.')
         AND (texto COLLATE "C") NOT LIKE '.%' AND (texto COLLATE "C") NOT LIKE '%.'
        THEN (texto COLLATE "C")::numeric
        WHEN btrim((texto COLLATE "C"), E' \t\r\n\u00a0')
             ~ '^-?(R\$[ \t\n\r\f\v\u00a0]*)?-?([0-9]{1,3}(\.[0-9]{3})+,[0-9]+|[0-9]+,[0-9]+|[0-9]+(\.[0-9]+)?)$'
         AND btrim((texto COLLATE "C"), E' \t\r\n\u00a0') !~ '^-.*-'
        THEN CASE WHEN strpos((texto COLLATE "C"), '-') > 0 THEN -1 ELSE 1 END
           * (CASE WHEN strpos((texto COLLATE "C"), ',') > 0
                   THEN replace(replace(regexp_replace(btrim((texto COLLATE "C"), E' \t\r\n\u00a0'),
                                                       '^-?(R\$[ \t\n\r\f\v\u00a0]*)?-?', ''),
                                        '.', ''), ',', '.')
                   ELSE regexp_replace(btrim((texto COLLATE "C"), E' \t\r\n\u00a0'), '^-?(R\$[ \t\n\r\f\v\u00a0]*)?-?', '')
              END)::numeric
    END
$$;
