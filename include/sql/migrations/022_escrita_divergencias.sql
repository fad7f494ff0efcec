-- 022: fewer per-row writes when divergences are recorded. Measured at a million sales
-- (36,000 divergences recorded in one statement):
--   sessao_id's foreign key cost a lookup per row (0.13 s). As with 007, the column is
--   written only by the data steps, with the id of the session they run in, and sessions
--   are never deleted: the key protected nothing those steps do not already guarantee.
--   The old schema's operacao_id key stays.
--   sessao_alteracao_id is NULL until a run changes the divergence, and every new row
--   wrote a NULL entry nobody looks up; the index now holds only the rows a session
--   changed (a session's rows: divergencias_da_sessao, rollbacks).
ALTER TABLE audit.divergencias_processadas DROP CONSTRAINT IF EXISTS divergencias_processadas_sessao_id_fkey;

DROP INDEX IF EXISTS audit.idx_divergencias_sessao_alteracao;
CREATE INDEX idx_divergencias_sessao_alteracao ON audit.divergencias_processadas (sessao_alteracao_id)
    WHERE sessao_alteracao_id IS NOT NULL;
