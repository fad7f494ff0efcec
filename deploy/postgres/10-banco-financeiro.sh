#!/usr/bin/env bash
# First start of the postgres container only (docker-entrypoint-initdb.d): the business
# database `financeiro`, owned by the role the connection financial_db logs in as, beside
# Airflow's own metadata database. With DEMO=1 it is marked as created by the system, the
# one mark that lets airflow-init load demo sales into it; without it no demo data can ever
# be written there.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v senha="$FINANCEIRO_PASSWORD" -v demo="${DEMO:-0}" <<'SQL'
CREATE ROLE financeiro LOGIN PASSWORD :'senha';
CREATE DATABASE financeiro OWNER financeiro;
SELECT :'demo' = '1' AS demo \gset
\if :demo
COMMENT ON DATABASE financeiro IS 'divergencias: banco criado pelo sistema (demo/testes)';
\endif
SQL
