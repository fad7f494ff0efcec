-- 032: the mass-resolution check as contract §2 states it. 011 asked for confirmation only
-- from 20 rows "not found" on, so a small queue could be emptied by a broken view without
-- anyone confirming. Now any run that would resolve more than half of the open queue as
-- "sale not found" fails before writing, unless confirmar_resolucao_em_massa is set. The
-- empty-period check is unchanged: an empty source stops the run.
CREATE OR REPLACE FUNCTION audit.verificar_fonte(
    p_linhas_periodo bigint, p_abertas_periodo bigint, p_nao_encontradas bigint, p_abertas bigint,
    p_confirmado boolean
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_confirmado THEN
        RETURN;
    END IF;
    IF p_linhas_periodo = 0 AND p_abertas_periodo > 0 THEN
        RAISE EXCEPTION 'byd.bonus_view não retornou nenhuma linha no período, que tem % divergência(s) aberta(s): '
                        'fonte possivelmente quebrada; nada foi gravado. Se a origem estiver correta, '
                        'execute de novo com confirmar_resolucao_em_massa = true.', p_abertas_periodo
            USING ERRCODE = 'data_exception';
    END IF;
    IF p_nao_encontradas * 2 > p_abertas THEN
        RAISE EXCEPTION 'a execução resolveria como "venda não encontrada" % de % divergências abertas (mais da metade): '
                        'fonte possivelmente quebrada; nada foi gravado. Se a origem estiver correta, '
                        'execute de novo com confirmar_resolucao_em_massa = true.', p_nao_encontradas, p_abertas
            USING ERRCODE = 'data_exception';
    END IF;
END
$$;
