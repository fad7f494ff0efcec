"""Airflow plugin: the review API at /divergencias on the api-server and the page
"Divergências" in the UI's navigation (contract §9). The code lives in divergencias.review."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from divergencias.review.app import create_app


class DivergenciasRevisaoPlugin(AirflowPlugin):
    name = "divergencias_revisao"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/divergencias", "name": "Revisão de divergências"}]
    external_views = [
        {
            "name": "Divergências",
            "href": "/divergencias/",
            "url_route": "divergencias",
            "destination": "nav",
            "icon": "/divergencias/static/icone.svg",
        }
    ]
