-- 057: an amount with more digits than numeric holds is unreadable, not the end of the run.
-- numeric takes at most 131072 digits before the point and 16383 after; one source cell
-- beyond that (a pasted column, a runaway formula) made the parser's cast raise "value
-- overflows numeric format", and every detection over the period failed until someone
-- edited the source. Such a text is now read as unreadable (a divergence of the unreadable-
-- value rule, raw text kept).
-- The bound before the point is one digit short of numeric's, so that the difference of two
-- amounts, which the trade-marketing rules compute, fits too. Only texts longer than 16383
-- bytes are counted, so the common case pays one length check and stays one inlinable
-- expression; the rest is 046's reading, unchanged.
CREATE OR REPLACE FUNCTION audit.ler_valor_monetario(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN octet_length(texto) > 16383
         AND (length(ltrim(regexp_replace(split_part((texto COLLATE "C"),
                                                     CASE WHEN strpos((texto COLLATE "C"), ',') > 0 THEN ',' ELSE '.' END, 1),
                                          '[^0-9]', '', 'g'), '0')) > 131071
              OR length(regexp_replace(split_part((texto COLLATE "C"),
                                                  CASE WHEN strpos((texto COLLATE "C"), ',') > 0 THEN ',' ELSE '.' END, 2),
                                       '[^0-9]', '', 'g')) > 16383)
        THEN NULL
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
