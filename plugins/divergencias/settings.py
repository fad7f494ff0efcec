"""Names fixed by the contract (connections, Variables) and where the project's files live."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "include" / "sql"
TEMPLATES_DIR = PROJECT_ROOT / "include" / "templates"

FINANCIAL_DB_CONN_ID = "financial_db"
SMTP_CONN_ID = "smtp_default"

RECIPIENTS_VARIABLE = "notification_recipients"
ENVIRONMENT_VARIABLE = "environment"
OUTPUT_DIR_VARIABLE = "divergencias_output_dir"
ATTACHMENT_LIMIT_VARIABLE = "divergencias_anexo_max_mb"
DEFAULT_ATTACHMENT_LIMIT_MB = 10
BACKUP_RETENTION_VARIABLE = "divergencias_backup_dias"
DEFAULT_BACKUP_RETENTION_DAYS = 14

ENVIRONMENTS = ("PRODUCTION", "STAGING", "DEVELOPMENT")
DEFAULT_ENVIRONMENT = "DEVELOPMENT"
DEFAULT_OUTPUT_DIR = "Datasets"

LOCAL_TIMEZONE = "America/Sao_Paulo"
# audit's ids (sessions, divergences) are PostgreSQL integer columns: a larger number a user
# types must be refused where it is typed, not reach a query as a bigint.
MAX_ID = 2**31 - 1
# Who the audit trail names for what the pipeline does on its own; handed to every SQL
# step as the bound parameter ``usuario``.
PIPELINE_USER = "airflow:divergencias_diarias"
# Contract §4: the only fields the system writes, in the only table it writes
# (byd.controladoria).
WRITTEN_FIELDS = ("bonus_dpto", "trade_mkt_dpto")

# Keys of audit.configuracoes_sistema a run reads. validate_and_migrate checks each one
# (present, active, matching its validacao_regex) before anything is written.
REQUIRED_SETTINGS = (
    "tolerancia_valor",
    "limite_auto_aplicacao",
    "limite_outlier",
    "dias_retroativos",
    "pendentes_nivel_atencao",
    "pendentes_nivel_critico",
    "limite_dupla_aprovacao",
    "limite_espera_bloqueio_s",
)


class InvalidVariable(ValueError):
    """A Variable the run reads holds a value it cannot use; the message names it."""


def _variable(key: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def environment_label() -> str:
    """The environment for an email's subject: never fails, so a mistyped Variable cannot
    silence an alert (the daily run itself rejects it in validate_and_migrate), and names it
    as typed: an alert of a production run set to 'producao' must not read DEVELOPMENT."""
    return (_variable(ENVIRONMENT_VARIABLE) or DEFAULT_ENVIRONMENT).upper()


def environment() -> str:
    value = environment_label()
    if value not in ENVIRONMENTS:
        raise InvalidVariable(f"Variable {ENVIRONMENT_VARIABLE}={value!r} inválida: use {', '.join(ENVIRONMENTS)}")
    return value


def recipients() -> list[str]:
    """The addresses of notification_recipients, separated by commas (contract §2) or by
    semicolons, as Outlook writes a list: an item 'a; b' reached only a in the To header."""
    value = _variable(RECIPIENTS_VARIABLE) or ""
    items = [item.strip() for item in re.split("[,;]", value) if item.strip()]
    malformed = [item for item in items if not _one_address(item)]
    if malformed:
        raise InvalidVariable(
            f"Variable {RECIPIENTS_VARIABLE}={value!r} inválida: {', '.join(map(repr, malformed))} "
            "não é um endereço de email; separe os endereços com vírgulas"
        )
    return items


def _one_address(text: str) -> bool:
    from email.headerregistry import HeaderRegistry

    header = HeaderRegistry()("To", text)
    return len(header.addresses) == 1 and not header.defects and "@" in header.addresses[0].addr_spec


def output_dir() -> ObjectStoragePath:
    """The CSV folder: a local path (relative: from the project folder) or an object-storage URL."""
    from divergencias.storage import location

    value = _variable(OUTPUT_DIR_VARIABLE) or DEFAULT_OUTPUT_DIR
    try:
        return location(value)
    except ValueError as error:
        raise InvalidVariable(
            f"Variable {OUTPUT_DIR_VARIABLE}={value!r} inválida ({error}): use uma pasta local "
            "ou uma URL como file:///pasta ou s3://conexao@bucket/prefixo"
        ) from None


def attachment_limit_bytes() -> int:
    """Largest CSV attached to the summary email; a larger one is linked by its path."""
    value = _variable(ATTACHMENT_LIMIT_VARIABLE) or str(DEFAULT_ATTACHMENT_LIMIT_MB)
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = math.nan
    # float() also reads 'nan' and 'inf', and a negative limit would never attach a CSV.
    if not (math.isfinite(megabytes) and megabytes >= 0):
        raise InvalidVariable(
            f"Variable {ATTACHMENT_LIMIT_VARIABLE}={value!r} inválida: use um número de megabytes, 0 ou mais"
        )
    return int(megabytes * 2**20)


def backup_retention_days() -> int:
    """How many days of audit backups divergencias_backup_auditoria keeps."""
    value = _variable(BACKUP_RETENTION_VARIABLE) or str(DEFAULT_BACKUP_RETENTION_DAYS)
    if not value.isdigit() or int(value) < 1:
        raise InvalidVariable(
            f"Variable {BACKUP_RETENTION_VARIABLE}={value!r} inválida: use um número inteiro de dias, 1 ou mais"
        )
    return int(value)


def check_daily_run_variables() -> str:
    """Every Variable the daily run reads, checked before it writes anything; returns the
    environment."""
    recipients()
    attachment_limit_bytes()
    output_dir()
    return environment()
