"""Airflow local settings of the Celery integration test (on its components' PYTHONPATH).

``task_policy`` pins tasks to Celery queues named in DIVERGENCIAS_FILAS (JSON task_id →
queue), so the test decides which worker runs which task instead of hoping. Two workers on
one machine share its hostname, so ``worker_hostname`` (the [core] hostname_callable)
reports DIVERGENCIAS_WORKER instead: that is what task_instance.hostname records.
"""

from __future__ import annotations

import json
import os
import socket


def task_policy(task) -> None:  # noqa: ANN001
    queue = json.loads(os.environ.get("DIVERGENCIAS_FILAS", "{}")).get(task.task_id)
    if queue:
        task.queue = queue


def worker_hostname() -> str:
    return os.environ.get("DIVERGENCIAS_WORKER") or socket.getfqdn()
