"""The API's reference page (``/api/docs``), rendered on the server from the OpenAPI schema
with ``include/templates/referencia_api.html.j2``.

Not Swagger UI: FastAPI's Swagger UI page loads its script and CSS from a CDN
(swagger-ui-dist@5, no version pinned, no integrity hash). That script would run on
Airflow's origin, where the browser sends the user's login cookie with every request: whoever
serves it could approve, reject and roll back as the user. Offline it would also show a blank
page. This page has no script at all, and its Content-Security-Policy keeps it that way.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from divergencias import settings

# Nothing but the page's own inline style: no script, no request to any origin.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
METHODS = ("get", "post", "put", "patch", "delete")


@cache
def _template() -> Any:
    env = Environment(
        loader=FileSystemLoader(settings.TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("referencia_api.html.j2")


def _body(schema: dict[str, Any], operation: dict[str, Any]) -> str | None:
    """The JSON body's model, as indented JSON (a ``$ref`` resolved), or None."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return None
    model = content["schema"]
    if "$ref" in model:
        model = schema["components"]["schemas"][model["$ref"].rsplit("/", 1)[-1]]
    return json.dumps(model, ensure_ascii=False, indent=2)


def reference_page(schema: dict[str, Any], prefix: str, schema_url: str) -> str:
    """Every operation of ``schema`` (method, path under ``prefix``, summary, description,
    parameters and JSON body)."""
    info = schema["info"]
    operations = [
        {
            "metodo": method.upper(),
            "caminho": prefix + path,
            "resumo": operation.get("summary", ""),
            "descricao": operation.get("description", ""),
            "parametros": [
                {"description": "", "required": False, **parameter} for parameter in operation.get("parameters", ())
            ],
            "corpo": _body(schema, operation),
        }
        for path, item in schema["paths"].items()
        for method in METHODS
        if (operation := item.get(method)) is not None
    ]
    return _template().render(
        titulo=info["title"],
        versao=info["version"],
        descricao=info.get("description", ""),
        esquema=schema_url,
        operacoes=operations,
    )
