"""JSON answers that keep money exact: Decimal goes out as its decimal text ("1234.56"),
never as a float (FastAPI's default encoder would turn it into one)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def respond(content: Any, status_code: int = 200) -> Response:
    body = json.dumps(content, default=_default, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status_code, media_type="application/json")
