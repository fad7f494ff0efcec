-- close_session (teardown: runs whatever failed before it): the session's final status
-- comes from the steps whose work committed. Data work done but report or email missing
-- is PARTIAL; data work missing is FAILED. Never left RUNNING. erros_encontrados is the
-- count of this outcome's failed steps: a cleared step that now worked no longer counts,
-- as after a retry that worked. Parameter: sessao_id.
SELECT audit.iniciar_etapa(limitar_espera => false);

-- A step whose worker was killed wrote no FAILED operation; its attempt, left behind, says so
-- now (migration 064). Its retry may have recorded it already; a live step's is left alone.
SELECT audit.encerrar_etapas_interrompidas(%(sessao_id)s);

UPDATE audit.sessoes_processamento s
   SET status = f.status,
       erros_encontrados = f.etapas_com_falha,
       fim_processamento = now(),
       duracao_total_segundos = round(extract(epoch FROM now() - s.inicio_processamento))::int,
       correcoes_pendentes = f.pendentes,
       resultado_geral = f.status || ': ' || s.divergencias_detectadas || ' novas, '
                         || s.correcoes_aplicadas || ' corrigidas, ' || f.pendentes || ' pendentes, '
                         || s.total_registros_analisados || ' vendas analisadas ('
                         || to_char(s.data_inicio, 'DD/MM/YYYY') || ' a ' || to_char(s.data_fim, 'DD/MM/YYYY') || ')'
  FROM (SELECT e.id,
               CASE WHEN e.etapas_concluidas @> ARRAY['detect_divergences', 'apply_corrections',
                                                      'export_csv', 'email_summary'] THEN 'COMPLETED'
                    WHEN e.etapas_concluidas @> ARRAY['detect_divergences', 'apply_corrections'] THEN 'PARTIAL'
                    ELSE 'FAILED' END AS status,
               -- A failed data step stops the ones after it, which never ran: one failure. The
               -- report and the email run whatever the other did: each missing one failed.
               CASE WHEN NOT e.etapas_concluidas @> ARRAY['detect_divergences', 'apply_corrections'] THEN 1
                    ELSE (SELECT count(*) FROM unnest(ARRAY['export_csv', 'email_summary']) AS etapa
                           WHERE etapa <> ALL (e.etapas_concluidas))::int
               END AS etapas_com_falha,
               (SELECT count(*) FROM audit.divergencias_processadas d
                 WHERE d.status_processamento = 'DETECTED')::int AS pendentes
          FROM audit.sessoes_processamento e
         WHERE e.id = %(sessao_id)s) AS f
 WHERE s.id = f.id
RETURNING s.status, s.resultado_geral
