"""Released migrations never change: their checksums are recorded in users' databases, and
the runner stops every run of a database whose recorded file differs (MigrationChanged).
A change goes into a new file; a file joins this list when it first lands on main."""

from __future__ import annotations

from divergencias.migrations import MIGRATIONS_DIR, checksum

RELEASED = {
    "000_adocao_esquema_antigo.sql": "900fb588f64e5f0e4bbbeff9f881a4ef2836de0a8373be7e5a8d6b4273a6b305",
    "001_audit_base.sql": "152f93efef3c9c7a3a59620a76041d5af42f60852ae24d7037f9f4bc2432a353",
    "002_contract_columns.sql": "20be6c8cc0523059715d5803cbb65d9ec18c40f0bb8c7152bd0909a8ec6acf02",
    "003_configuracoes_padrao.sql": "449e83fc223a60fb11e9f462702af80c7a37b29c513affcddd113e851e85c264",
    "004_views.sql": "6dc060f2ca9ba19fa54df529cc3096e64de838c0c0e196ffed1bb0cf9ff85ab4",
    "005_trilha_auditoria.sql": "6fd96ff70dd7dacd2290df9ccaaecaf825f835e921e9384b002a15367dbf67d3",
    "006_gravar_controladoria.sql": "ee6822e2356aa33d1e0ed086190bf6662bcc1dfb89f7ca597bacb7a77fc4c33e",
    "007_historico_sem_fk.sql": "64818ea2ad89faa8f51927f2d30da9ee129d48c762f4de898f4456ee987346b4",
    "008_gravar_registra_operacao.sql": "ce65feb495db30e3000ae64604d798009d925c4cb17d0e2c864e2b38b59e3102",
    "009_compatibilidade_esquema_antigo.sql": "ca53b38b42347e55ae36581fdfc9c706ebc1473f0cb5b15d4bb8ee0e33a9a2bd",
    "010_configuracao_obrigatoria.sql": "0920d6ac0246bda01b46409b53b91b224d356c08e2d5dd2d3ca10e72ef166ce8",
    "011_etapas_auditadas.sql": "257232889aab19bf2ad5e39733f7736fd0f61cae008a677cbb0324c2678bdc73",
    "012_decisao_mantida.sql": "4551657dfc9bf6cf06ce8c3f91f55130cf1e189e3278cfc7c17e2e9cdc576815",
    "013_indices_caminho_quente.sql": "0ad38c7a238c8e3d4edf2d0e8d9d231f19e270fb36fd0f631e429c4f339fccdf",
    "020_regras_divergencia.sql": "996da806d5cadc3640714092a77c5cf72bd08641a52b454e3207992e926718b2",
    "021_deteccao_por_regra.sql": "5f89391d0c2f7b10b61953f7bc7e75a9eb5c9a753aebe878f6733fbee2bcea2b",
    "022_escrita_divergencias.sql": "2cc393e5d472a9d53d19372df565650f5f81c4eea0e4b9f1003b1c793a5b68ec",
    "023_leitura_monetaria_rapida.sql": "982e76485561cea2243a3bd971259207d2aeed7252243653e827a155f0f536cf",
    "024_varredura_paralela.sql": "2c49d708fa9d82e501ba0b73e127b00eedfaceba91863d454316812751352eb2",
    "030_aprovacoes.sql": "43e2b9053c4f988b74e61498d993e1d719a3aac99cbdce2c52bd8b2246fc2449",
    "031_aprovacao_segura.sql": "f8d1423d3dec71d361bf4c956036ff65ee4b13647f0aea4ea7b015c70bd0d537",
    "032_resolucao_em_massa.sql": "b191b540b5b76fb3f8a7c257ea72779f6122ad0aee1aab4f1495ac23e1215e90",
    "035_configuracao_legivel.sql": "41e2def278d4ea3a088de51b43465df9dff46b9e98c428612320b1f383c667c1",
    "036_leitura_monetaria_colacao.sql": "0dbba72e0ed03712676e167a63744aebd16d3ff5c1d1f522097db927dcbf42ad",
    "039_leitura_das_visoes_antigas.sql": "37b4ac7f9622f1ba3144c18cc1daf684f0d67acf355755e0a8a7f49a1baf55c9",
    "040_aprovacao_reaberta.sql": "896ae077dbcdd669d7d53d0887aa568f8874f6b86e9679bfe3cd9486c93c391f",
    "041_aprovacao_mantida.sql": "2324cea413e90ca86b9a8599308f2d21739e3e700646660f83cd5bb46eb41a4a",
    "042_planilha_sem_formula_oculta.sql": "ae1e8a3c7d6813b6864e7f24ccef2e6fd6b815f24a89ed63d55d2ebfea3eb339",
    "043_aprovacao_mantida_numerica.sql": "7229e5a79b81d904f191884c419af510cc05178f679274babe93a2fb3e90be37",
    "044_sessao_disparada_por.sql": "1ff10b6662d002f4ac5527a5781da03c390815447cd7a2e983e43e0d5baeef03",
    "045_leitura_por_par.sql": "5fcceba045dd9d2463eb3a0e109328c8c5e16c5408e2dfb5d92b7f866dccc1fb",
    "046_leitura_monetaria_sem_colacao.sql": "54461b89fc4cd40dc0e11db9c97d7af129cfd49be22bf6d85df915c8604aff41",
    "047_rollback_sessao_parada.sql": "39eb1050d411a95ee9b43e14dc04bea0a26f611227acc8a80f857cb9c8177c9c",
    "048_planilha_so_numero_simples.sql": "a29372956e3e8179dcff8b8edef515a4e83dbc004a739d583b73ce0079c81413",
    "049_decisao_antiga_sobre_nan.sql": "80c2b27c8c71b4befa4cd9247bd80f3ac1243a889ce5e9e7da57b3e6f85e0097",
    "050_niveis_pendencias.sql": "f91d3bb38b535e8a983960e7918df1ada11b77b54a5ade5df27bf5a83fc886a7",
    "051_painel_execucoes_sem_aprovacoes.sql": "efe93a31bca24416a1aaf87becf9cc302abcbc55cd0e4a4b90e09d4b096b7fc1",
    "055_etapa_sem_cliente.sql": "8cc71bb990b60849514bb3d07d1b7dda9dff749d2f6b2f8f8289a581eec556a8",
    "057_leitura_monetaria_sem_estouro.sql": "f7f1e1e58bc26fafea1acd3dc146226ea126d785b1172f4573df9d918a9d1a18",
    "058_visao_execucoes.sql": "b8e50dd1daf38fb7c775e1cbd666af1ac0db05f8ac89fb37cc319daa5ea75445",
    "061_decisao_mantida_por_valor.sql": "ddca00587766ddf97056d4a153db20da7bb2acd4849e3eb4c9e54905459dfced",
    "064_etapas_interrompidas.sql": "74f63d1e37e4cc51a505c2204acbb201a4f57adf51aef2ff6cd8269868065d00",
    "068_regras_verificadas.sql": "66e62d777eccc4dc501158ec27dccee0449227f64a15f032ee52fca846c91b65",
}


def test_no_released_migration_was_edited_or_removed():
    present = {path.name: checksum(path.read_text(encoding="utf-8")) for path in MIGRATIONS_DIR.glob("*.sql")}
    changed = sorted(name for name, released in RELEASED.items() if present.get(name) != released)
    assert not changed, f"released migrations edited or removed: {changed}; restore them and add a new file"


def test_every_migration_file_is_listed():
    unlisted = sorted(path.name for path in MIGRATIONS_DIR.glob("*.sql") if path.name not in RELEASED)
    assert not unlisted, f"add {unlisted} with its checksum to RELEASED: it is frozen once it lands on main"
