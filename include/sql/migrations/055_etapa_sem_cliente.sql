-- 055: a step whose worker died or froze mid-transaction no longer holds its locks. Killed
-- (out of memory, a worker restarted), its statement went on waiting, holding the writer
-- lock, until lock_timeout; frozen, or cut off from the network (its socket never closes),
-- its open transaction kept the writer lock and the booked rows of byd.controladoria until
-- TCP gave up, hours later: every retry, run, decision and controller's edit of those sales
-- waited behind a step that can never commit. Now the server checks every second that the
-- client is still there, and ends a step's transaction left idle longer than the step would
-- wait for someone else's lock (limite_espera_bloqueio_s). The connection check needs
-- PostgreSQL 14 and a platform that supports it; without it a dead step still ends at
-- lock_timeout, as before.
CREATE OR REPLACE FUNCTION audit.iniciar_etapa(serializada boolean DEFAULT false, limitar_espera boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    espera text;
BEGIN
    PERFORM set_config('timezone', 'America/Sao_Paulo', true);
    PERFORM set_config('jit', 'off', true);
    BEGIN
        PERFORM set_config('client_connection_check_interval', '1s', true);
    EXCEPTION WHEN undefined_object OR invalid_parameter_value THEN
        NULL;
    END;
    IF limitar_espera THEN
        espera := audit.configuracao_validada('limite_espera_bloqueio_s') || 's';
        PERFORM set_config('lock_timeout', espera, true);
        PERFORM set_config('idle_in_transaction_session_timeout', espera, true);
    END IF;
    IF serializada THEN
        PERFORM pg_advisory_xact_lock(7420261129);
    END IF;
END
$$;
