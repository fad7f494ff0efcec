-- 035: configuracao_validada (010) restated so that a value it returns is always one its
-- readers can use. Two holes let a run open its session and only then fail in a data step,
-- naming no key:
-- * the check relied on validacao_regex alone: a key whose versions all lack one (created
--   before 003/010 seeded it, which then leaves the key alone) or whose regex was loosened
--   (a pt-BR '0,01' allowed) passed any value, and the steps' ::numeric / ::int casts or
--   the period's int() then failed on it. The value must now also have the form the run
--   reads (the regexes 003 and 010 seed), whatever the row's own regex says.
-- * an invalid validacao_regex raised PostgreSQL's bare invalid_regular_expression, which
--   names no key and is not the invalid_parameter_value the run and the review API report.
-- Ties on versao (impossible under UNIQUE (chave, versao), kept deterministic anyway) go to
-- the newest row.
CREATE OR REPLACE FUNCTION audit.configuracao_validada(p_chave text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_valor text;
    v_regex text;
    v_forma text;
    v_confere_regex boolean;
BEGIN
    SELECT s.valor, s.validacao_regex INTO v_valor, v_regex
      FROM audit.configuracoes_sistema s
     WHERE s.chave = p_chave AND s.ativo
     ORDER BY s.versao DESC, s.id DESC
     LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'configuração "%" ausente ou inativa em audit.configuracoes_sistema (nenhuma versão com ativo = true)',
            p_chave USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A new version inserted without a regex is still held to the key's own rule.
    v_regex := coalesce(v_regex, (SELECT s.validacao_regex FROM audit.configuracoes_sistema s
                                   WHERE s.chave = p_chave AND s.validacao_regex IS NOT NULL
                                   ORDER BY s.versao DESC, s.id DESC LIMIT 1));
    BEGIN
        v_confere_regex := v_regex IS NULL OR v_valor ~ v_regex;
    EXCEPTION WHEN invalid_regular_expression THEN
        RAISE EXCEPTION 'configuração "%" inválida em audit.configuracoes_sistema: validacao_regex % não é uma expressão regular válida (%)',
            p_chave, quote_literal(v_regex), SQLERRM
            USING ERRCODE = 'invalid_parameter_value';
    END;
    IF v_valor IS NULL OR NOT v_confere_regex THEN
        RAISE EXCEPTION 'configuração "%" inválida em audit.configuracoes_sistema: valor % não corresponde a validacao_regex %',
            p_chave, coalesce(quote_literal(v_valor), 'NULL'), quote_literal(v_regex)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The form the run reads each setting in (decimal point, no spaces, no unit).
    v_forma := CASE p_chave
        WHEN 'tolerancia_valor' THEN '^\d+(\.\d+)?$'
        WHEN 'limite_auto_aplicacao' THEN '^(0(\.\d+)?|1(\.0+)?)$'
        WHEN 'limite_outlier' THEN '^\d+(\.\d+)?$'
        WHEN 'dias_retroativos' THEN '^\d+$'
        WHEN 'pendentes_nivel_atencao' THEN '^\d+$'
        WHEN 'pendentes_nivel_critico' THEN '^\d+$'
        WHEN 'limite_dupla_aprovacao' THEN '^\d+(\.\d+)?$'
        WHEN 'limite_espera_bloqueio_s' THEN '^[1-9]\d*$'
    END;
    IF v_forma IS NOT NULL AND v_valor !~ v_forma THEN
        RAISE EXCEPTION 'configuração "%" inválida em audit.configuracoes_sistema: valor % não tem a forma que a execução lê (%; ponto decimal, sem espaços nem unidade)',
            p_chave, quote_literal(v_valor), v_forma
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_valor;
END
$$;

-- What the review list shows without refusing to answer: the validated value, or NULL when
-- the setting is missing, inactive or invalid (the list then says "needs two people"; the
-- approval itself refuses with the key named). The list used audit.configuracao, unchecked:
-- '50.000,00' made it fail whole, and 'NaN' or ' 50000 ' were taken as the limit.
CREATE OR REPLACE FUNCTION audit.configuracao_ou_nula(p_chave text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN audit.configuracao_validada(p_chave);
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN NULL;
END
$$;
