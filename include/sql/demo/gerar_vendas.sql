-- Demo/test only: generates the sales primeiro..ultimo (ids 'NF' + 10 digits) with their
-- incentives and controllership bookings into the schema of byd_fixture.sql; never run it on a
-- business database. Every value is a function of (semente, i, purpose) through md5, never
-- random(), so the same parameters give the same bytes whatever the plan or the chunking.
-- psycopg named parameters: primeiro, ultimo, semente, data_fim, dias, taxa_trade_marketing,
-- taxa_pendente, taxa_negativo_outlier, taxa_ilegivel (a literal percent sign must be doubled).
-- Existing ids are left alone, so an interrupted load resumes and a larger n extends a smaller one.
WITH
p AS (
    -- Probabilities become thresholds on 32-bit draws: comparing integers is exact and cheap.
    SELECT %(semente)s::bigint AS semente,
           %(data_fim)s::date AS data_fim,
           greatest(%(dias)s::int, 1) AS dias,
           round(%(taxa_ilegivel)s::numeric * 4294967296)::bigint AS lim_ilegivel,
           round((%(taxa_ilegivel)s::numeric + %(taxa_negativo_outlier)s::numeric) * 4294967296)::bigint
               AS lim_extremo,
           round((%(taxa_ilegivel)s::numeric + %(taxa_negativo_outlier)s::numeric
                  + %(taxa_trade_marketing)s::numeric) * 4294967296)::bigint AS lim_trade_marketing,
           round(%(taxa_pendente)s::numeric * 4294967296)::bigint AS lim_pendente,
           -- Formatting noise (same amount, other text) is not a rate of the contract, only
           -- frequent enough that every messy form shows up in a 3000-sale demo.
           round(0.16 * 4294967296)::bigint AS lim_ruido,
           round(0.005 * 4294967296)::bigint AS lim_meia_noite,
           round(0.005 * 4294967296)::bigint AS lim_fim_do_dia,
           round(0.010 * 4294967296)::bigint AS lim_sem_data_final
),
hashes AS (
    -- Each purpose hashes separately, so changing how one attribute is drawn never shifts another.
    SELECT g.i,
           md5(p.semente || ':' || g.i || ':venda') AS ha,
           md5(p.semente || ':' || g.i || ':produto') AS hb,
           md5(p.semente || ':' || g.i || ':incentivo') AS hc,
           md5(p.semente || ':' || g.i || ':anomalia') AS hd,
           md5(p.semente || ':' || g.i || ':ruido') AS he,
           md5(p.semente || ':' || g.i || ':chassi') AS hf
    FROM p CROSS JOIN generate_series(%(primeiro)s::bigint, %(ultimo)s::bigint) AS g(i)
    -- OFFSET 0 keeps each step a separate plan node: once inlined, every use of a column
    -- would recompute its whole expression (md5 included) many times over.
    OFFSET 0
),
sorteio AS (
    -- Four independent uniform 32-bit draws x per hash; (x * n) >> 32 is then uniform in 0..n-1.
    SELECT h.i, h.hf,
           ('x' || substr(ha, 1, 8))::bit(32)::bigint AS a1,
           ('x' || substr(ha, 9, 8))::bit(32)::bigint AS a2,
           ('x' || substr(ha, 17, 8))::bit(32)::bigint AS a3,
           ('x' || substr(ha, 25, 8))::bit(32)::bigint AS a4,
           ('x' || substr(hb, 1, 8))::bit(32)::bigint AS b1,
           ('x' || substr(hb, 9, 8))::bit(32)::bigint AS b2,
           ('x' || substr(hb, 17, 8))::bit(32)::bigint AS b3,
           ('x' || substr(hb, 25, 8))::bit(32)::bigint AS b4,
           ('x' || substr(hc, 1, 8))::bit(32)::bigint AS c1,
           ('x' || substr(hc, 9, 8))::bit(32)::bigint AS c2,
           ('x' || substr(hc, 17, 8))::bit(32)::bigint AS c3,
           ('x' || substr(hc, 25, 8))::bit(32)::bigint AS c4,
           ('x' || substr(hd, 1, 8))::bit(32)::bigint AS d1,
           ('x' || substr(hd, 9, 8))::bit(32)::bigint AS d2,
           ('x' || substr(hd, 17, 8))::bit(32)::bigint AS d3,
           ('x' || substr(hd, 25, 8))::bit(32)::bigint AS d4,
           ('x' || substr(he, 1, 8))::bit(32)::bigint AS e1,
           ('x' || substr(he, 9, 8))::bit(32)::bigint AS e2,
           ('x' || substr(he, 17, 8))::bit(32)::bigint AS e3,
           ('x' || substr(he, 25, 8))::bit(32)::bigint AS e4
    FROM hashes h
    OFFSET 0
),
modelos (nome, de, ate, bonus_min, bonus_max) AS (
    -- Share of sales (out of 100) and incentive range in reais, roughly following BYD Brasil's mix:
    -- cheap hatchbacks sell most, premium sedans carry the largest incentives.
    VALUES ('BYD DOLPHIN MINI', 0, 30, 2000, 6000),
           ('BYD SONG PRO', 30, 46, 4000, 10000),
           ('BYD SONG PLUS', 46, 58, 6000, 15000),
           ('BYD DOLPHIN', 58, 68, 3000, 9000),
           ('BYD KING', 68, 76, 4000, 11000),
           ('BYD YUAN PRO', 76, 82, 3500, 9000),
           ('BYD SEAL', 82, 87, 8000, 20000),
           ('BYD SHARK', 87, 92, 9000, 22000),
           ('BYD YUAN PLUS', 92, 96, 5000, 13000),
           ('BYD TAN', 96, 98, 12000, 25000),
           ('BYD HAN', 98, 100, 12000, 25000)
),
venda AS (
    SELECT s.*,
           m.nome AS des_modelo,
           (p.data_fim - (p.dias - 1) + ((s.a1 * p.dias) >> 32)::int)::timestamp
               + CASE
                     -- Exact day boundaries are where period filters go wrong, so some sales sit on them.
                     WHEN s.a3 < p.lim_meia_noite THEN 0
                     WHEN s.a3 < p.lim_meia_noite + p.lim_fim_do_dia THEN 86399
                     ELSE (s.a2 * 86400) >> 32
                 END * interval '1 second' AS dta_processamento,
           -- Incentive in cents: some round to the hundred, some to the real, the rest with cents.
           CASE WHEN (s.c1 * 10) >> 32 < 4 THEN 10000 WHEN (s.c1 * 10) >> 32 < 6 THEN 100 ELSE 1 END
               AS arredonda,
           m.bonus_min * 100 + ((s.b4 * ((m.bonus_max - m.bonus_min) * 100 + 1)) >> 32) AS bonus_bruto,
           CASE WHEN (s.c2 * 100) >> 32 < 45
                THEN 30000 + ((s.c3 * 770001) >> 32)
           END AS trade_bruto
    FROM sorteio s
    CROSS JOIN p
    JOIN modelos m ON (s.b1 * 100) >> 32 >= m.de AND (s.b1 * 100) >> 32 < m.ate
    OFFSET 0
),
registro AS (
    SELECT v.*,
           v.bonus_bruto - mod(v.bonus_bruto, v.arredonda) AS bonus_c,
           CASE WHEN mod(v.c3, 2) = 0 THEN v.trade_bruto - mod(v.trade_bruto, 5000)
                ELSE v.trade_bruto
           END AS trade_c,
           CASE WHEN v.d1 < p.lim_ilegivel THEN 'ilegivel'
                WHEN v.d1 < p.lim_extremo THEN 'extremo'
                WHEN v.d1 < p.lim_trade_marketing THEN 'trade_marketing'
                ELSE 'ok'
           END AS categoria,
           (v.d2 * 10) >> 32 AS campos_tm,
           (v.d2 * 4) >> 32 AS campo_anomalo,
           (v.d3 * 100) >> 32 AS tipo_tm
    FROM venda v CROSS JOIN p
    OFFSET 0
),
lancamento AS (
    -- Controllership books what was registered, except in the trade-marketing divergences.
    SELECT r.*,
           CASE WHEN r.categoria = 'trade_marketing' AND r.campos_tm IN (0, 1, 2, 3, 4, 5, 9)
                THEN CASE
                    -- Off by one cent: within the pipeline's tolerance, so never a divergence there.
                    WHEN r.tipo_tm < 10 THEN r.bonus_c + CASE WHEN mod(r.d4, 2) = 1 THEN -1 ELSE 1 END
                    -- Off by two cents: just above the tolerance.
                    WHEN r.tipo_tm < 15 THEN r.bonus_c + CASE WHEN mod(r.d4, 2) = 1 THEN -2 ELSE 2 END
                    -- Not booked at all.
                    WHEN r.tipo_tm < 35 THEN NULL
                    -- A zero too many or too few, kept under the outlier limit so the rates stay apart.
                    WHEN r.tipo_tm < 50 THEN CASE WHEN mod(r.d4, 2) = 1 AND r.bonus_c * 10 <= 10000000
                                                  THEN r.bonus_c * 10
                                                  ELSE round(r.bonus_c / 10.0)::bigint END
                    -- Another amount altogether.
                    WHEN r.tipo_tm < 80 THEN r.bonus_c + CASE WHEN mod(r.d4 >> 1, 2) = 1 THEN -1 ELSE 1 END
                                                         * (100 + ((r.d4 * 199901) >> 32))
                    -- Half booked.
                    ELSE round(r.bonus_c / 2.0)::bigint
                END
                ELSE r.bonus_c
           END AS bonus_dpto_c,
           CASE WHEN r.categoria = 'trade_marketing' AND r.campos_tm IN (6, 7, 8, 9)
                THEN CASE
                    WHEN r.tipo_tm < 10 THEN coalesce(r.trade_c, 0)
                        + CASE WHEN r.trade_c IS NOT NULL AND mod(r.d4, 2) = 1 THEN -1 ELSE 1 END
                    WHEN r.tipo_tm < 15 THEN coalesce(r.trade_c, 0)
                        + CASE WHEN r.trade_c IS NOT NULL AND mod(r.d4, 2) = 1 THEN -2 ELSE 2 END
                    -- Trade booked on a sale that registered none.
                    WHEN r.trade_c IS NULL THEN 30000 + ((r.d4 * 770001) >> 32)
                    WHEN r.tipo_tm < 35 THEN NULL
                    WHEN r.tipo_tm < 50 THEN CASE WHEN mod(r.d4, 2) = 1 THEN r.trade_c * 10
                                                  ELSE round(r.trade_c / 10.0)::bigint END
                    WHEN r.tipo_tm < 80 THEN r.trade_c
                        + CASE WHEN mod(r.d4 >> 1, 2) = 1 AND r.trade_c > 200000 THEN -1 ELSE 1 END
                          * (100 + ((r.d4 * 199901) >> 32))
                    ELSE round(r.trade_c / 2.0)::bigint
                END
                ELSE r.trade_c
           END AS trade_mkt_dpto_c,
           -- How an absent amount is written: production mixes '0.00', '' and '0' (pandas-era
           -- exports), and a missing booking reads '' or 'NaN'. Indexes into the absent forms below.
           CASE WHEN (mod(r.e3, 65536) * 20) >> 16 < 12 THEN 0
                WHEN (mod(r.e3, 65536) * 20) >> 16 < 17 THEN 1 ELSE 2 END AS ausente_trade,
           CASE WHEN ((r.e3 >> 16) * 20) >> 16 < 12 THEN 0
                WHEN ((r.e3 >> 16) * 20) >> 16 < 17 THEN 1 ELSE 2 END AS ausente_trade_mkt,
           CASE WHEN mod(r.d4 >> 2, 2) = 0 THEN 1 ELSE 3 END AS ausente_lancamento,
           r.e1 < p.lim_ruido AS com_ruido,
           mod(r.e2, 4) AS campo_ruido
    FROM registro r CROSS JOIN p
    OFFSET 0
),
linhas AS MATERIALIZED (
    SELECT 'NF' || lpad(l.i::text, 10, '0') AS idnfsexterno,
           l.dta_processamento,
           CASE WHEN l.a4 >= p.lim_sem_data_final
                THEN l.dta_processamento - ((l.a4 * 6) >> 32)::int * interval '1 day'
           END AS data_final_venda,
           l.des_modelo,
           -- VIN-like: BYD's WMI, six hex chars, the model-year letter, a six-digit serial.
           'LGXC' || upper(substr(l.hf, 1, 6))
               || substr('LMNPRSTVWXY', 1 + mod(mod(extract(year FROM l.dta_processamento)::int - 2020, 11) + 11, 11), 1)
               || lpad(((l.b3 * 1000000) >> 32)::text, 6, '0') AS chassi,
           -- Dealer stores in real Brazilian cities; São Paulo stores appear twice, they sell more.
           (ARRAY['BYD Paulista', 'BYD Morumbi', 'BYD Paulista', 'BYD Morumbi', 'BYD Santo André',
                  'BYD Cambuí', 'BYD Barra da Tijuca', 'BYD Botafogo', 'BYD Savassi', 'BYD Batel',
                  'BYD Moinhos', 'BYD Lago Sul', 'BYD Pituba', 'BYD Boa Viagem', 'BYD Aldeota',
                  'BYD Jurerê'])[1 + ((l.b2 * 16) >> 32)] AS revenda,
           CASE WHEN l.c4 < p.lim_pendente THEN 'PENDENTE VERIFICACAO'
                WHEN (l.c4 * 100) >> 32 < 88 THEN 'SIM'
                ELSE 'NAO'
           END AS bonus_utilizado,
           t.valor_bonus, t.trade, t.bonus_dpto, t.trade_mkt_dpto
    FROM lancamento l
    CROSS JOIN p
    CROSS JOIN LATERAL (
        SELECT max(x.texto) FILTER (WHERE f.k = 0) AS valor_bonus,
               max(x.texto) FILTER (WHERE f.k = 1) AS trade,
               max(x.texto) FILTER (WHERE f.k = 2) AS bonus_dpto,
               max(x.texto) FILTER (WHERE f.k = 3) AS trade_mkt_dpto
        -- One row per money field, so the formatting below is written once for all four:
        -- k, amount in cents (NULL = absent), the other side's amount, how it is absent.
        FROM (VALUES (0, l.bonus_c, l.bonus_dpto_c, 0),
                     (1, l.trade_c, l.trade_mkt_dpto_c, l.ausente_trade),
                     (2, l.bonus_dpto_c, l.bonus_c, l.ausente_lancamento),
                     (3, l.trade_mkt_dpto_c, l.trade_c,
                      CASE WHEN l.trade_c IS NULL THEN l.ausente_trade_mkt ELSE l.ausente_lancamento END)
             ) AS f(k, c, outro_c, ausente)
        CROSS JOIN LATERAL (
            SELECT l.categoria IN ('ilegivel', 'extremo') AND l.campo_anomalo = f.k AS anomalo,
                   CASE WHEN l.categoria = 'extremo' AND l.campo_anomalo = f.k
                        THEN CASE WHEN l.d3 >> 31 = 0 THEN -coalesce(f.c, 150000)
                                  -- A decimal point lost while typing: 100 times the amount.
                                  WHEN coalesce(f.c, 0) * 100 > 10000000 THEN f.c * 100
                                  ELSE 25000000 END
                        ELSE f.c
                   END AS c
        ) AS e
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN e.anomalo THEN CASE WHEN l.d3 >> 31 = 0 THEN mod(l.d4, 2) ELSE mod(l.d4, 3) END
                WHEN l.com_ruido AND l.campo_ruido = f.k
                    THEN CASE WHEN f.c IS NOT NULL THEN 1 + (((l.e2 >> 2) * 6) >> 30)
                              ELSE (ARRAY[1, 3, 4, 5, 6])[1 + (((l.e2 >> 2) * 5) >> 30)] END
                -- A 'NaN' trade comes with '0' or '' on the other side, as in production.
                WHEN l.com_ruido AND f.k IN (1, 3) AND l.campo_ruido = 4 - f.k
                     AND f.c IS NULL AND f.outro_c IS NULL
                    THEN CASE WHEN mod(l.e4, 2) = 0 THEN 2 ELSE 1 END
                WHEN f.c IS NULL THEN f.ausente
                ELSE 0
            END AS forma,
            (e.c::numeric / 100)::numeric(16, 2)::text AS ponto,
            CASE WHEN e.c < 0 THEN '-' ELSE '' END
                || replace(to_char(abs(e.c) / 100, 'FM999,999,999,990'), ',', '.')
                || ',' || lpad(mod(abs(e.c), 100)::text, 2, '0') AS virgula
        ) AS fm
        CROSS JOIN LATERAL (
            SELECT CASE
                WHEN l.categoria = 'ilegivel' AND e.anomalo
                    THEN (ARRAY['abc', '12,34,56', '1.2.3', 'R$ 12a', '--5', '1e5', 'R$'])
                         [1 + ((l.d3 * 7) >> 32)]
                WHEN e.c IS NULL THEN (ARRAY['0.00', '', '0', 'NaN', 'nan', 'None', 'null'])[fm.forma + 1]
                WHEN fm.forma = 1 THEN fm.virgula
                WHEN fm.forma = 2 THEN 'R$ ' || fm.virgula
                WHEN fm.forma = 3 THEN 'R$ ' || fm.ponto
                -- How pandas writes a float: 17000.0, 17000.5.
                WHEN fm.forma = 4 THEN CASE
                    WHEN mod(e.c, 100) = 0 THEN (e.c / 100)::text || '.0'
                    WHEN mod(e.c, 10) = 0 THEN (e.c / 100)::text || '.' || (mod(e.c, 100) / 10)::text
                    ELSE fm.ponto END
                WHEN fm.forma = 5 THEN '  ' || fm.ponto || ' '
                WHEN fm.forma = 6 THEN replace(fm.ponto, '.', ',')
                ELSE fm.ponto
            END AS texto
        ) AS x
    ) AS t
),
novas_vendas AS (
    INSERT INTO byd.vendas (idnfsexterno, dta_processamento, data_final_venda, des_modelo, chassi, revenda)
    SELECT idnfsexterno, dta_processamento, data_final_venda, des_modelo, chassi, revenda FROM linhas
    ON CONFLICT (idnfsexterno) DO NOTHING
),
novos_incentivos AS (
    INSERT INTO byd.incentivos (idnfsexterno, valor_bonus, trade, bonus_utilizado)
    SELECT idnfsexterno, valor_bonus, trade, bonus_utilizado FROM linhas
    ON CONFLICT (idnfsexterno) DO NOTHING
)
INSERT INTO byd.controladoria (idnfsexterno, bonus_dpto, trade_mkt_dpto)
SELECT idnfsexterno, bonus_dpto, trade_mkt_dpto FROM linhas
ON CONFLICT (idnfsexterno) DO NOTHING;
