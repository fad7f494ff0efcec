"""422 answers in pt-BR: FastAPI writes pydantic's English ("Input should be a valid
decimal", "Value error, informe …") straight into ``detail``, and the page shows each
``msg`` to the controller as it comes. Here each error says, in pt-BR, which field is wrong
and what it expects; the shape stays FastAPI's (``{"detail": [{"type", "loc", "msg"}]}``),
so programs that read ``type`` and ``loc`` see no difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from divergencias.review.encoding import respond

DECIMAL = "informe um número decimal com ponto antes dos centavos (ex.: 1234.56)"
DATE = "informe uma data no formato AAAA-MM-DD (ex.: 2026-11-30)"

# Where a field came from, for errors about the part as a whole (e.g. no body at all).
PARTS = {"body": "corpo da requisição", "query": "parâmetros da URL", "path": "caminho da URL"}

# A pattern means nothing to a person: the fields that have one say what they expect.
PATTERN_HINTS = {"competencia": "use o formato AAAA-MM (ex.: 2026-11)"}
# Text the database can store: PostgreSQL refuses the NUL character in text.
NO_NUL = r"^[^\x00]*$"
# token_valores as the list and the detail hand it out (md5 of valores_decididos.sql's values).
TOKEN = r"^[0-9a-f]{32}$"
# FastAPI reads a body as JSON only under a JSON Content-Type; any other body (a form's,
# text/plain, none) reaches validation as bytes, whatever it holds. "informe um objeto JSON"
# would puzzle whoever sent JSON text with the wrong type.
NOT_JSON = "envie um objeto JSON com Content-Type: application/json"


def _expected(ctx: Mapping[str, Any]) -> str:
    # pydantic lists a Literal's values as "'a', 'b' or 'c'": only the last "or" is English.
    head, _, last = str(ctx.get("expected", "")).rpartition(" or ")
    return f"{head} ou {last}" if head else last


MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda ctx: "obrigatório",
    "decimal_parsing": lambda ctx: DECIMAL,
    "decimal_type": lambda ctx: DECIMAL,
    "finite_number": lambda ctx: "informe um número finito",
    "decimal_max_digits": lambda ctx: f"no máximo {ctx['max_digits']} dígitos",
    "decimal_max_places": lambda ctx: f"no máximo {ctx['decimal_places']} casas decimais",
    "decimal_whole_digits": lambda ctx: f"no máximo {ctx['whole_digits']} dígitos antes do ponto decimal",
    "int_parsing": lambda ctx: "informe um número inteiro",
    "int_type": lambda ctx: "informe um número inteiro",
    "int_from_float": lambda ctx: "informe um número inteiro",
    "greater_than": lambda ctx: f"deve ser maior que {ctx['gt']}",
    "greater_than_equal": lambda ctx: f"deve ser maior ou igual a {ctx['ge']}",
    "less_than": lambda ctx: f"deve ser menor que {ctx['lt']}",
    "less_than_equal": lambda ctx: f"deve ser menor ou igual a {ctx['le']}",
    "string_type": lambda ctx: "informe um texto",
    "string_too_short": lambda ctx: f"informe ao menos {ctx['min_length']} caractere(s)",
    "string_too_long": lambda ctx: f"no máximo {ctx['max_length']} caracteres",
    "string_pattern_mismatch": lambda ctx: "formato inválido",
    "literal_error": lambda ctx: f"valor não aceito; use {_expected(ctx)}",
    "enum": lambda ctx: f"valor não aceito; use {_expected(ctx)}",
    "date_type": lambda ctx: DATE,
    "date_parsing": lambda ctx: DATE,
    "date_from_datetime_parsing": lambda ctx: DATE,
    "date_from_datetime_inexact": lambda ctx: DATE,
    "bool_type": lambda ctx: "informe true ou false",
    "bool_parsing": lambda ctx: "informe true ou false",
    "list_type": lambda ctx: "informe uma lista",
    "too_short": lambda ctx: f"informe ao menos {ctx['min_length']} item(ns)",
    "too_long": lambda ctx: f"no máximo {ctx['max_length']} itens",
    "json_invalid": lambda ctx: "JSON inválido",
    "model_attributes_type": lambda ctx: "informe um objeto JSON",
    "model_type": lambda ctx: "informe um objeto JSON",
    "dict_type": lambda ctx: "informe um objeto JSON",
    "extra_forbidden": lambda ctx: "campo não reconhecido",
    # Our own validators (model_validator, ValueError) already write pt-BR; pydantic would
    # put "Value error, " in front of it.
    "value_error": lambda ctx: str(ctx.get("error", "valor inválido")),
    "assertion_error": lambda ctx: str(ctx.get("error", "valor inválido")),
}


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", "ids", 0)`` → ``ids[0]``; ``("body",)`` → ``corpo da requisição``."""
    part, *path = loc or ("body",)
    if not path:
        return PARTS.get(str(part), str(part))
    name = str(path[0])
    for step in path[1:]:
        name += f"[{step}]" if isinstance(step, int) else f".{step}"
    return name


def message(error: Mapping[str, Any]) -> str:
    """One pydantic error as the controller reads it: the field, then what it expects."""
    loc, kind, ctx = tuple(error.get("loc", ())), error.get("type", ""), error.get("ctx") or {}
    if kind == "json_invalid":  # its loc ends with a character position, not a field
        loc = loc[:1]
    name = field_name(loc)
    if isinstance(error.get("input"), bytes):
        text = NOT_JSON
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == NO_NUL:
        text = "o caractere nulo (\\x00) não é aceito"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == TOKEN:
        text = "informe o token_valores que a lista ou o detalhe da divergência devolveu"
    elif kind == "string_pattern_mismatch" and loc and str(loc[-1]) in PATTERN_HINTS:
        text = PATTERN_HINTS[str(loc[-1])]
    else:
        try:
            text = MESSAGES[kind](ctx)
        except KeyError:  # an error type without a translation, or one without its usual ctx
            text = "valor inválido"
    # A model-level check (loc is only the body) names its fields itself.
    return text if kind in ("value_error", "assertion_error") and len(loc) <= 1 else f"{name}: {text}"


async def pt_br_422(request: Request, exc: RequestValidationError) -> Response:
    """Exception handler for RequestValidationError: 422 with pt-BR messages."""
    detail = [
        {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": message(error)} for error in exc.errors()
    ]
    return respond({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)
