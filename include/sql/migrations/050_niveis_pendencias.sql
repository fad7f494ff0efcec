-- 050: the pending queue's criticality levels, read together and checked against each other.
-- Criticality is BAIXA below pendentes_nivel_atencao, ATENÇÃO up to pendentes_nivel_critico,
-- CRÍTICO above: that needs atencao <= critico (equal only skips ATENÇÃO). The daily run
-- refused contradictory levels at its first task, but the review API's metricas/resumo read
-- each level alone and reported a criticality from them. Every reader now takes both from
-- here, so each refuses them the same way (invalid_parameter_value, naming both keys).
CREATE OR REPLACE FUNCTION audit.niveis_pendencias(OUT atencao integer, OUT critico integer)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    atencao := audit.configuracao_validada('pendentes_nivel_atencao')::integer;
    critico := audit.configuracao_validada('pendentes_nivel_critico')::integer;
    IF atencao > critico THEN
        RAISE EXCEPTION 'configurações inconsistentes em audit.configuracoes_sistema: "pendentes_nivel_atencao" (%) '
                        'acima de "pendentes_nivel_critico" (%); o nível de atenção deve ser no máximo o crítico',
            atencao, critico USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
