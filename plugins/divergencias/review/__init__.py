"""The review API and the "Divergências" page (contract §9): an Airflow plugin FastAPI app
mounted at ``/divergencias`` on the api-server, behind Airflow's own login.

Imported only by the api-server (through plugins/divergencias_revisao.py), never by DAGs.
"""
