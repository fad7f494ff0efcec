"""The review API (contract §9) and the "Divergências" page, as one FastAPI app that the
plugin mounts at ``/divergencias`` on Airflow's api-server.

Routes under ``/api/v1``; ``health`` is open, every other route declares the access it needs
(divergencias.review.access). Money goes out as decimal text, never as a float.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from airflow.api_fastapi.core_api.security import GetUserDep, bearer_scheme, get_user
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.dependencies.utils import get_flat_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from divergencias import __version__, formatting, settings
from divergencias.review import access, decisions, docs, exports, queries, runs, validation
from divergencias.review.encoding import respond

PAGE_DIR = settings.TEMPLATES_DIR / "revisao"
STATUSES = Literal["DETECTED", "AUTO_APPLIED", "APPROVED", "REJECTED", "RESOLVED", "ROLLED_BACK"]
MAX_PAGE = 1000
LONG_PERIOD_DAYS = 366
# Ids are PostgreSQL integers and offsets bigints; text cannot hold a NUL character (NO_NUL).
# Anything beyond would reach the database and fail there as a bare 500.
MAX_ID = settings.MAX_ID
MAX_OFFSET = 2**63 - 1
# Amounts are numeric(15, 2), as the booked fields: an exponent such as 1e1000000 would fail
# in the database too.
MONEY_DIGITS, MONEY_PLACES = 15, 2
NO_NUL = validation.NO_NUL

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000, pattern=NO_NUL)]
Ids = Annotated[list[Annotated[int, Field(gt=0, le=MAX_ID)]], Field(min_length=1, max_length=MAX_PAGE)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
DivergenceId = Annotated[int, Path(gt=0, le=MAX_ID)]
TOKEN_DOC = (
    "token_valores: resumo opaco dos valores de que uma decisão depende (o texto do campo e o valor sugerido); "
    "muda quando uma execução atualiza a divergência. Devolva-o em vistos ao aprovar ou rejeitar."
)
Seen = Annotated[
    dict[Annotated[int, Field(gt=0, le=MAX_ID)], Annotated[str, StringConstraints(pattern=validation.TOKEN)]] | None,
    Field(
        max_length=MAX_PAGE,
        description='Opcional: {"<id>": "<token_valores>"} de cada divergência decidida, como GET divergencias ou '
        "GET divergencias/{id} os devolveram. Se uma execução mudou os valores depois dessa leitura, a decisão "
        "é recusada (409, nada é gravado); sem vistos, ela vale para os valores atuais. A página sempre o envia.",
    ),
]


class RequestBody(BaseModel):
    """A request body refuses fields it does not know: a misspelled one ({"value": 100} for
    "valor", {"mode": "manual"} for "modo") would otherwise be dropped, and the request would
    apply the rule's suggestion or queue an auto run instead of what was asked."""

    model_config = ConfigDict(extra="forbid")


class Approval(RequestBody):
    ids: Ids
    valor: Annotated[Decimal | None, Field(ge=0, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)] = None
    comentario: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)] = None
    vistos: Seen = None

    @model_validator(mode="after")
    def value_for_one_divergence(self) -> Approval:
        self.ids = sorted(set(self.ids))
        if self.valor is not None and len(self.ids) != 1:
            raise ValueError("valor só pode ser informado ao aprovar uma única divergência")
        return self


class Rejection(RequestBody):
    motivo: Reason


class DivergenceRejection(Rejection):
    vistos: Seen = None


class BulkRejection(DivergenceRejection):
    ids: Ids


class Processing(RequestBody):
    data_inicio: date | None = None
    data_fim: date | None = None
    modo: Literal["auto", "manual"] = "auto"
    permitir_periodo_longo: bool = False
    confirmar_resolucao_em_massa: bool = False

    @model_validator(mode="after")
    def period(self) -> Processing:
        if (self.data_inicio is None) != (self.data_fim is None):
            raise ValueError("informe data_inicio e data_fim juntas, ou nenhuma das duas")
        if self.data_inicio and self.data_fim:
            if self.data_fim < self.data_inicio:
                raise ValueError("data_fim anterior a data_inicio")
            if (self.data_fim - self.data_inicio).days + 1 > LONG_PERIOD_DAYS and not self.permitir_periodo_longo:
                raise ValueError(f"período de mais de {LONG_PERIOD_DAYS} dias exige permitir_periodo_longo")
        return self

    def conf(self) -> dict[str, Any]:
        conf = {"data_inicio": self.data_inicio, "data_fim": self.data_fim, "modo": self.modo}
        conf = {key: value.isoformat() if isinstance(value, date) else value for key, value in conf.items()}
        flags = ("permitir_periodo_longo", "confirmar_resolucao_em_massa")
        return {**conf, **{flag: True for flag in flags if getattr(self, flag)}}


def require_ordered_period(data_inicio: date | None, data_fim: date | None) -> None:
    """Dates the wrong way round would filter everything out and answer an empty list: a 422
    in the validation errors' shape, as processar gives."""
    if data_inicio and data_fim and data_fim < data_inicio:
        error = "data_fim anterior a data_inicio"
        detail = {"type": "value_error", "loc": ("query",), "msg": error, "ctx": {"error": error}}
        raise RequestValidationError([detail])


def divergence_filters(
    status_processamento: STATUSES | None = None,
    tipo_divergencia: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    # [0-9]: \d would take any script's digits; a month that does not exist would match nothing
    competencia: Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
    idnfsexterno: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    data_inicio: date | None = None,
    data_fim: date | None = None,
    diferenca_minima: Annotated[
        Decimal | None, Query(ge=0, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    ] = None,
) -> dict[str, Any]:
    """The list's and the exports' filters; data_inicio/data_fim bound the sale's
    dta_processamento (days inclusive), as a run's period does."""
    require_ordered_period(data_inicio, data_fim)
    return {
        "status_processamento": status_processamento,
        "tipo_divergencia": tipo_divergencia,
        "competencia": competencia,
        "idnfsexterno": idnfsexterno,
        "data_inicio": data_inicio,
        "data_fim": data_fim,
        "diferenca_minima": diferenca_minima,
    }


def known_query_only(request: Request) -> None:
    """A query parameter the route does not take is refused, as a body refuses a field it
    does not know: a misspelled filter (?status= for status_processamento) was ignored, and
    the list or the export gave the whole queue as if filtered."""
    route: APIRoute = request.scope["route"]
    known = {param.alias for param in get_flat_dependant(route.dependant).query_params}
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if unknown:
        raise RequestValidationError([{"type": "extra_forbidden", "loc": ("query", name)} for name in unknown])


# Read access first, so a request without it is a 401 or 403 whatever its query.
READ = [*access.READ, Depends(known_query_only)]
Filters = Annotated[dict[str, Any], Depends(divergence_filters)]
Sort = Annotated[Literal[tuple(queries.SORT_ORDERS)], Query()]  # type: ignore[valid-type]

Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

# Bodies are read as JSON only under a JSON Content-Type, never guessed from a missing one:
# a page of another site can make the browser post a form, text/plain or an untyped body
# with the user's cookie, but not application/json without a CORS preflight this app refuses.
api = APIRouter(prefix="/api/v1", strict_content_type=True)
REJECT_ONE = "/divergencias/{divergencia_id}/rejeitar"


@api.get("/health", summary="Banco acessível e última execução (aberto, sem login)")
def health() -> Response:
    result = queries.health()
    return respond(result, status.HTTP_200_OK if result["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE)


@api.get("/eu", dependencies=READ, summary="O usuário conectado e se ele pode decidir")
def me(user: GetUserDep) -> Response:
    return respond({"usuario": user.get_name(), "pode_editar": access.allowed(user, "PUT")})


@api.get("/regras", dependencies=READ, summary="Catálogo de regras (audit.regras_divergencia)")
def rules() -> Response:
    return respond(queries.rules())


@api.get("/divergencias", dependencies=READ, summary="Lista filtrada e paginada", description=TOKEN_DOC)
def list_divergences(
    filters: Filters,
    ordenar: Sort = queries.DEFAULT_SORT,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    return respond(queries.list_divergences(filters, ordenar, limit, offset))


@api.post("/divergencias/aprovar", dependencies=access.EDIT, summary="Aprova uma ou várias (tudo ou nada)")
def approve(body: Approval, user: access.DeciderName) -> Response:
    return respond(decisions.approve(body.ids, body.valor, body.comentario, user, vistos=body.vistos))


@api.post("/divergencias/rejeitar", dependencies=access.EDIT, summary="Rejeita várias com um motivo (tudo ou nada)")
def reject_many(body: BulkRejection, user: access.DeciderName) -> Response:
    return respond(decisions.reject(sorted(set(body.ids)), body.motivo, user, vistos=body.vistos))


@api.post(
    "/divergencias/processar",
    dependencies=access.trigger_access(access.DAILY_DAG_ID),
    summary="Dispara uma execução de divergencias_diarias",
)
def process(body: Processing, user: GetUserDep) -> Response:
    return respond(runs.trigger(access.DAILY_DAG_ID, body.conf(), user.get_name()), status.HTTP_201_CREATED)


@api.get(
    "/divergencias/{divergencia_id}",
    dependencies=READ,
    summary="Uma divergência com histórico",
    description=TOKEN_DOC,
)
def divergence(divergencia_id: DivergenceId) -> Response:
    return respond(queries.divergence_detail(divergencia_id))


@api.post(REJECT_ONE, dependencies=access.EDIT, summary="Rejeita uma divergência com um motivo")
def reject(divergencia_id: DivergenceId, body: DivergenceRejection, user: access.DeciderName) -> Response:
    return respond(decisions.reject([divergencia_id], body.motivo, user, vistos=body.vistos))


@api.delete(
    REJECT_ONE,
    dependencies=access.EDIT,
    summary="Rejeita uma divergência com um motivo (no corpo ou em ?motivo=)",
)
def reject_by_delete(
    divergencia_id: DivergenceId,
    user: access.DeciderName,
    body: Annotated[DivergenceRejection | None, Body()] = None,
    motivo: Annotated[Reason | None, Query(description="Alternativa ao corpo")] = None,
) -> Response:
    """The reason may come in the URL here only: HTTP gives a DELETE body no meaning and some
    clients and proxies drop it. No page of another site can send this with the user's cookie:
    HTML forms send only GET and POST, and a cross-origin DELETE needs a CORS preflight this
    app never grants. A POST with the reason in the URL and any body a form can send could."""
    reason = body.motivo if body is not None else motivo
    if reason is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, 'motivo é obrigatório para rejeitar: {"motivo": "…"} ou ?motivo='
        )
    vistos = body.vistos if body is not None else None
    return respond(decisions.reject([divergencia_id], reason, user, vistos=vistos))


@api.post(
    "/sessoes/{sessao_id}/rollback",
    dependencies=access.trigger_access(access.ROLLBACK_DAG_ID),
    summary="Dispara divergencias_rollback para desfazer as correções de uma sessão",
)
def rollback(sessao_id: Annotated[int, Path(gt=0, le=MAX_ID)], body: Rejection, user: GetUserDep) -> Response:
    if queries.session_to_undo(sessao_id)["em_execucao"]:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"A sessão {sessao_id} ainda está em execução (RUNNING): aguarde o fim da execução para desfazê-la.",
        )
    conf = {"sessao_id": sessao_id, "motivo": body.motivo}
    return respond(runs.trigger(access.ROLLBACK_DAG_ID, conf, user.get_name()), status.HTTP_201_CREATED)


@api.get("/auditoria/operacoes", dependencies=READ, summary="Operações de auditoria, paginadas")
def operations(
    tipo_operacao: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    usuario: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    status_operacao: Annotated[
        Literal["PENDING", "SUCCESS", "FAILED", "ROLLED_BACK"] | None, Query(alias="status")
    ] = None,
    origem: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    sessao_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    data_inicio: date | None = None,
    data_fim: date | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    require_ordered_period(data_inicio, data_fim)
    params = {
        "tipo_operacao": tipo_operacao,
        "usuario": usuario,
        "status": status_operacao,
        "origem": origem,
        "sessao_id": sessao_id,
        "data_inicio": data_inicio,
        "data_fim": data_fim,
        "limit": limit,
        "offset": offset,
    }
    return respond(queries.paged("review/operacoes.sql", params))


@api.get("/auditoria/sessoes", dependencies=READ, summary="Sessões (execuções e aprovações), paginadas")
def sessions(
    status_sessao: Annotated[Literal["RUNNING", "COMPLETED", "PARTIAL", "FAILED"] | None, Query(alias="status")] = None,
    tipo_sessao: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    params = {"status": status_sessao, "tipo_sessao": tipo_sessao, "limit": limit, "offset": offset}
    page = queries.paged("review/sessoes.sql", params)
    for session in page["itens"]:
        # named here, where the email names it too, so the page has no copy of the labels
        session["tipo_sessao_rotulo"] = formatting.session_type_label(session["tipo_sessao"])
    return respond(page)


@api.get("/relatorios/divergencias/export", dependencies=READ, summary="CSV ou Excel das divergências filtradas")
def export(filters: Filters, formato: Literal["csv", "excel"] = "csv", ordenar: Sort = "id") -> Response:
    # The controller's day, not the server's: at 22:00 in São Paulo a UTC server is already tomorrow.
    stamp = datetime.now(ZoneInfo(settings.LOCAL_TIMEZONE)).date().isoformat()
    # Both open the database here, before the response starts: unreachable is a 503.
    if formato == "csv":
        csv = exports.open_csv(filters, ordenar)
        return exports.ExportResponse(csv, "text/csv; charset=utf-8", f"divergencias_{stamp}.csv")
    workbook = exports.excel_file(filters, ordenar)
    if workbook is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "Linhas demais para uma planilha Excel: filtre mais ou use CSV."
        )
    return exports.ExportResponse(workbook, exports.XLSX_MEDIA_TYPE, f"divergencias_{stamp}.xlsx")


@api.get("/metricas/resumo", dependencies=READ, summary="Resumo estável para painéis e BI")
def summary() -> Response:
    return respond({**queries.summary(), "versao": __version__})


@api.get("/metricas/diarias", dependencies=READ, summary="Divergências por dia e regra")
def daily(dias: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    return respond(queries.daily(dias))


@api.get("/relatorios/metricas/performance", dependencies=READ, summary="Duração e vazão das execuções")
def performance(limit: Annotated[int, Query(ge=1, le=365)] = 30) -> Response:
    return respond(queries.performance(limit))


def create_app() -> FastAPI:
    # FastAPI's own docs, schema and a StaticFiles mount take no dependencies, so they would
    # be open to anyone: they are turned off here and served below behind access.READ.
    app = FastAPI(
        title="Divergências BYD: API de revisão",
        version=__version__,
        description="Revisão, aprovação e auditoria das divergências de incentivos. "
        "Autenticação do Airflow: cookie `_token` da interface ou `Authorization: Bearer` de `/auth/token`.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        exception_handlers={RequestValidationError: validation.pt_br_422},
    )
    app.include_router(api)
    static_files = StaticFiles(directory=PAGE_DIR)

    @app.api_route("/static/{arquivo:path}", methods=["GET", "HEAD"], dependencies=access.READ, include_in_schema=False)
    async def static(arquivo: str, request: Request) -> Response:
        """The page's CSS, JS and icon, with the page's login and access. StaticFiles still
        resolves the path: nothing outside PAGE_DIR, ETag and 304 as before."""
        return await static_files.get_response(os.path.normpath(os.path.join(*arquivo.split("/"))), request.scope)

    def mount_prefix(request: Request) -> str:
        """Where Airflow mounted this app (/divergencias): the browser's URLs need it."""
        return request.scope.get("root_path", "").rstrip("/")

    @app.get("/api/openapi.json", dependencies=access.READ, include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        # The schema's paths start at /api/v1; "Try it out" needs the mount prefix as server.
        root = mount_prefix(request)
        schema = app.openapi()
        return JSONResponse({**schema, "servers": [{"url": root}]} if root else schema)

    @app.get("/api/docs", dependencies=access.READ, include_in_schema=False)
    def reference(request: Request) -> HTMLResponse:
        # Not Swagger UI, whose script comes from a CDN and would run with the user's cookie
        # (divergencias.review.docs); links carry the mount prefix, as the schema's server.
        root = mount_prefix(request)
        page = docs.reference_page(app.openapi(), root, f"{root}/api/openapi.json")
        return HTMLResponse(page, headers={"Content-Security-Policy": docs.CONTENT_SECURITY_POLICY})

    @app.get("/", include_in_schema=False)
    async def page(request: Request, bearer: Bearer) -> Response:
        """The page itself: to Airflow's login when nobody is logged in, 403 without read access."""
        from airflow.api_fastapi.app import get_auth_manager

        try:
            user = await get_user(request, None, bearer)
        except HTTPException:
            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
        if not access.allowed(user, "GET"):
            return HTMLResponse("<p>Sem acesso à DAG divergencias_diarias.</p>", status.HTTP_403_FORBIDDEN)
        return FileResponse(PAGE_DIR / "divergencias.html", headers={"Cache-Control": "no-store"})

    return app
