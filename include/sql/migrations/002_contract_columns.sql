-- 002: what the contract adds to the old tables: which session recorded or last changed a
-- divergence, the raw text found, the period and mode of a session, and the constraints
-- that make reruns and overlapping runs unable to record a divergence twice.
ALTER TABLE audit.divergencias_processadas
    ADD COLUMN IF NOT EXISTS sessao_id integer REFERENCES audit.sessoes_processamento(id),
    ADD COLUMN IF NOT EXISTS valor_original text,
    ADD COLUMN IF NOT EXISTS dta_processamento timestamp,
    ADD COLUMN IF NOT EXISTS sessao_alteracao_id integer REFERENCES audit.sessoes_processamento(id);

ALTER TABLE audit.sessoes_processamento
    ADD COLUMN IF NOT EXISTS data_inicio date,
    ADD COLUMN IF NOT EXISTS data_fim date,
    ADD COLUMN IF NOT EXISTS modo varchar(10),
    ADD COLUMN IF NOT EXISTS dag_run_id varchar(250),
    ADD COLUMN IF NOT EXISTS arquivo_relatorio text,
    -- steps whose work committed; close_session derives COMPLETED / PARTIAL / FAILED from it
    ADD COLUMN IF NOT EXISTS etapas_concluidas text[] NOT NULL DEFAULT '{}';

ALTER TABLE audit.operacoes
    ADD COLUMN IF NOT EXISTS sessao_id integer REFERENCES audit.sessoes_processamento(id);

-- At most one open divergence per sale, rule and field, whatever runs overlap.
CREATE UNIQUE INDEX IF NOT EXISTS uq_divergencias_abertas
    ON audit.divergencias_processadas (idnfsexterno, tipo_divergencia, campo_afetado)
    WHERE status_processamento = 'DETECTED';
CREATE INDEX IF NOT EXISTS idx_divergencias_sessao ON audit.divergencias_processadas (sessao_id);
CREATE INDEX IF NOT EXISTS idx_divergencias_sessao_alteracao
    ON audit.divergencias_processadas (sessao_alteracao_id);
CREATE INDEX IF NOT EXISTS idx_divergencias_operacao ON audit.divergencias_processadas (operacao_id);
CREATE INDEX IF NOT EXISTS idx_divergencias_fila
    ON audit.divergencias_processadas (dta_processamento) WHERE status_processamento = 'DETECTED';
-- A retried or cleared open_session reuses its DAG run's session instead of opening another.
CREATE UNIQUE INDEX IF NOT EXISTS uq_sessoes_dag_run ON audit.sessoes_processamento (dag_run_id);
CREATE INDEX IF NOT EXISTS idx_operacoes_sessao ON audit.operacoes (sessao_id);

-- Money text as the contract reads it. Each body is a single expression so the planner
-- inlines it into the detection query instead of calling a function per value.
CREATE OR REPLACE FUNCTION audit.texto_monetario_vazio(texto text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT texto IS NULL OR btrim(texto, E' \t\r\n') IN ('', 'NaN', 'nan', 'None', 'null')
$$;

-- NULL for empty and for unreadable text; texto_monetario_ilegivel tells them apart.
CREATE OR REPLACE FUNCTION audit.ler_valor_monetario(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN btrim(texto, E' \t\r\n') ~ '^-?(R\$\s*)?-?(\d{1,3}(\.\d{3})+,\d+|\d+,\d+|\d+(\.\d+)?)$'
         AND btrim(texto, E' \t\r\n') !~ '^-.*-'
        THEN CASE WHEN strpos(texto, '-') > 0 THEN -1 ELSE 1 END
           * (CASE WHEN strpos(texto, ',') > 0
                   THEN replace(replace(regexp_replace(btrim(texto, E' \t\r\n'), '^-?(R\$\s*)?-?', ''),
                                        '.', ''), ',', '.')
                   ELSE regexp_replace(btrim(texto, E' \t\r\n'), '^-?(R\$\s*)?-?', '')
              END)::numeric
    END
$$;

CREATE OR REPLACE FUNCTION audit.texto_monetario_ilegivel(texto text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NOT audit.texto_monetario_vazio(texto) AND audit.ler_valor_monetario(texto) IS NULL
$$;

-- Canonical text written back into byd: two decimals, decimal point ('17000.00').
CREATE OR REPLACE FUNCTION audit.texto_monetario_canonico(valor numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(valor, 2)::text
$$;

-- Active value of a setting: highest active versao.
CREATE OR REPLACE FUNCTION audit.configuracao(p_chave text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT valor FROM audit.configuracoes_sistema
     WHERE chave = p_chave AND ativo
     ORDER BY versao DESC
     LIMIT 1
$$;
