-- 044: who started a session. A run someone triggers by hand (the review page's "processar",
-- Airflow's trigger form) may apply corrections, yet its operations name only the pipeline
-- user, and the person was only in Airflow's own tables, which are purged: the audit could not
-- say who had corrections applied. NULL for scheduled runs and for sessions recorded before.
ALTER TABLE audit.sessoes_processamento ADD COLUMN IF NOT EXISTS disparado_por varchar(100);
