-- email_summary: who was notified; the step counts as done (also when skipped).
-- Parameters: sessao_id, destinatarios (text[]), enviado (boolean).
UPDATE audit.sessoes_processamento
   SET alertas_enviados = %(enviado)s,
       destinatarios_notificados = %(destinatarios)s,
       etapas_concluidas = array_append(array_remove(etapas_concluidas, 'email_summary'), 'email_summary')
 WHERE id = %(sessao_id)s
