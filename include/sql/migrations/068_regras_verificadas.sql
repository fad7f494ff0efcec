-- 068: every problem of a rule in the catalog (audit.regras_divergencia) stops detection
-- with a message that names the rule and what is wrong. An admin edits the catalog in
-- production; before this, avaliar_regras (045) let through:
--   an expression that does not compile (a typo, a non-boolean condicao, f.x or cfg.X it
--     does not know): the scan of all rules failed with PostgreSQL's own message, naming none;
--   a NULL in campos: the rule's SQL came out empty, a syntax error naming none;
--   a correctable rule on a field a correction does not write (valor_bonus, trade):
--     apply_corrections compared the field with trade_mkt_dpto's text and, when equal,
--     recorded AUTO_APPLIED with nothing written;
--   a correctable rule without campo_referencia: apply compares the suggestion with the
--     reference, so its divergences were never applied, each with a misleading reason;
--   a regra expression that gives NULL: findings recorded with regras_aplicadas {NULL};
--   a blank rotulo or descricao: the email's per-rule table showed an empty label.
-- Redefines audit.avaliar_regras (045) with those checks; the rest is 045's, settings restated.
--
-- Its allow-list of fields becomes audit.campos_das_regras(): detection reads it to tell a field
-- a rule stopped judging (an admin took it out of campos), whose open divergences no run
-- evaluates, from the old system's per-sale rows (campo_afetado 'valores_bonus' or none).

CREATE OR REPLACE FUNCTION audit.campos_das_regras() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['valor_bonus', 'trade', 'bonus_dpto', 'trade_mkt_dpto', 'bonus_utilizado', 'apontamento']
$$;

CREATE OR REPLACE FUNCTION audit.avaliar_regras(p_data_inicio date, p_data_fim date) RETURNS void
LANGUAGE plpgsql SET parallel_leader_participation = off SET min_parallel_table_scan_size = '512kB' AS $fn$
DECLARE
    campos_monetarios constant text[] := ARRAY['valor_bonus', 'trade', 'bonus_dpto', 'trade_mkt_dpto'];
    campos_permitidos constant text[] := audit.campos_das_regras();
    -- what a correction writes (audit.gravar_controladoria): the booked fields
    campos_gravaveis constant text[] := ARRAY['bonus_dpto', 'trade_mkt_dpto'];
    -- one row of NULLs shaped as vendas_lidas, to compile a rule's expressions against
    linha_vazia text;
    sugestao text;
    nome_regra text;
    testes text[];
    erro text;
    regra record;
    campo text;
    monetario boolean;
    condicao text;
    condicoes text[] := '{}';
    disparos text[] := '{}';
    -- the thresholds (one validated row, see detect_divergences.sql), $3 of both statements
    limiares jsonb;
    -- field -> the reference it is compared with, where the scan can take the reference's
    -- reading for an equal text (a reference is never itself read through another field)
    pares jsonb;
    ausentes text;
BEGIN
    SELECT to_jsonb(p) INTO STRICT limiares FROM parametros_deteccao p;
    SELECT 'SELECT NULL::text AS idnfsexterno, NULL::timestamp AS dta_processamento, NULL::text AS bonus_utilizado, '
           'NULL::text AS apontamento, NULL::boolean AS no_periodo, '
           || string_agg(format('NULL::text AS %I, NULL::numeric AS %I, NULL::boolean AS %I', c, 'n_' || c, 'i_' || c),
                         ', ')
      INTO linha_vazia
      FROM unnest(campos_monetarios) AS c;
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
        IF btrim(regra.rotulo) = '' OR btrim(regra.descricao) = '' THEN
            RAISE EXCEPTION 'regra %: rotulo ou descricao em branco (é o que o e-mail, a API e a página mostram)',
                regra.codigo;
        END IF;
        IF regra.corrigivel AND regra.campo_referencia IS NULL THEN
            RAISE EXCEPTION 'regra %: corrigível sem campo_referencia (a correção aplica o valor do campo de referência)',
                regra.codigo;
        END IF;
        FOREACH campo IN ARRAY regra.campos LOOP
            -- coalesce: a NULL in campos compares NULL, which IF reads as false
            IF NOT coalesce(campo = ANY (campos_permitidos), false) THEN
                RAISE EXCEPTION 'regra %: campo % não é lido pelas regras (permitidos: %)',
                    regra.codigo, campo, array_to_string(campos_permitidos, ', ');
            END IF;
            IF regra.corrigivel AND NOT campo = ANY (campos_gravaveis) THEN
                RAISE EXCEPTION 'regra %: corrigível, mas o campo % não é gravado por uma correção (graváveis: %)',
                    regra.codigo, campo, array_to_string(campos_gravaveis, ', ');
            END IF;
            monetario := campo = ANY (campos_monetarios);
            condicao := '(' || audit.expressao_regra(regra.condicao, campo, regra.campo_referencia, monetario) || ')';
            sugestao := audit.expressao_regra(coalesce(regra.sugestao, 'NULL'), campo, regra.campo_referencia, monetario);
            nome_regra := audit.expressao_regra(regra.regra, campo, regra.campo_referencia, monetario);
            -- Each expression compiled alone first: an error in one would otherwise surface
            -- from the scan of all rules, naming none. No row is read (WHERE false).
            testes := ARRAY[format('SELECT 1 FROM (%s) AS v WHERE false AND %s', linha_vazia, condicao),
                            format('SELECT (%s)::numeric FROM (%s) AS v WHERE false', sugestao, linha_vazia),
                            format('SELECT (%s)::text FROM (%s) AS v WHERE false', nome_regra, linha_vazia)];
            FOR i IN 1 .. 3 LOOP
                BEGIN
                    EXECUTE testes[i] USING p_data_inicio, p_data_fim, limiares;
                EXCEPTION WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS erro = MESSAGE_TEXT;
                    RAISE EXCEPTION 'regra %: % inválida para o campo %: %',
                        regra.codigo, (ARRAY['condicao', 'sugestao', 'regra'])[i], campo, erro;
                END;
            END LOOP;
            condicoes := condicoes || condicao;
            disparos := disparos || format(
                'SELECT v.idnfsexterno, v.dta_processamento, v.apontamento, v.no_periodo, %L::text, %L::text, '
                '%s::text, %s::numeric, %s::numeric, %s::text, %s::text FROM vendas_lidas v WHERE %s',
                regra.codigo, campo, quote_ident(campo),
                CASE WHEN monetario THEN quote_ident('n_' || campo) ELSE 'NULL' END,
                sugestao, nome_regra,
                coalesce(quote_ident(regra.campo_referencia), 'NULL'),
                condicao);
        END LOOP;
    END LOOP;
    SELECT coalesce(jsonb_object_agg(campo_par, referencia), '{}') INTO pares
      FROM (SELECT DISTINCT ON (c) c AS campo_par, r.campo_referencia AS referencia
              FROM audit.regras_divergencia r, unnest(r.campos) AS c
             WHERE r.ativo AND c = ANY (campos_monetarios) AND r.campo_referencia <> c
               AND NOT c IN (SELECT q.campo_referencia FROM audit.regras_divergencia q
                              WHERE q.ativo AND q.campo_referencia IS NOT NULL)
               AND NOT r.campo_referencia IN (SELECT unnest(q.campos) FROM audit.regras_divergencia q
                                               WHERE q.ativo AND q.campo_referencia IS NOT NULL)
             ORDER BY c, r.ordem, r.codigo) AS pares_validos;

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
          FROM (SELECT p.idnfsexterno, p.dta_processamento, p.bonus_utilizado, p.apontamento,
                       p.valor_bonus, p.trade, p.bonus_dpto, p.trade_mkt_dpto, p.no_periodo, %1$s
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
        -- above the fence: the reading of each field, and whether its text is unreadable
        (SELECT string_agg(format('%1$s AS %2$I, (%1$s IS NULL AND NOT audit.texto_monetario_vazio(p.%3$I)) AS %4$I',
                                  CASE WHEN pares ? c
                                       THEN format('(CASE WHEN p.%1$I COLLATE "C" = p.%2$I COLLATE "C" THEN p.%3$I ELSE p.%4$I END)',
                                                   c, pares ->> c, 'n_' || (pares ->> c), 'l_' || c)
                                       ELSE format('p.%I', 'n_' || c) END,
                                  'n_' || c, c, 'i_' || c), ', ')
           FROM unnest(campos_monetarios) AS c),
        -- below it, parsed once: a reference always, a field compared with one only when its
        -- text differs (l_: its own reading, NULL where the reference's is taken)
        (SELECT string_agg(CASE WHEN pares ? c
                                THEN format('CASE WHEN x.%1$I::text COLLATE "C" = x.%2$I::text COLLATE "C" THEN NULL '
                                            'ELSE audit.ler_valor_monetario(x.%1$I::text) END AS %3$I',
                                            c, pares ->> c, 'l_' || c)
                                ELSE format('audit.ler_valor_monetario(x.%1$I::text) AS %2$I', c, 'n_' || c) END, ', ')
           FROM unnest(campos_monetarios) AS c),
        array_to_string(condicoes, E'\n            OR '))
    USING p_data_inicio, p_data_fim, limiares;

    EXECUTE 'CREATE TEMP TABLE regras_disparadas (idnfsexterno, dta_processamento, apontamento, no_periodo, '
            'tipo_divergencia, campo_afetado, valor_original, valor_anterior, valor_sugerido, regra, '
            'valor_referencia) ON COMMIT DROP AS '
            || array_to_string(disparos, E'\nUNION ALL ')
    USING p_data_inicio, p_data_fim, limiares;

    -- regra names what fired in regras_aplicadas: a NULL there would record a finding
    -- without saying which check found it.
    SELECT format('regra %s: a expressão regra deu NULL para a venda %s, campo %s', r.tipo_divergencia,
                  r.idnfsexterno, r.campo_afetado)
      INTO erro
      FROM regras_disparadas r
     WHERE r.regra IS NULL
     LIMIT 1;
    IF erro IS NOT NULL THEN
        RAISE EXCEPTION '%', erro;
    END IF;

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
