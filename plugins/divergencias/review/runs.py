"""Starting DAG runs from the review API, with Airflow's own trigger code in the api-server
process (as its POST /api/v2/dags/{dag_id}/dagRuns does): the run is queued for the
scheduler and names the user who asked."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from divergencias.dag_helpers import run_url


def trigger(dag_id: str, conf: dict[str, Any], usuario: str) -> dict[str, str]:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.models.dag import DagModel
    from airflow.sdk.definitions.param import ParamValidationError
    from airflow.utils.types import DagRunTriggeredByType

    dag = DagModel.get_dagmodel(dag_id)
    if dag is not None and dag.is_paused:
        # Airflow would queue the run all the same, and it would never start: deployments
        # create DAGs paused, and the manual-only rollback DAG may never have been unpaused.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"A DAG {dag_id} está pausada no Airflow: a execução ficaria na fila sem começar. "
            "Peça a um engenheiro de dados que a reative (unpause) e tente de novo.",
        )
    try:
        run = trigger_dag(dag_id, conf=conf, triggered_by=DagRunTriggeredByType.REST_API, triggering_user_name=usuario)
    except DagNotFound as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"A DAG {dag_id} ainda não foi registrada pelo dag-processor; tente de novo em instantes.",
        ) from error
    except (ParamValidationError, ValueError) as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{dag_id}: {error}") from error
    return {"dag_id": dag_id, "dag_run_id": run.run_id, "url": run_url(dag_id, run.run_id)}
