-- valores_decididos: the values a decision on each divergence named depends on
-- (audit.valores_aprovados) and token_valores, an opaque digest of them. The list and the
-- detail hand the token out with each divergence; a decision reads both again when the
-- request arrives, before it waits for the writer lock (travar_divergencias): the token the
-- client sends back (vistos) must still be the divergence's, and the values must still be
-- the same once the lock is held. Parameter: ids.
SELECT d.id, v.valores, md5(v.valores::text) AS token_valores
  FROM audit.divergencias_processadas d
 CROSS JOIN LATERAL (SELECT audit.valores_aprovados(d) AS valores) AS v
 WHERE d.id = ANY(%(ids)s::integer[])
