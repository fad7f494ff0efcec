-- travar_divergencias: how every decision of the review API starts. Waits (at most
-- lock_timeout; the API answers 503 after that) for the writer lock that detection,
-- apply_corrections and the rollback hold, then locks the divergences named and their booked
-- rows: two people deciding at once are served one after the other, the second seeing what
-- the first did. Parameter: ids.
SET LOCAL lock_timeout = '15s';
SELECT pg_advisory_xact_lock(7420261129);
SELECT count(*) FROM (
    SELECT 1 FROM audit.divergencias_processadas d WHERE d.id = ANY(%(ids)s::integer[]) FOR UPDATE
) AS divergencias;
SELECT count(*) FROM (
    SELECT 1 FROM byd.controladoria c
     WHERE c.idnfsexterno IN (SELECT d.idnfsexterno FROM audit.divergencias_processadas d
                               WHERE d.id = ANY(%(ids)s::integer[]))
       FOR UPDATE
) AS lancamentos
