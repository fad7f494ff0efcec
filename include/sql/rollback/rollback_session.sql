-- rollback_session: undoes every correction session %(sessao_id)s applied (a run's
-- BULK_UPDATE, or the APPROVE operation of a manual approval's session), in one
-- transaction. Each field gets back its valor_original byte for byte; a field changed
-- since the correction, or corrected again by a later operation, is left alone and reported
-- as a conflict; value checks the correction had closed are reopened. One ROLLBACK operation per
-- undone operation (rollback_de), which becomes ROLLED_BACK; when every field is a conflict, one
-- ROLLBACK operation of 0 rows records the attempt. A second run finds nothing left to undo and
-- writes nothing. Parameters: sessao_id, motivo, usuario.

SELECT audit.iniciar_etapa(serializada => true);

-- Checked again here, in the data steps' turn: a run that reopened the session since the
-- request was checked may not have applied yet (undone now, applied right after).
SELECT audit.verificar_sessao_parada(%(sessao_id)s);

-- What the session wrote, field by field, as its operations recorded it. An operation a
-- rollback already marked ROLLED_BACK may still have fields applied (they conflicted then,
-- e.g. corrected again later): once the conflict is gone, they are undone like the others.
CREATE TEMP TABLE escritos ON COMMIT DROP AS
SELECT o.id AS operacao_id, e.divergencia_id, e.valor AS valor_escrito
  FROM audit.operacoes o
 CROSS JOIN LATERAL jsonb_to_recordset(o.dados_posteriores) AS e(divergencia_id integer, valor text)
 WHERE o.sessao_id = %(sessao_id)s
   AND o.tipo_operacao IN ('BULK_UPDATE', 'APPROVE')
   AND o.status IN ('SUCCESS', 'ROLLED_BACK');

SELECT count(*) FROM (
    SELECT 1 FROM byd.controladoria c
     WHERE c.idnfsexterno IN (SELECT d.idnfsexterno FROM audit.divergencias_processadas d
                               JOIN escritos e ON e.divergencia_id = d.id)
       FOR UPDATE
) AS travadas;

-- Each correction of the session still applied, with the text it wrote as the column stores
-- it: a numeric(15,3) column holds '7000.00' as 7000.000, which is no change by anybody.
CREATE TEMP TABLE aplicadas ON COMMIT DROP AS
SELECT d.id AS divergencia_id, d.idnfsexterno, d.campo_afetado, d.valor_original, e.valor_escrito, e.operacao_id,
       CASE d.campo_afetado
           WHEN 'bonus_dpto'
               THEN (jsonb_populate_record(NULL::byd.controladoria,
                         jsonb_build_object('bonus_dpto', e.valor_escrito))).bonus_dpto::text
           ELSE (jsonb_populate_record(NULL::byd.controladoria,
                     jsonb_build_object('trade_mkt_dpto', e.valor_escrito))).trade_mkt_dpto::text
       END AS texto_escrito
  FROM audit.divergencias_processadas d
  JOIN escritos e ON e.divergencia_id = d.id
 WHERE d.status_processamento IN ('AUTO_APPLIED', 'APPROVED');

-- A field the session corrected more than once (a cleared run that detected and applied
-- again) is undone as a whole, newest correction first: it gets back what the earliest one
-- found. A correction is undone only when nothing came between it and the session's next
-- correction of the field (or the field's current text): neither an edit (the next one found
-- another text than this one wrote) nor another operation's correction. The same text again
-- is no proof that nobody wrote since: a later correction may have put it back, and undoing
-- this one would silently undo that one too. Whatever came in between keeps this correction
-- and the session's earlier ones of the field as conflicts.
CREATE TEMP TABLE cadeias ON COMMIT DROP AS
SELECT a.*,
       bool_or(a.editado_depois) OVER posteriores AS editado,
       bool_or(a.corrigido_depois) OVER posteriores AS corrigido,
       last_value(a.texto_escrito) OVER campo_inteiro AS texto_final,
       last_value(a.valor_escrito) OVER campo_inteiro AS valor_final
  FROM (SELECT a.*,
               lead(a.valor_original) OVER campo IS DISTINCT FROM a.texto_escrito
                   AND lead(a.divergencia_id) OVER campo IS NOT NULL AS editado_depois,
               EXISTS (SELECT 1 FROM audit.divergencias_processadas p
                        WHERE p.idnfsexterno = a.idnfsexterno
                          AND p.campo_afetado = a.campo_afetado
                          AND p.status_processamento IN ('AUTO_APPLIED', 'APPROVED')
                          AND p.operacao_id > a.operacao_id
                          AND p.id NOT IN (SELECT s.divergencia_id FROM aplicadas s)) AS corrigido_depois
          FROM aplicadas a
        WINDOW campo AS (PARTITION BY a.idnfsexterno, a.campo_afetado ORDER BY a.operacao_id, a.divergencia_id)) AS a
WINDOW posteriores AS (PARTITION BY a.idnfsexterno, a.campo_afetado ORDER BY a.operacao_id DESC, a.divergencia_id DESC),
       campo_inteiro AS (PARTITION BY a.idnfsexterno, a.campo_afetado ORDER BY a.operacao_id, a.divergencia_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING);

CREATE TEMP TABLE desfazer ON COMMIT DROP AS
SELECT u.divergencia_id, u.idnfsexterno, u.campo_afetado, u.valor_original, u.valor_escrito, u.operacao_id,
       u.valor_final,
       first_value(u.valor_original) OVER (PARTITION BY u.idnfsexterno, u.campo_afetado, u.editado OR u.corrigido
                                           ORDER BY u.operacao_id, u.divergencia_id) AS valor_restaurado,
       CASE
           WHEN NOT EXISTS (SELECT 1 FROM byd.controladoria c WHERE c.idnfsexterno = u.idnfsexterno)
               THEN 'lançamento não existe mais em byd.controladoria'
           WHEN EXISTS (SELECT 1 FROM byd.controladoria c
                         WHERE c.idnfsexterno = u.idnfsexterno
                           AND CASE u.campo_afetado WHEN 'bonus_dpto' THEN c.bonus_dpto::text
                                                    ELSE c.trade_mkt_dpto::text END
                               IS DISTINCT FROM u.texto_final)
               THEN 'campo alterado depois da correção: valor atual preservado'
           WHEN u.corrigido
               THEN 'campo corrigido de novo depois desta correção: desfaça antes a correção posterior'
           WHEN u.editado
               THEN 'campo alterado depois da correção: valor atual preservado'
       END AS conflito
  FROM cadeias u;

-- One ROLLBACK operation per operation undone. Corrections still applied but every one a
-- conflict: nothing is undone, yet the attempt (who, when, why, its conflicts) is recorded as
-- one ROLLBACK operation of 0 rows that undoes no operation (rollback_de NULL), so none becomes
-- ROLLED_BACK. Nothing left applied at all (a session already undone, or one that corrected
-- nothing) records nothing.
CREATE TEMP TABLE operacoes_rollback ON COMMIT DROP AS
SELECT a.desfeita_id, a.registros,
       audit.iniciar_operacao('ROLLBACK', 'Rollback da sessão ' || %(sessao_id)s::text || ': ' || %(motivo)s,
                              %(usuario)s, 'MANUAL', 'byd.controladoria', NULL,
                              jsonb_build_object('sessao_id', %(sessao_id)s::int)) AS id
  FROM (SELECT operacao_id AS desfeita_id, count(*)::int AS registros
          FROM desfazer
         WHERE conflito IS NULL
         GROUP BY operacao_id
        UNION ALL
        SELECT NULL, 0
         WHERE EXISTS (SELECT 1 FROM desfazer)
           AND NOT EXISTS (SELECT 1 FROM desfazer WHERE conflito IS NULL)) AS a;

UPDATE audit.operacoes o
   SET rollback_de = r.desfeita_id,
       registros_afetados = r.registros,
       metadata = jsonb_build_object('motivo', %(motivo)s::text,
                                     'conflitos', c.total,
                                     'campos_em_conflito', c.campos)
  FROM (SELECT count(*) AS total,
               -- Which fields were left alone and why, on every operation of the attempt: the
               -- email lists at most 100, and an auditor reads the tables, not the email.
               coalesce(jsonb_agg(jsonb_build_object('divergencia_id', divergencia_id, 'idnfsexterno', idnfsexterno,
                                                     'campo', campo_afetado, 'valor_escrito', valor_escrito,
                                                     'motivo', conflito)
                                  ORDER BY divergencia_id), '[]'::jsonb) AS campos
          FROM desfazer WHERE conflito IS NOT NULL) AS c,
       operacoes_rollback r
 WHERE o.id = r.id;

-- The write, with its before/after record on each ROLLBACK operation.
CREATE TEMP TABLE escritas_controladoria ON COMMIT DROP AS
SELECT r.id AS operacao_id, u.divergencia_id, u.idnfsexterno, u.campo_afetado,
       u.valor_final AS valor_anterior, u.valor_restaurado AS valor
  FROM desfazer u JOIN operacoes_rollback r ON r.desfeita_id = u.operacao_id
 WHERE u.conflito IS NULL;

SELECT audit.gravar_controladoria();

UPDATE audit.divergencias_processadas d
   SET status_processamento = 'ROLLED_BACK',
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = r.id,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb)
                           || jsonb_build_object('motivo_rollback', %(motivo)s::text)
  FROM desfazer u
  JOIN operacoes_rollback r ON r.desfeita_id = u.operacao_id
 WHERE d.id = u.divergencia_id
   AND u.conflito IS NULL;

-- The value checks an undone correction had closed (they point at its operation) hold again
-- once the old text is back: reopened, unless a run has recorded them again meanwhile.
UPDATE audit.divergencias_processadas d
   SET status_processamento = 'DETECTED',
       processado_em = NULL,
       processado_por = %(usuario)s,
       operacao_id = r.id,
       dados_contextuais = (coalesce(d.dados_contextuais, '{}'::jsonb) - 'motivo_resolucao')
                           || jsonb_build_object('motivo_reabertura',
                                                 'correção do campo desfeita pelo rollback: ' || %(motivo)s::text)
  FROM desfazer u
  JOIN operacoes_rollback r ON r.desfeita_id = u.operacao_id
 WHERE u.conflito IS NULL
   AND d.operacao_id = u.operacao_id
   AND d.status_processamento = 'RESOLVED'
   AND d.idnfsexterno = u.idnfsexterno
   AND d.campo_afetado = u.campo_afetado
   AND NOT EXISTS (SELECT 1 FROM audit.divergencias_processadas o
                    WHERE o.status_processamento = 'DETECTED'
                      AND o.idnfsexterno = d.idnfsexterno
                      AND o.tipo_divergencia = d.tipo_divergencia
                      AND o.campo_afetado = d.campo_afetado);

SELECT audit.finalizar_operacao(id, 'SUCCESS', NULL) FROM operacoes_rollback;

UPDATE audit.operacoes o
   SET status = 'ROLLED_BACK'
  FROM operacoes_rollback r
 WHERE o.id = r.desfeita_id
   AND o.status = 'SUCCESS';

-- What the confirmation email reports (lists capped: the audit tables hold everything).
SELECT (SELECT count(*) FROM desfazer WHERE conflito IS NULL) AS desfeitas,
       (SELECT count(*) FROM desfazer WHERE conflito IS NOT NULL) AS total_conflitos,
       (SELECT coalesce(jsonb_agg(x), '[]'::jsonb)::text
          FROM (SELECT idnfsexterno, campo_afetado AS campo, valor_original, conflito AS motivo
                  FROM desfazer WHERE conflito IS NOT NULL ORDER BY divergencia_id LIMIT 100) AS x) AS conflitos,
       (SELECT coalesce(jsonb_agg(x), '[]'::jsonb)::text
          FROM (SELECT idnfsexterno, campo_afetado AS campo, valor_escrito AS valor_desfeito,
                       valor_original AS valor_restaurado
                  FROM desfazer WHERE conflito IS NULL ORDER BY divergencia_id LIMIT 100) AS x) AS restaurados
