-- 064: a data step whose worker was killed (SIGKILL, out of memory, a worker restarted) left no
-- trace in the audit trail: the server rolled its transaction back, and the FAILED operation a
-- failed step writes is written by the worker itself, which was dead. The retry then succeeded,
-- or close_session set the session FAILED, and vw_operacoes_resumo.total_erros and the
-- dashboard's erros_hoje counted nothing. Now each attempt of a data step is recorded, committed,
-- before its transaction starts (audit.etapas_em_andamento); that transaction holds the row
-- locked from its first statement and deletes it when it commits, and a failure the worker
-- records deletes it with its FAILED operation. A row still there and unlocked is an attempt
-- that ended without committing nor recording its failure: the next attempt of the step and
-- close_session turn it into a FAILED operation. A row locked by a live transaction is left
-- alone, and an attempt whose row was closed before its transaction took it refuses to run, so
-- no step whose transaction committed is ever recorded as failed.
CREATE TABLE IF NOT EXISTS audit.etapas_em_andamento (
    id             bigserial    PRIMARY KEY,
    sessao_id      integer      NOT NULL REFERENCES audit.sessoes_processamento (id),
    etapa          varchar(100) NOT NULL,
    tipo_operacao  varchar(50)  NOT NULL,
    descricao      text         NOT NULL,
    origem         varchar(50)  NOT NULL,
    tabela_afetada varchar(100),
    usuario        varchar(100) NOT NULL,
    iniciada_em    timestamp    NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_etapas_em_andamento_sessao ON audit.etapas_em_andamento (sessao_id, etapa);
COMMENT ON TABLE audit.etapas_em_andamento IS
    'Tentativas de etapas de dados iniciadas e ainda não concluídas nem registradas como falha. '
    'Uma linha sem transação viva é uma tentativa interrompida (processo morto): vira uma operação FAILED.';

-- The step's first statement: takes its attempt's row (deleted on commit, back on rollback).
-- NULL: the step runs outside Airflow (tests, the benchmark), with no attempt recorded.
CREATE OR REPLACE FUNCTION audit.assumir_etapa(p_tentativa bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_tentativa IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM audit.etapas_em_andamento WHERE id = p_tentativa;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tentativa % da etapa já foi registrada como interrompida em audit.operacoes: '
                        'esta tentativa não grava nada; a próxima recomeça a etapa.', p_tentativa;
    END IF;
END
$$;

-- The attempts of the session (of one step, or all) that ended without committing nor recording
-- their failure become FAILED operations; returns how many. SKIP LOCKED: a live transaction's
-- attempt is not touched.
CREATE OR REPLACE FUNCTION audit.encerrar_etapas_interrompidas(p_sessao_id integer, p_etapa varchar DEFAULT NULL)
RETURNS integer LANGUAGE sql AS $$
    WITH interrompidas AS (
        DELETE FROM audit.etapas_em_andamento e
         WHERE e.id IN (SELECT a.id FROM audit.etapas_em_andamento a
                         WHERE a.sessao_id = p_sessao_id AND (p_etapa IS NULL OR a.etapa = p_etapa)
                           FOR UPDATE SKIP LOCKED)
        RETURNING e.*
    ), registradas AS (
        INSERT INTO audit.operacoes (tipo_operacao, descricao, usuario, origem, tabela_afetada, sessao_id, status,
                                     timestamp_inicio, timestamp_fim, erro_mensagem)
        SELECT i.tipo_operacao, 'FALHA: ' || i.descricao, i.usuario, i.origem, i.tabela_afetada, i.sessao_id,
               'FAILED', i.iniciada_em, now(),
               'Tentativa interrompida: a tarefa ' || i.etapa || ', iniciada em '
               || to_char(i.iniciada_em, 'DD/MM/YYYY HH24:MI:SS')
               || ', terminou sem concluir a etapa nem registrar a falha (processo encerrado: SIGKILL, falta de '
               || 'memória, worker reiniciado). A transação da etapa foi desfeita: nada dela foi gravado.'
          FROM interrompidas i
        RETURNING 1
    )
    SELECT count(*)::int FROM registradas
$$;
