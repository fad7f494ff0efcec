-- 048: only a plain number keeps its leading minus. 042 let through any text the money rules
-- read, but "-R$5" or "-R$5,00" is readable to them and a formula to a spreadsheet (=-R$5
-- refers to cell R5), and "-1.234,56" is one to a spreadsheet whose decimal is a point. A
-- cell starting with '-' (behind blanks) now stays as it is only when it is an optional
-- minus, ASCII digits and at most one decimal group with a point or a comma, as the exports
-- write numbers ("-5.00", "-1234.56") and sources type them ("-10,50"); anything else gets
-- the apostrophe. Redefines audit.texto_planilha (042), still one expression, so the
-- exports keep it inlined.
CREATE OR REPLACE FUNCTION audit.texto_planilha(texto text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN texto ~ '^[\s\u00a0"'']*[=+@\t\r\n]'
          OR (texto ~ '^[\s\u00a0"'']*-' AND texto !~ '^[ \u00a0]*-[0-9]+([.,][0-9]+)?[ \u00a0]*$')
        THEN '''' || texto
        ELSE texto
    END
$$;
