# The image of every Airflow component in docker-compose.yaml: Airflow 3.3.2 (the version
# requirements.txt pins and the tests run) plus the runtime requirements, the DAGs, the
# plugins and the SQL. Build: docker compose build (or docker build -t divergencias-byd-airflow .)
FROM apache/airflow:3.3.2-python3.11

# divergencias_backup_auditoria runs pg_dump/pg_restore of the business server's major
# version (PostgreSQL 16 in docker-compose.yaml). Debian ships only its own major, so the
# client comes from the PostgreSQL project's apt repository. Another server version: build
# with --build-arg POSTGRES_CLIENT_MAJOR=<major>.
ARG POSTGRES_CLIENT_MAJOR=16
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends "postgresql-client-${POSTGRES_CLIENT_MAJOR}" \
 && apt-get autoremove -yqq --purge \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
USER airflow

# Runtime pins only: no pytest, no embedded PostgreSQL, no SMTP catcher (requirements-runtime.in).
COPY --chown=airflow:0 requirements-runtime.txt /opt/airflow/requirements-runtime.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/airflow/requirements-runtime.txt

# The project's layout is kept: plugins/divergencias finds include/ beside plugins/.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
# Run by airflow-init first: refuses .env.example's placeholder secrets (docker-compose.yaml).
COPY --chown=airflow:0 deploy/check_env.py /opt/airflow/deploy/check_env.py
# The demo loader (DEMO=1 in .env); it only ever writes into a database created for the demo.
COPY --chown=airflow:0 devtools/__init__.py devtools/databases.py devtools/demo_source.py /opt/airflow/devtools/
ENV PYTHONPATH=/opt/airflow/plugins
