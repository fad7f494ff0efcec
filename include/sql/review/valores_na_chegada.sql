-- valores_na_chegada: the values of the divergences a decision names as they stand when the
-- request arrives, read before it waits for the writer lock (travar_divergencias): what the
-- person decided on, compared afterwards with what a run may have left. Parameter: ids.
SELECT d.id, audit.valores_aprovados(d) AS valores
  FROM audit.divergencias_processadas d
 WHERE d.id = ANY(%(ids)s::integer[])
