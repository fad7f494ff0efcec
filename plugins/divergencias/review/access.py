"""Who may do what: Airflow's own login and its access to the DAG ``divergencias_diarias``.

A plugin app inherits no authentication from the api-server: every route declares one of
these dependencies. 401 without a user (cookie ``_token`` of the UI or ``Authorization:
Bearer`` from ``/auth/token``), 403 without the access the route needs.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.auth.managers.base_auth_manager import ResourceMethod
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException, status

DAILY_DAG_ID = "divergencias_diarias"
ROLLBACK_DAG_ID = "divergencias_rollback"

# Reading needs read access to the daily DAG; deciding needs edit access to it.
READ = [Depends(requires_access_dag("GET", param_dag_id=DAILY_DAG_ID))]
EDIT = [Depends(requires_access_dag("PUT", param_dag_id=DAILY_DAG_ID))]


# The old system's audit columns that name who decided (operacoes.usuario, processado_por,
# and aprovacoes.usuario like them) are varchar(100). A longer name cannot be recorded, and
# cutting it would record someone else: two people sharing the first 100 characters would be
# one approver to four eyes and to an auditor.
AUDIT_NAME_MAX = 100


def _decider_name(user: GetUserDep) -> str:
    name = user.get_name()
    if len(name) > AUDIT_NAME_MAX:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Seu nome de usuário no Airflow tem mais de {AUDIT_NAME_MAX} caracteres, mais do que a trilha de "
            "auditoria registra (audit.operacoes.usuario); nada foi gravado. Peça ao administrador do Airflow "
            "um nome de usuário mais curto para aprovar ou rejeitar.",
        )
    return name


# The username a decision records: declare it after the route's EDIT access (401/403 first).
DeciderName = Annotated[str, Depends(_decider_name)]


def trigger_access(dag_id: str) -> list:
    """Edit access to the daily DAG plus Airflow's own right to start a run of ``dag_id``."""
    return [*EDIT, Depends(requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=dag_id))]


def allowed(user: BaseUser, method: ResourceMethod) -> bool:
    """Whether ``user`` may ``method`` the daily DAG (GET reads, PUT decides)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.models.dag import DagModel

    details = DagDetails(id=DAILY_DAG_ID, team_name=DagModel.get_team_name(DAILY_DAG_ID))
    return get_auth_manager().is_authorized_dag(method=method, user=user, details=details)
