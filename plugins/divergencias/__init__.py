"""Divergências de incentivos BYD: reusable code of the daily controllership pipeline.

Airflow puts ``plugins/`` on the import path, so DAG files import ``divergencias.*``.
Modules here must stay cheap and side-effect free to import: the DAG processor parses
the DAG files often.
"""

__version__ = "2.0.0"
