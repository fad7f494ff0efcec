-- 047: the rollback refuses a session whose run is still running inside its own transaction,
-- after taking the data steps' turn (audit.iniciar_etapa(serializada => true)): checked only
-- before that transaction, a cleared run could reopen the session in between and apply its
-- corrections right after the rollback reported them undone. Same rule as
-- rollback/session_to_undo.sql (RUNNING for less than six hours) and the same message as the
-- request's check. object_in_use: a refusal, not a failure a retry fixes.
CREATE OR REPLACE FUNCTION audit.verificar_sessao_parada(p_sessao_id integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit.sessoes_processamento s
                WHERE s.id = p_sessao_id
                  AND s.status = 'RUNNING'
                  AND s.inicio_processamento > (now() AT TIME ZONE 'America/Sao_Paulo') - interval '6 hours') THEN
        RAISE EXCEPTION 'sessao_id=%: a sessão ainda está em execução (RUNNING); aguarde o fim da execução e dispare o rollback de novo.',
            p_sessao_id
            USING ERRCODE = 'object_in_use';
    END IF;
END
$$;
