-- 001: the old system's audit schema, column for column (SEED_AUDIT_SCHEMA.md), made
-- re-runnable. On a database where the old DDL already ran, every statement is a no-op.
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS audit.operacoes (
    id                 serial PRIMARY KEY,
    tipo_operacao      varchar(50)  NOT NULL,
    descricao          text         NOT NULL,
    usuario            varchar(100) NOT NULL,
    origem             varchar(50)  NOT NULL,
    tabela_afetada     varchar(200),
    registros_afetados integer DEFAULT 0,
    filtros_aplicados  jsonb,
    query_executada    text,
    dados_anteriores   jsonb,
    dados_posteriores  jsonb,
    timestamp_inicio   timestamp    NOT NULL DEFAULT now(),
    timestamp_fim      timestamp,
    duracao_segundos   numeric(10,3),
    status             varchar(20)  NOT NULL DEFAULT 'PENDING',
    erro_mensagem      text,
    rollback_de        integer REFERENCES audit.operacoes(id),
    ip_origem          varchar(45),
    user_agent         text,
    metadata           jsonb
);
CREATE INDEX IF NOT EXISTS idx_operacoes_tipo ON audit.operacoes (tipo_operacao);
CREATE INDEX IF NOT EXISTS idx_operacoes_usuario ON audit.operacoes (usuario);
CREATE INDEX IF NOT EXISTS idx_operacoes_tabela ON audit.operacoes (tabela_afetada);
CREATE INDEX IF NOT EXISTS idx_operacoes_timestamp ON audit.operacoes (timestamp_inicio DESC);
CREATE INDEX IF NOT EXISTS idx_operacoes_status ON audit.operacoes (status);
CREATE INDEX IF NOT EXISTS idx_operacoes_origem ON audit.operacoes (origem);

CREATE TABLE IF NOT EXISTS audit.divergencias_processadas (
    id                   serial PRIMARY KEY,
    operacao_id          integer REFERENCES audit.operacoes(id),
    idnfsexterno         varchar(100) NOT NULL,
    tipo_divergencia     varchar(100) NOT NULL,
    competencia          varchar(7),
    valor_anterior       numeric(15,2),
    valor_sugerido       numeric(15,2),
    valor_aplicado       numeric(15,2),
    campo_afetado        varchar(100),
    status_processamento varchar(50)  NOT NULL,
    decisao_automatica   boolean DEFAULT false,
    motivo_rejeicao      text,
    detectado_em         timestamp    NOT NULL DEFAULT now(),
    processado_em        timestamp,
    processado_por       varchar(100),
    confidence_score     numeric(3,2),
    regras_aplicadas     text[],
    dados_contextuais    jsonb
);
CREATE INDEX IF NOT EXISTS idx_divergencias_idnfs ON audit.divergencias_processadas (idnfsexterno);
CREATE INDEX IF NOT EXISTS idx_divergencias_tipo ON audit.divergencias_processadas (tipo_divergencia);
CREATE INDEX IF NOT EXISTS idx_divergencias_status ON audit.divergencias_processadas (status_processamento);
CREATE INDEX IF NOT EXISTS idx_divergencias_competencia ON audit.divergencias_processadas (competencia);
CREATE INDEX IF NOT EXISTS idx_divergencias_detectado ON audit.divergencias_processadas (detectado_em DESC);

CREATE TABLE IF NOT EXISTS audit.sessoes_processamento (
    id                         serial PRIMARY KEY,
    tipo_sessao                varchar(50) NOT NULL,
    inicio_processamento       timestamp   NOT NULL DEFAULT now(),
    fim_processamento          timestamp,
    duracao_total_segundos     integer,
    total_registros_analisados integer DEFAULT 0,
    divergencias_detectadas    integer DEFAULT 0,
    correcoes_aplicadas        integer DEFAULT 0,
    correcoes_pendentes        integer DEFAULT 0,
    erros_encontrados          integer DEFAULT 0,
    status                     varchar(20) NOT NULL DEFAULT 'RUNNING',
    resultado_geral            text,
    versao_sistema             varchar(20),
    ambiente                   varchar(20),
    parametros_execucao        jsonb,
    log_completo               text,
    alertas_enviados           boolean DEFAULT false,
    destinatarios_notificados  text[]
);
CREATE INDEX IF NOT EXISTS idx_sessoes_inicio ON audit.sessoes_processamento (inicio_processamento DESC);
CREATE INDEX IF NOT EXISTS idx_sessoes_status ON audit.sessoes_processamento (status);
CREATE INDEX IF NOT EXISTS idx_sessoes_tipo ON audit.sessoes_processamento (tipo_sessao);

CREATE TABLE IF NOT EXISTS audit.configuracoes_sistema (
    id              serial PRIMARY KEY,
    chave           varchar(100) NOT NULL,
    valor           text         NOT NULL,
    tipo_valor      varchar(20),
    descricao       text,
    versao          integer      NOT NULL DEFAULT 1,
    ativo           boolean DEFAULT true,
    criado_em       timestamp    NOT NULL DEFAULT now(),
    criado_por      varchar(100) NOT NULL,
    modificado_em   timestamp,
    modificado_por  varchar(100),
    valor_padrao    text,
    validacao_regex varchar(500),
    obrigatorio     boolean DEFAULT false,
    UNIQUE (chave, versao)
);
CREATE INDEX IF NOT EXISTS idx_config_chave_ativo ON audit.configuracoes_sistema (chave, ativo);
CREATE INDEX IF NOT EXISTS idx_config_modificado ON audit.configuracoes_sistema (modificado_em DESC);

-- The old helper functions, kept callable for notebooks and scripts that still use them.
CREATE OR REPLACE FUNCTION audit.registrar_operacao(
    p_tipo varchar, p_descricao text, p_usuario varchar, p_origem varchar,
    p_tabela varchar DEFAULT NULL, p_registros integer DEFAULT 0, p_query text DEFAULT NULL
) RETURNS integer LANGUAGE sql AS $$
    INSERT INTO audit.operacoes (tipo_operacao, descricao, usuario, origem, tabela_afetada,
                                 registros_afetados, query_executada)
    VALUES (p_tipo, p_descricao, p_usuario, p_origem, p_tabela, p_registros, p_query)
    RETURNING id
$$;

CREATE OR REPLACE FUNCTION audit.finalizar_operacao(
    p_id integer, p_status varchar, p_erro text DEFAULT NULL
) RETURNS void LANGUAGE sql AS $$
    UPDATE audit.operacoes
       SET timestamp_fim = clock_timestamp(),
           duracao_segundos = extract(epoch FROM clock_timestamp() - timestamp_inicio),
           status = p_status,
           erro_mensagem = p_erro
     WHERE id = p_id
$$;
