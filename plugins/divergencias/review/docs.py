"""The API's reference page (``/api/docs``), rendered on the server from the OpenAPI schema.

Not Swagger UI: FastAPI's Swagger UI page loads its script and CSS from a CDN
(swagger-ui-dist@5, no version pinned, no integrity hash). That script would run on
Airflow's origin, where the browser sends the user's login cookie with every request: whoever
serves it could approve, reject and roll back as the user. Offline it would also show a blank
page. This page has no script at all, and its Content-Security-Policy keeps it that way.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

# Nothing but the page's own inline style: no script, no request to any origin.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
METHODS = ("get", "post", "put", "patch", "delete")
STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}"
    "section{border-top:1px solid #ccc;padding:.5rem 0}pre{background:#f4f4f4;padding:.5rem;overflow:auto}"
    "td,th{text-align:left;padding:0 .75rem 0 0}"
)


def _component(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    """The model a ``$ref`` ("#/components/schemas/Approval") names."""
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _parameters(operation: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'obrigatório' if p.get('required') else 'opcional'}</td>"
        f"<td>{escape(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", ())
    )
    return f"<table><tr><th>parâmetro</th><th>em</th><th></th><th></th></tr>{rows}</table>" if rows else ""


def _body(schema: dict[str, Any], operation: dict[str, Any]) -> str:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return ""
    model = content["schema"]
    if "$ref" in model:
        model = _component(schema, model["$ref"])
    return f"<p>Corpo JSON:</p><pre>{escape(json.dumps(model, ensure_ascii=False, indent=2))}</pre>"


def reference_page(schema: dict[str, Any], prefix: str, schema_url: str) -> str:
    """Every operation of ``schema`` (method, path under ``prefix``, summary, description,
    parameters and JSON body), each text escaped."""
    info = schema["info"]
    sections = []
    for path, item in schema["paths"].items():
        for method in METHODS:
            if (operation := item.get(method)) is None:
                continue
            sections.append(
                f"<section><h2><code>{method.upper()} {escape(prefix + path)}</code></h2>"
                f"<p>{escape(operation.get('summary', ''))}</p><p>{escape(operation.get('description', ''))}</p>"
                f"{_parameters(operation)}{_body(schema, operation)}</section>"
            )
    return (
        f'<!doctype html><html lang="pt-BR"><head><meta charset="utf-8"><title>{escape(info["title"])}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(info['title'])} {escape(info['version'])}</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        f'<p>Esquema OpenAPI: <a href="{escape(schema_url)}">{escape(schema_url)}</a></p>'
        f"{''.join(sections)}</body></html>"
    )
