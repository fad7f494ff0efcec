-- 021: detection after 020, cheaper. 020 is recorded in existing installs (its checksum), so
-- its functions are redefined here rather than edited. Measured at a million sales:
--   the scan             the rules are evaluated by the parallel workers that read and parse
--                        the view, and only the rows where one fires (31,000) reach the leader,
--                        instead of all 517,000 rows of the period, which the leader alone
--                        filtered. Two things kept the rules above the workers: the fence
--                        OFFSET 0 (see the scan below) and the thresholds, read from a
--                        temporary table, which workers cannot read; a threshold is now a
--                        parameter of the statement, which the planner folds into a constant.
--                        The function takes 2.0-2.2 s instead of 2.2-2.4 s: on two cores the
--                        gain is the hand-over of rows, as the leader filtered while the
--                        workers read. The leader only gathers (parallel_leader_participation
--                        off): scanning besides, it fell behind its workers on two cores, and
--                        the function took 2.3 to 3.7 s from run to run instead of a steady 2.3;
--   regras_disparadas    one SELECT per (rule, field) over the few rows the scan kept, instead
--                        of a VALUES list whose every row is computed for every sale (0.5 s);
--   contexto_vendas      read by key through the view without the rules' columns, so
--                        PostgreSQL can skip the view's joins that only feed them; the versions
--                        of the rules' columns are compared only for sales the view repeats
--                        (1.3 s: three index lookups per sale, for a check that is rarely > 1).

-- A rule's expression written for field `campo`, as in 020, except the thresholds: cfg.x is
-- ($3 ->> 'x')::numeric, $3 being the statement's parameter that carries them (jsonb).
CREATE OR REPLACE FUNCTION audit.expressao_regra(expressao text, campo text, referencia text, monetario boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
           regexp_replace(
               expressao,
               '\mcfg\.([a-z_]+)\M', '($3 ->> ''\1'')::numeric', 'g'),
               '\mf\.referencia_invalida\M', coalesce(quote_ident('i_' || referencia), 'false'), 'g'),
               '\mf\.referencia_texto\M', coalesce(quote_ident(referencia), 'NULL::text'), 'g'),
               '\mf\.referencia\M', coalesce(quote_ident('n_' || referencia), 'NULL::numeric'), 'g'),
               '\mf\.invalido\M', CASE WHEN monetario THEN quote_ident('i_' || campo) ELSE 'false' END, 'g'),
               '\mf\.valor\M', CASE WHEN monetario THEN quote_ident('n_' || campo) ELSE 'NULL::numeric' END, 'g'),
               '\mf\.texto\M', quote_ident(campo), 'g')
$$;

CREATE OR REPLACE FUNCTION audit.avaliar_regras(p_data_inicio date, p_data_fim date) RETURNS void
LANGUAGE plpgsql SET parallel_leader_participation = off AS $fn$
DECLARE
    campos_monetarios constant text[] := ARRAY['valor_bonus', 'trade', 'bonus_dpto', 'trade_mkt_dpto'];
    campos_permitidos constant text[] := campos_monetarios || ARRAY['bonus_utilizado', 'apontamento'];
    regra record;
    campo text;
    monetario boolean;
    condicao text;
    condicoes text[] := '{}';
    disparos text[] := '{}';
    -- the thresholds (one validated row, see detect_divergences.sql), $3 of both statements
    limiares jsonb;
    ausentes text;
BEGIN
    SELECT to_jsonb(p) INTO STRICT limiares FROM parametros_deteccao p;
    FOR regra IN SELECT * FROM audit.regras_divergencia WHERE ativo ORDER BY ordem, codigo LOOP
        IF regra.campo_referencia IS NOT NULL AND NOT regra.campo_referencia = ANY (campos_monetarios) THEN
            RAISE EXCEPTION 'regra %: campo_referencia % não é um campo monetário (permitidos: %)',
                regra.codigo, regra.campo_referencia, array_to_string(campos_monetarios, ', ');
        END IF;
        -- A threshold missing from the parameter would read NULL and the rule would never
        -- fire, silently: stop instead.
        SELECT string_agg(DISTINCT m[1], ', ') INTO ausentes
          FROM regexp_matches(concat_ws(' ', regra.condicao, regra.sugestao, regra.regra),
                              '\mcfg\.([a-z_]+)\M', 'g') AS m
         WHERE limiares ->> m[1] IS NULL;
        IF ausentes IS NOT NULL THEN
            RAISE EXCEPTION 'regra %: limite % não está entre os parâmetros da detecção (há: %)',
                regra.codigo, ausentes, (SELECT string_agg(k, ', ') FROM jsonb_object_keys(limiares) AS k);
        END IF;
        FOREACH campo IN ARRAY regra.campos LOOP
            IF NOT campo = ANY (campos_permitidos) THEN
                RAISE EXCEPTION 'regra %: campo % não é lido pelas regras (permitidos: %)',
                    regra.codigo, campo, array_to_string(campos_permitidos, ', ');
            END IF;
            monetario := campo = ANY (campos_monetarios);
            condicao := '(' || audit.expressao_regra(regra.condicao, campo, regra.campo_referencia, monetario) || ')';
            condicoes := condicoes || condicao;
            disparos := disparos || format(
                'SELECT v.idnfsexterno, v.dta_processamento, v.apontamento, v.no_periodo, %L::text, %L::text, '
                '%s::text, %s::numeric, %s::numeric, %s::text, %s::text FROM vendas_lidas v WHERE %s',
                regra.codigo, campo, quote_ident(campo),
                CASE WHEN monetario THEN quote_ident('n_' || campo) ELSE 'NULL' END,
                audit.expressao_regra(coalesce(regra.sugestao, 'NULL'), campo, regra.campo_referencia, monetario),
                audit.expressao_regra(regra.regra, campo, regra.campo_referencia, monetario),
                coalesce(quote_ident(regra.campo_referencia), 'NULL'),
                condicao);
        END LOOP;
    END LOOP;
    IF cardinality(disparos) = 0 THEN
        RAISE EXCEPTION 'nenhuma regra ativa em audit.regras_divergencia: nada a detectar';
    END IF;

    -- The inner query reads each money text once: OFFSET keeps the planner from copying the
    -- reading into every predicate that uses it. It is written '0', a bigint constant: an
    -- integer 0 reaches the planner as a cast to bigint, which it cannot prove is zero, so it
    -- would plan the rules above the parallel workers. The rule predicates then keep, in
    -- the workers, only the rows where something fires.
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
                        OFFSET '0') AS p) AS v
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
    USING p_data_inicio, p_data_fim, limiares;

    EXECUTE 'CREATE TEMP TABLE regras_disparadas (idnfsexterno, dta_processamento, apontamento, no_periodo, '
            'tipo_divergencia, campo_afetado, valor_original, valor_anterior, valor_sugerido, regra, '
            'valor_referencia) ON COMMIT DROP AS '
            || array_to_string(disparos, E'\nUNION ALL ')
    USING p_data_inicio, p_data_fim, limiares;

    -- The sales where something fired, read again by key: their context for the audit trail
    -- (read here rather than for every sale of the period) and how many rows the view
    -- returns for each.
    CREATE TEMP TABLE contexto_vendas ON COMMIT DROP AS
    SELECT x.idnfsexterno::text AS idnfsexterno, count(*) AS linhas, 1::bigint AS versoes,
           min(x.data_final_venda) AS data_final_venda, min(x.competencia::text) AS mes_origem,
           min(x.des_modelo::text) AS des_modelo, min(x.chassi::text) AS chassi,
           min(x.revenda::text) AS revenda
      FROM byd.bonus_view x
     WHERE x.idnfsexterno::text IN (SELECT r.idnfsexterno FROM regras_disparadas r)
     GROUP BY 1;

    -- A repeated sale whose rows differ in the rules' columns (a join that duplicates):
    -- which row is right is unknown, so nothing of that sale is applied.
    EXECUTE format($q$
        UPDATE contexto_vendas c
           SET versoes = r.versoes
          FROM (SELECT x.idnfsexterno::text AS idnfsexterno, count(DISTINCT ROW(%s)) AS versoes
                  FROM byd.bonus_view x
                 WHERE x.idnfsexterno::text IN (SELECT k.idnfsexterno FROM contexto_vendas k WHERE k.linhas > 1)
                 GROUP BY 1) AS r
         WHERE r.idnfsexterno = c.idnfsexterno
        $q$,
        (SELECT string_agg(format('x.%I::text', c), ', ') FROM unnest(campos_permitidos) AS c));
END
$fn$;
