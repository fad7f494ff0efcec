-- 020: the rule catalog. Each rule of contract §5 is declared once, here: code, fields,
-- confidence, correctable or not, pt-BR label and description, and its predicate.
-- Detection (audit.avaliar_regras), apply, the per-rule summary, the email, the CSV, the
-- review screen and the bench all read this table; adding a rule is one row and its tests.
--
-- A predicate (condicao) is a boolean SQL expression judging one field of one sale, over:
--   f.texto, f.valor, f.invalido     the field's text, its reading (numeric), unreadable?
--   f.referencia, f.referencia_texto, f.referencia_invalida
--                                    the same for campo_referencia (the value it must match)
--   v.apontamento, v.bonus_utilizado  the sale's other columns the rules read (the allow-list
--                                    of avaliar_regras; a rule reading another column adds it there)
--   cfg.tolerancia_valor, cfg.limite_outlier   thresholds, validated (never NULL)
-- sugestao is the suggested value (NULL: the rule suggests none), regra the name recorded in
-- regras_aplicadas. These expressions are code, written by migrations like this one; only
-- the schema owner can change them.
CREATE TABLE IF NOT EXISTS audit.regras_divergencia (
    codigo            varchar(100) PRIMARY KEY,
    rotulo            text         NOT NULL,
    descricao         text         NOT NULL,
    campos            text[]       NOT NULL CHECK (cardinality(campos) > 0),
    campo_referencia  text,
    confidence_score  numeric(3,2) NOT NULL CHECK (confidence_score BETWEEN 0 AND 1),
    corrigivel        boolean      NOT NULL,
    condicao          text         NOT NULL,
    sugestao          text,
    regra             text         NOT NULL,
    ordem             integer      NOT NULL,
    ativo             boolean      NOT NULL DEFAULT true,
    CHECK (NOT corrigivel OR sugestao IS NOT NULL)
);
COMMENT ON TABLE audit.regras_divergencia IS
    'Catálogo das regras de divergência: a única definição de cada regra (contrato §5).';

INSERT INTO audit.regras_divergencia
       (codigo, rotulo, descricao, campos, campo_referencia, confidence_score, corrigivel, condicao, sugestao,
        regra, ordem)
VALUES
    ('TRADE_MARKETING_BONUS', 'Bônus contabilizado diferente do registrado',
     'Apontamento "Revisar Divergência!" e bonus_dpto difere de valor_bonus além da tolerância (vazio vale 0).',
     '{bonus_dpto}', 'valor_bonus', 0.95, true,
     $c$v.apontamento = 'Revisar Divergência!' AND NOT f.invalido AND NOT f.referencia_invalida
        AND abs(coalesce(f.valor, 0) - coalesce(f.referencia, 0)) > cfg.tolerancia_valor$c$,
     'coalesce(f.referencia, 0.00)', $r$'TRADE_MARKETING_BONUS'$r$, 1),
    ('TRADE_MARKETING_TRADE', 'Trade marketing contabilizado diferente do registrado',
     'Apontamento "Revisar Divergência!" e trade_mkt_dpto difere de trade além da tolerância (vazio vale 0).',
     '{trade_mkt_dpto}', 'trade', 0.95, true,
     $c$v.apontamento = 'Revisar Divergência!' AND NOT f.invalido AND NOT f.referencia_invalida
        AND abs(coalesce(f.valor, 0) - coalesce(f.referencia, 0)) > cfg.tolerancia_valor$c$,
     'coalesce(f.referencia, 0.00)', $r$'TRADE_MARKETING_TRADE'$r$, 2),
    ('PENDENTE_VERIFICACAO', 'Bônus pendente de verificação',
     'bonus_utilizado = "PENDENTE VERIFICACAO": o uso do bônus precisa ser confirmado por uma pessoa.',
     '{bonus_utilizado}', NULL, 0.50, false,
     $c$btrim(f.texto) = 'PENDENTE VERIFICACAO'$c$, NULL, $r$'PENDENTE_VERIFICACAO'$r$, 3),
    ('VALIDACAO_VALOR', 'Valor negativo ou fora do limite',
     'Valor menor que zero (VALOR_NEGATIVO) ou acima de limite_outlier (VALOR_OUTLIER), por campo.',
     '{valor_bonus,trade,bonus_dpto,trade_mkt_dpto}', NULL, 0.70, false,
     'f.valor < 0 OR f.valor > cfg.limite_outlier', NULL,
     $r$CASE WHEN f.valor < 0 THEN 'VALOR_NEGATIVO' ELSE 'VALOR_OUTLIER' END$r$, 4),
    ('VALOR_INVALIDO', 'Valor ilegível',
     'Texto não vazio que não é um valor monetário legível, por campo.',
     '{valor_bonus,trade,bonus_dpto,trade_mkt_dpto}', NULL, 1.00, false,
     'f.invalido', NULL, $r$'VALOR_INVALIDO'$r$, 5)
ON CONFLICT (codigo) DO NOTHING;

-- A rule's expression written for field `campo`: f.* become that field's columns of the
-- parsed sale row v (see avaliar_regras). Names come from the allow-lists checked there.
CREATE OR REPLACE FUNCTION audit.expressao_regra(expressao text, campo text, referencia text, monetario boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
           regexp_replace(
               expressao,
               -- a threshold is read once per statement (an InitPlan), not joined to every row
               '\mcfg\.([a-z_]+)\M', '(SELECT p.\1 FROM parametros_deteccao p)', 'g'),
               '\mf\.referencia_invalida\M', coalesce(quote_ident('i_' || referencia), 'false'), 'g'),
               '\mf\.referencia_texto\M', coalesce(quote_ident(referencia), 'NULL::text'), 'g'),
               '\mf\.referencia\M', coalesce(quote_ident('n_' || referencia), 'NULL::numeric'), 'g'),
               '\mf\.invalido\M', CASE WHEN monetario THEN quote_ident('i_' || campo) ELSE 'false' END, 'g'),
               '\mf\.valor\M', CASE WHEN monetario THEN quote_ident('n_' || campo) ELSE 'NULL::numeric' END, 'g'),
               '\mf\.texto\M', quote_ident(campo), 'g')
$$;

-- Evaluates every active rule over the period [p_data_inicio, p_data_fim] and over the
-- sales of every open divergence, in one scan of byd.bonus_view that reads each money text
-- once. Thresholds come from the temp table parametros_deteccao (one row, validated).
-- Leaves three temp tables for the rest of the detection step:
--   vendas_lidas       the view rows on which some rule fires or that carry an open divergence;
--   regras_disparadas  one row per (view row, rule, field) that fires;
--   contexto_vendas    per sale where something fired: its context and its versions.
CREATE OR REPLACE FUNCTION audit.avaliar_regras(p_data_inicio date, p_data_fim date) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    campos_monetarios constant text[] := ARRAY['valor_bonus', 'trade', 'bonus_dpto', 'trade_mkt_dpto'];
    campos_permitidos constant text[] := campos_monetarios || ARRAY['bonus_utilizado', 'apontamento'];
    regra record;
    campo text;
    monetario boolean;
    condicao text;
    condicoes text[] := '{}';
    linhas text[] := '{}';
BEGIN
    FOR regra IN SELECT * FROM audit.regras_divergencia WHERE ativo ORDER BY ordem, codigo LOOP
        IF regra.campo_referencia IS NOT NULL AND NOT regra.campo_referencia = ANY (campos_monetarios) THEN
            RAISE EXCEPTION 'regra %: campo_referencia % não é um campo monetário (permitidos: %)',
                regra.codigo, regra.campo_referencia, array_to_string(campos_monetarios, ', ');
        END IF;
        FOREACH campo IN ARRAY regra.campos LOOP
            IF NOT campo = ANY (campos_permitidos) THEN
                RAISE EXCEPTION 'regra %: campo % não é lido pelas regras (permitidos: %)',
                    regra.codigo, campo, array_to_string(campos_permitidos, ', ');
            END IF;
            monetario := campo = ANY (campos_monetarios);
            condicao := '(' || audit.expressao_regra(regra.condicao, campo, regra.campo_referencia, monetario) || ')';
            condicoes := condicoes || condicao;
            linhas := linhas || format('(%L, %L, %s::text, %s::numeric, %s::numeric, %s::text, %s::text, %s)',
                regra.codigo, campo, quote_ident(campo),
                CASE WHEN monetario THEN quote_ident('n_' || campo) ELSE 'NULL' END,
                audit.expressao_regra(coalesce(regra.sugestao, 'NULL'), campo, regra.campo_referencia, monetario),
                audit.expressao_regra(regra.regra, campo, regra.campo_referencia, monetario),
                coalesce(quote_ident(regra.campo_referencia), 'NULL'),
                condicao);
        END LOOP;
    END LOOP;
    IF cardinality(linhas) = 0 THEN
        RAISE EXCEPTION 'nenhuma regra ativa em audit.regras_divergencia: nada a detectar';
    END IF;

    -- The inner query reads each money text once (OFFSET 0 keeps the planner from
    -- copying the reading into every predicate that uses it); the rule predicates then
    -- keep only the rows where something fires.
    EXECUTE format($q$
        CREATE TEMP TABLE vendas_lidas ON COMMIT DROP AS
        SELECT v.*
          FROM (SELECT p.*, %1$s
                  FROM (SELECT x.idnfsexterno::text AS idnfsexterno, x.dta_processamento,
                               x.bonus_utilizado::text AS bonus_utilizado, x.apontamento::text AS apontamento,
                               x.valor_bonus::text AS valor_bonus, x.trade::text AS trade,
                               x.bonus_dpto::text AS bonus_dpto, x.trade_mkt_dpto::text AS trade_mkt_dpto,
                               (x.dta_processamento >= $1 AND x.dta_processamento < $2 + 1) IS TRUE AS no_periodo,
                               %2$s
                          FROM byd.bonus_view x
                         WHERE (x.dta_processamento >= $1 AND x.dta_processamento < $2 + 1)
                            OR x.idnfsexterno::text IN (SELECT d.idnfsexterno FROM audit.divergencias_processadas d
                                                         WHERE d.status_processamento = 'DETECTED')
                        OFFSET 0) AS p) AS v
         WHERE NOT v.no_periodo
            OR v.idnfsexterno IN (SELECT d.idnfsexterno FROM audit.divergencias_processadas d
                                   WHERE d.status_processamento = 'DETECTED')
            OR %3$s
        $q$,
        (SELECT string_agg(format('(p.%1$I IS NULL AND NOT audit.texto_monetario_vazio(p.%2$I)) AS %3$I',
                                  'n_' || c, c, 'i_' || c), ', ')
           FROM unnest(campos_monetarios) AS c),
        (SELECT string_agg(format('audit.ler_valor_monetario(x.%1$I::text) AS %2$I', c, 'n_' || c), ', ')
           FROM unnest(campos_monetarios) AS c),
        array_to_string(condicoes, E'\n            OR '))
    USING p_data_inicio, p_data_fim;

    EXECUTE format($q$
        CREATE TEMP TABLE regras_disparadas ON COMMIT DROP AS
        SELECT v.idnfsexterno, v.dta_processamento, v.apontamento, v.no_periodo, r.tipo_divergencia,
               r.campo_afetado, r.valor_original, r.valor_anterior, r.valor_sugerido, r.regra, r.valor_referencia
          FROM vendas_lidas v
         CROSS JOIN LATERAL (VALUES %1$s) AS r(tipo_divergencia, campo_afetado, valor_original, valor_anterior,
                                                valor_sugerido, regra, valor_referencia, dispara)
         WHERE r.dispara
        $q$,
        array_to_string(linhas, E',\n               '));

    -- The sales where something fired, read again by key: their context for the audit
    -- trail (read here rather than for every sale of the period), and how many different
    -- versions of the rules' columns the view returns for each. More than one (a join that
    -- duplicates) means which row is right is unknown, so nothing of that sale is applied.
    EXECUTE format($q$
        CREATE TEMP TABLE contexto_vendas ON COMMIT DROP AS
        SELECT x.idnfsexterno::text AS idnfsexterno, count(*) AS linhas, count(DISTINCT ROW(%s)) AS versoes,
               min(x.data_final_venda) AS data_final_venda, min(x.competencia::text) AS mes_origem,
               min(x.des_modelo::text) AS des_modelo, min(x.chassi::text) AS chassi,
               min(x.revenda::text) AS revenda
          FROM byd.bonus_view x
         WHERE x.idnfsexterno::text IN (SELECT r.idnfsexterno FROM regras_disparadas r)
         GROUP BY 1
        $q$,
        (SELECT string_agg(format('x.%I::text', c), ', ') FROM unnest(campos_permitidos) AS c));
END
$fn$;

-- The rows of a session, as the CSV, the email and the bench count them: the divergences it
-- recorded or changed, plus the whole open queue. Inlined by the planner where it is used.
CREATE OR REPLACE FUNCTION audit.divergencias_da_sessao(p_sessao_id integer)
RETURNS SETOF audit.divergencias_processadas LANGUAGE sql STABLE AS $$
    SELECT * FROM audit.divergencias_processadas d
     WHERE d.sessao_id = p_sessao_id
        OR d.sessao_alteracao_id = p_sessao_id
        OR d.status_processamento = 'DETECTED'
$$;
