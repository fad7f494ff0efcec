-- 010: fail closed. Every setting a run needs is read through configuracao_validada, which
-- raises (naming the key and the value found) when the key is missing, inactive or fails its
-- validacao_regex, so no threshold is ever NULL inside a rule. Also: the two new settings,
-- the preamble every data step runs (São Paulo time, a lock wait limit), the money parser's
-- fast path and the spreadsheet-safe text of the CSV.
INSERT INTO audit.configuracoes_sistema
       (chave, valor, tipo_valor, descricao, versao, ativo, criado_por, valor_padrao, validacao_regex, obrigatorio)
SELECT c.chave, c.valor, c.tipo, c.descricao, 1, true, 'migracao', c.valor, c.regex, true
  FROM (VALUES
    ('limite_dupla_aprovacao', '50000.00', 'NUMERIC',
     'Variação (R$) a partir da qual uma correção exige a aprovação de duas pessoas e nunca é aplicada automaticamente',
     '^\d+(\.\d+)?$'),
    ('limite_espera_bloqueio_s', '300', 'INTEGER',
     'Segundos que uma etapa de dados espera por um bloqueio (ex.: transação aberta em byd.controladoria) antes de falhar',
     '^[1-9]\d*$')
  ) AS c(chave, valor, tipo, descricao, regex)
 WHERE NOT EXISTS (SELECT 1 FROM audit.configuracoes_sistema s WHERE s.chave = c.chave);

CREATE OR REPLACE FUNCTION audit.configuracao_validada(p_chave text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_valor text;
    v_regex text;
BEGIN
    SELECT s.valor, s.validacao_regex INTO v_valor, v_regex
      FROM audit.configuracoes_sistema s
     WHERE s.chave = p_chave AND s.ativo
     ORDER BY s.versao DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'configuração "%" ausente ou inativa em audit.configuracoes_sistema (nenhuma versão com ativo = true)',
            p_chave USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A new version inserted without a regex is still held to the key's own rule.
    v_regex := coalesce(v_regex, (SELECT s.validacao_regex FROM audit.configuracoes_sistema s
                                   WHERE s.chave = p_chave AND s.validacao_regex IS NOT NULL
                                   ORDER BY s.versao DESC LIMIT 1));
    IF v_valor IS NULL OR (v_regex IS NOT NULL AND v_valor !~ v_regex) THEN
        RAISE EXCEPTION 'configuração "%" inválida em audit.configuracoes_sistema: valor % não corresponde a validacao_regex %',
            p_chave, coalesce(quote_literal(v_valor), 'NULL'), quote_literal(v_regex)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_valor;
END
$$;

-- First statement of every step: audit timestamps and "today" are São Paulo's whatever
-- the server's zone, and a lock held by someone else (a person's open transaction on
-- controladoria) fails the step after limite_espera_bloqueio_s instead of hanging. Data
-- steps of overlapping runs also take turns (serializada). Closing a session must work
-- even with broken settings, so it does not read them (limitar_espera => false).
CREATE OR REPLACE FUNCTION audit.iniciar_etapa(serializada boolean DEFAULT false, limitar_espera boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('timezone', 'America/Sao_Paulo', true);
    IF limitar_espera THEN
        PERFORM set_config('lock_timeout', audit.configuracao_validada('limite_espera_bloqueio_s') || 's', true);
    END IF;
    IF serializada THEN
        PERFORM pg_advisory_xact_lock(7420261129);
    END IF;
END
$$;

-- Same reading as 002, with a fast path: most amounts are plain decimals ('17000.00') and
-- need one anchored match and a cast instead of the trims, patterns and replaces.
CREATE OR REPLACE FUNCTION audit.ler_valor_monetario(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN texto ~ '^[0-9]{1,15}(\.[0-9]{1,15})?$' THEN texto::numeric
        WHEN btrim(texto, E' \t\r\n') ~ '^-?(R\$\s*)?-?(\d{1,3}(\.\d{3})+,\d+|\d+,\d+|\d+(\.\d+)?)$'
         AND btrim(texto, E' \t\r\n') !~ '^-.*-'
        THEN CASE WHEN strpos(texto, '-') > 0 THEN -1 ELSE 1 END
           * (CASE WHEN strpos(texto, ',') > 0
                   THEN replace(replace(regexp_replace(btrim(texto, E' \t\r\n'), '^-?(R\$\s*)?-?', ''),
                                        '.', ''), ',', '.')
                   ELSE regexp_replace(btrim(texto, E' \t\r\n'), '^-?(R\$\s*)?-?', '')
              END)::numeric
    END
$$;

-- A text cell a spreadsheet would run as a formula (=, +, @, tab, carriage return, or a '-'
-- that is not a number) gets a leading apostrophe; numbers stay numbers.
CREATE OR REPLACE FUNCTION audit.texto_planilha(texto text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN texto ~ '^[=+@\t\r]' OR (left(texto, 1) = '-' AND audit.ler_valor_monetario(texto) IS NULL)
        THEN '''' || texto
        ELSE texto
    END
$$;
