"""Performance benchmark of the DAG's data work (``make bench``).

The pipeline's modules live in ``plugins/`` (Airflow's import path); outside Airflow and
pytest nobody puts that folder on ``sys.path``, so the package does it once here, before
``bench.__main__`` or ``bench.task_probe`` import ``divergencias``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_PLUGINS = str(PROJECT_ROOT / "plugins")
if _PLUGINS not in sys.path:
    sys.path.insert(0, _PLUGINS)
