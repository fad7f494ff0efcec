-- Demo/test only: a stand-in for the business schema `byd`, shaped like production
-- (money as text, bonus_view computing competencia and apontamento). Run it only on a
-- database the system created itself (devtools.demo_source checks the marker), never on a
-- business database. Re-runnable: every statement is IF NOT EXISTS / OR REPLACE.

CREATE SCHEMA IF NOT EXISTS byd;

CREATE TABLE IF NOT EXISTS byd.vendas (
    idnfsexterno      text PRIMARY KEY,
    dta_processamento timestamp,
    data_final_venda  timestamp,
    des_modelo        text,
    chassi            text,
    revenda           text
);

-- Production has its own indexing; this one only keeps period scans fast on large demo loads.
CREATE INDEX IF NOT EXISTS vendas_dta_processamento_idx ON byd.vendas (dta_processamento);

-- The incentive as registered by the commercial side.
CREATE TABLE IF NOT EXISTS byd.incentivos (
    idnfsexterno    text PRIMARY KEY,
    valor_bonus     text,
    trade           text,
    bonus_utilizado text
);

-- The amounts booked by controllership: the only table the pipeline writes.
CREATE TABLE IF NOT EXISTS byd.controladoria (
    idnfsexterno   text PRIMARY KEY,
    bonus_dpto     text,
    trade_mkt_dpto text
);

-- Reads money text the way the contract does, so the view's apontamento agrees with the
-- pipeline: empty forms are 0, unreadable text is NULL. A single expression keeps it
-- inlinable, so the view stays a plain scan at a million rows.
CREATE OR REPLACE FUNCTION byd.valor_demo(texto text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        -- Plain '17000.00' is most of the data: settle it before any trimming or rewriting.
        WHEN texto ~ '^-?[0-9]+(\.[0-9]+)?$' THEN texto::numeric
        WHEN texto IS NULL OR btrim(texto) IN ('', 'NaN', 'nan', 'None', 'null') THEN 0::numeric
        WHEN regexp_replace(btrim(texto), '^R\$ ?', '') ~ '^-?[0-9]+(\.[0-9]+)?$'
            THEN regexp_replace(btrim(texto), '^R\$ ?', '')::numeric
        WHEN regexp_replace(btrim(texto), '^R\$ ?', '') ~ '^-?[0-9]+(\.[0-9]{3})*,[0-9]+$'
            THEN replace(replace(regexp_replace(btrim(texto), '^R\$ ?', ''), '.', ''), ',', '.')::numeric
    END
$$;

-- The ::text casts let the view be recreated unchanged if a test turns controladoria's money
-- columns into numeric (the contract says numeric must work too). Any difference at all is
-- flagged: tolerance is the pipeline's business, not the source's.
CREATE OR REPLACE VIEW byd.bonus_view AS
SELECT
    v.idnfsexterno,
    v.dta_processamento,
    v.data_final_venda,
    (ARRAY['Janeiro', 'Fevereiro', 'Março', 'Abril', 'Maio', 'Junho', 'Julho', 'Agosto',
           'Setembro', 'Outubro', 'Novembro', 'Dezembro'])[extract(month FROM v.data_final_venda)::int]
        AS competencia,
    v.des_modelo,
    v.chassi,
    v.revenda,
    i.bonus_utilizado,
    CASE
        WHEN coalesce(byd.valor_demo(i.valor_bonus::text) = byd.valor_demo(c.bonus_dpto::text), false)
         AND coalesce(byd.valor_demo(i.trade::text) = byd.valor_demo(c.trade_mkt_dpto::text), false)
        THEN 'Certo!'
        ELSE 'Revisar Divergência!'
    END AS apontamento,
    i.valor_bonus,
    i.trade,
    c.bonus_dpto,
    c.trade_mkt_dpto
FROM byd.vendas v
LEFT JOIN byd.incentivos i ON i.idnfsexterno = v.idnfsexterno
LEFT JOIN byd.controladoria c ON c.idnfsexterno = v.idnfsexterno;
