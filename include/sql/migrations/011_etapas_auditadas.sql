-- 011: what the data steps share. An operation is opened PENDING (finished by
-- finalizar_operacao); the old registrar_operacao stays as the old system defined it, for
-- its users' scripts. The source check stops a detection that would empty the queue
-- because the view broke. New divergences name in their history the user of the
-- operation that recorded them.
CREATE OR REPLACE FUNCTION audit.iniciar_operacao(
    p_tipo_operacao varchar, p_descricao text, p_usuario varchar, p_origem varchar, p_tabela_afetada varchar,
    p_sessao_id integer, p_filtros jsonb DEFAULT NULL
) RETURNS integer LANGUAGE sql AS $$
    INSERT INTO audit.operacoes (tipo_operacao, descricao, usuario, origem, tabela_afetada, sessao_id,
                                 filtros_aplicados, status)
    VALUES (p_tipo_operacao, p_descricao, p_usuario, p_origem, p_tabela_afetada, p_sessao_id, p_filtros,
            'PENDING')
    RETURNING id
$$;

-- Raises, before anything is written, when the source looks broken: the period returns no
-- rows although divergences of that period are open, or more than half of the open queue
-- (at least 20 rows) would be resolved as "sale not found". A person confirms a genuine
-- mass resolution with the run's param confirmar_resolucao_em_massa.
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
    IF p_nao_encontradas >= 20 AND p_nao_encontradas * 2 > p_abertas THEN
        RAISE EXCEPTION 'a execução resolveria como "venda não encontrada" % de % divergências abertas (mais da metade): '
                        'fonte possivelmente quebrada; nada foi gravado. Se a origem estiver correta, '
                        'execute de novo com confirmar_resolucao_em_massa = true.', p_nao_encontradas, p_abertas
            USING ERRCODE = 'data_exception';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION audit.registrar_historico_inclusao() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit.historico_divergencias
           (divergencia_id, status_anterior, status_novo, sessao_id, operacao_id, usuario, detalhes)
    SELECT n.id, NULL, n.status_processamento, n.sessao_id, n.operacao_id,
           coalesce(n.processado_por, o.usuario, 'desconhecido'),
           jsonb_build_object('valor_original', n.valor_original, 'valor_sugerido', n.valor_sugerido)
      FROM novas n
      LEFT JOIN audit.operacoes o ON o.id = n.operacao_id;
    RETURN NULL;
END
$$;
