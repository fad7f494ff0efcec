-- travar_divergencias: how every decision of the review API starts, like a data step of the
-- pipeline (São Paulo time, the writer lock detection, apply_corrections and the rollback
-- take), but a person waits seconds, not limite_espera_bloqueio_s: after 15 s the API answers
-- 503. Then it locks the divergences named and their booked rows: two people deciding at once
-- are served one after the other, the second seeing what the first did. Parameter: ids.
SET LOCAL lock_timeout = '15s';
SELECT audit.iniciar_etapa(serializada => true, limitar_espera => false);
SELECT count(*) FROM (
    SELECT 1 FROM audit.divergencias_processadas d WHERE d.id = ANY(%(ids)s::integer[]) FOR UPDATE
) AS divergencias;
SELECT count(*) FROM (
    SELECT 1 FROM byd.controladoria c
     WHERE c.idnfsexterno IN (SELECT d.idnfsexterno FROM audit.divergencias_processadas d
                               WHERE d.id = ANY(%(ids)s::integer[]))
       FOR UPDATE
) AS lancamentos
