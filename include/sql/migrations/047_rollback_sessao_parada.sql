-- 047: the rollback refuses a session whose run is still running inside its own transaction,
-- after taking the data steps' turn (audit.iniciar_etapa(serializada => true)): checked only
-- before that transaction, a cleared run could reopen the session in between and apply its
-- corrections right after the rollback reported them undone.
-- "Still running" is defined once, here, for both checks (rollback/session_to_undo.sql reads
-- it for the request): RUNNING for less than six hours (open_session's rule: no run lasts six
-- hours; an older one was abandoned). object_in_use: a refusal, not a failure a retry fixes.
CREATE OR REPLACE FUNCTION audit.sessao_em_execucao(s audit.sessoes_processamento)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(s.status = 'RUNNING'
                    AND s.inicio_processamento > (now() AT TIME ZONE 'America/Sao_Paulo') - interval '6 hours',
                    false)
$$;

CREATE OR REPLACE FUNCTION audit.verificar_sessao_parada(p_sessao_id integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit.sessoes_processamento s
                WHERE s.id = p_sessao_id AND audit.sessao_em_execucao(s)) THEN
        RAISE EXCEPTION 'sessao_id=%: a sessão ainda está em execução (RUNNING); aguarde o fim da execução e dispare o rollback de novo.',
            p_sessao_id
            USING ERRCODE = 'object_in_use';
    END IF;
END
$$;
