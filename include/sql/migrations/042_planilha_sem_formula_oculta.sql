-- 042: a formula behind leading blanks or a quote is neutralised too. A spreadsheet that
-- trims a cell on import or drops a stray quote (LibreOffice's "trim spaces", "quoted field
-- as text" off) runs " =1+1", "\u00a0=1+1" or '"=HYPERLINK(...)' as it runs "=1+1"; 010
-- only looked at the first character. Redefines audit.texto_planilha (010), still one
-- expression, so the exports keep it inlined. A value the money rules read (" -500.00")
-- stays as it is: it is a number, not a formula.
CREATE OR REPLACE FUNCTION audit.texto_planilha(texto text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN texto ~ '^[\s\u00a0"'']*[=+@\t\r\n]'
          OR (texto ~ '^[\s\u00a0"'']*-' AND audit.ler_valor_monetario(texto) IS NULL)
        THEN '''' || texto
        ELSE texto
    END
$$;
