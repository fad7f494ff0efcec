"""Approving and rejecting divergences (contract §9), each request one transaction.

The checks run on rows locked by travar_divergencias.sql, so what they see stays true until
the commit: two people approving the same divergence at once apply it once, the second one
getting 409. A decision is refused when what the person decided on is no longer the
divergence's values: a client that names them ("vistos", the tokens the list and the detail
hand out) is refused when a run refreshed them after it read them, any decision when a run's
step refreshed them while it waited. Any failed check rolls the whole request back: a bulk
decision is all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
from airflow.providers.common.sql.hooks.sql import DbApiHook
from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from psycopg.rows import dict_row

from divergencias import __version__
from divergencias.database import financial_db, sql_file
from divergencias.formatting import brl
from divergencias.review.queries import invalid_setting_as_503, unavailable_as_503
from divergencias.settings import WRITTEN_FIELDS


def _run_file(conn: psycopg.Connection, file: str, params: dict[str, Any]) -> list[dict] | None:
    """Every statement of include/sql/<file>, split as the DAG's SQL steps are; the last
    statement's rows."""
    rows = None
    for statement in DbApiHook.split_sql_string(sql_file(file), strip_semicolon=True):
        cur = conn.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
    return rows


def _require_one_token_each(ids: list[int], vistos: dict[int, str] | None) -> None:
    """``vistos``, when given, names exactly the divergences decided: a token missing would
    leave one decided on values nobody vouched for, one too many is a client's mistake. A 422
    in the validation errors' shape, the route's path id included."""
    if vistos is None:
        return
    missing = sorted(set(ids) - vistos.keys())
    extra = sorted(vistos.keys() - set(ids))
    errors = [f"falta o token de {', '.join(map(str, missing))}"] if missing else []
    if extra:
        errors.append(f"{', '.join(map(str, extra))} não está entre as divergências decididas")
    if errors:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "vistos"), "ctx": {"error": error}} for error in errors]
        )


@contextmanager
def _deciding(ids: list[int], vistos: dict[int, str] | None) -> Iterator[tuple[psycopg.Connection, list[dict]]]:
    """One transaction holding the writer lock and the rows of the divergences named; yields
    what the checks need about each (404 when one does not exist)."""
    _require_one_token_each(ids, vistos)
    with unavailable_as_503(), financial_db() as conn:
        conn.row_factory = dict_row
        arrival = conn.execute(sql_file("review/valores_decididos.sql"), {"ids": ids}).fetchall()
        try:
            _run_file(conn, "review/travar_divergencias.sql", {"ids": ids})
        except psycopg.errors.LockNotAvailable as error:
            # PostgreSQL does not say which lock timed out: the writer lock (a run's data
            # step, a rollback, another decision) or a booked row someone is editing.
            raise _busy(
                "estão ocupados há mais de 15 s: uma execução do pipeline, um rollback ou outra decisão está "
                "gravando, ou alguém edita a venda em byd.controladoria"
            ) from error
        except psycopg.errors.DeadlockDetected as error:
            # Every writer of this system takes the writer lock first, so the other party of a
            # deadlock is someone editing several of these sales in one transaction, in another
            # order; PostgreSQL cancelled this request to let that edit go on.
            raise _busy(
                "estavam sendo editados ao mesmo tempo em byd.controladoria, por uma transação que altera "
                "várias dessas vendas"
            ) from error
        with invalid_setting_as_503("nada foi gravado."):
            facts = conn.execute(sql_file("review/fatos_aprovacao.sql"), {"ids": ids}).fetchall()
        missing = sorted(set(ids) - {row["id"] for row in facts})
        if missing:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"Divergência(s) não encontrada(s): {', '.join(map(str, missing))}."
            )
        _refuse_refreshed_since_read(arrival, vistos, facts)
        _refuse_refreshed_while_waiting(arrival, facts)
        yield conn, facts


def _busy(why: str) -> HTTPException:
    """503 for a decision whose records someone else holds; nothing was written."""
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"Os registros desta decisão {why}. Nada foi gravado; tente de novo em instantes.",
        headers={"Retry-After": "30"},
    )


def _current_values(row: dict) -> str:
    """The values a refused decision would have been taken on, as the 409 names them."""
    campo = "vazio" if row["valor_original"] is None else f'"{row["valor_original"]}"'
    return f"o campo agora tem {campo}, valor sugerido {brl(row['valor_sugerido'])}"


def _refuse_refreshed_since_read(arrival: list[dict], vistos: dict[int, str] | None, facts: list[dict]) -> None:
    """A run may have refreshed a divergence between the client reading it (the page loaded,
    a script's GET) and the decision: the token it read no longer matches, and the decision
    would apply a reference or overwrite a booking the person never saw."""
    if vistos is None:
        return
    arrived = {row["id"]: row["token_valores"] for row in arrival}
    for row in facts:
        if arrived.get(row["id"]) != vistos[row["id"]]:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"Divergência {row['id']}: seus valores mudaram depois que foram lidos ({_current_values(row)}); "
                "nada foi gravado. Recarregue a lista e decida de novo.",
            )


def _refuse_refreshed_while_waiting(arrival: list[dict], facts: list[dict]) -> None:
    """A detection that held the writer lock while the request waited may have refreshed a
    divergence (a newer booking, a changed reference): the person decided on the values it
    had before, so the decision is not applied to the new ones."""
    seen = {row["id"]: row["valores"] for row in arrival}
    for row in facts:
        if row["id"] in seen and seen[row["id"]] != row["valores"]:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"Divergência {row['id']}: uma execução do pipeline atualizou seus valores enquanto esta decisão "
                f"esperava ({_current_values(row)}); nada foi gravado. Revise a divergência e decida de novo.",
            )


# The statuses a decision can find instead of DETECTED, as the page names them: the code alone
# is English to a controller, who mostly meets this when someone else decided meanwhile.
STATUS_LABELS = {
    "AUTO_APPLIED": "corrigida automaticamente",
    "APPROVED": "aprovada",
    "REJECTED": "rejeitada",
    "RESOLVED": "resolvida",
    "ROLLED_BACK": "desfeita",
}


def _require_detected(row: dict, action: str) -> None:
    code = row["status_processamento"]
    if code != "DETECTED":
        shown = f"{code} ({STATUS_LABELS[code]})" if code in STATUS_LABELS else code
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Divergência {row['id']} está {shown}: só divergências abertas (DETECTED) podem ser {action}; "
            "outra pessoa ou uma execução pode tê-la decidido depois que a lista foi carregada. "
            "Nada foi gravado; recarregue a lista.",
        )


def _needs_two_people(row: dict, chosen: Decimal) -> bool:
    """Whether applying ``chosen`` is a change of at least limite_dupla_aprovacao. Measured
    from the field's current amount, for the value chosen and for the rule's own suggestion
    alike: a person cannot take a large divergence in small steps by choosing a smaller value
    each time. A field that cannot be read makes the change unmeasurable: two people."""
    current, limit = row["valor_atual"], row["limite_dupla_aprovacao"]
    if current is None:
        return True
    proposed = [chosen] if row["valor_sugerido"] is None else [chosen, row["valor_sugerido"]]
    return any(abs(value - current) >= limit for value in proposed)


def _plan(row: dict, valor: Decimal | None, usuario: str) -> tuple[int, Decimal, bool]:
    """(id, value, apply now?) for one divergence, or the reason it cannot be approved. A
    change of at least limite_dupla_aprovacao is applied only by a second person's approval."""
    ident, campo = row["id"], row["campo_afetado"]
    _require_detected(row, "aprovadas")
    if campo is None:
        # The old job could record a divergence on no field (its schema allows it).
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Divergência {ident}: não indica o campo a corrigir (registro do sistema antigo); "
            "o sistema só grava bonus_dpto e trade_mkt_dpto. Rejeite-a e corrija na origem.",
        )
    if campo not in WRITTEN_FIELDS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Divergência {ident}: o campo {campo} pertence ao cadastro comercial e não é gravado pelo sistema "
            "(só bonus_dpto e trade_mkt_dpto); rejeite-a e corrija na origem.",
        )
    limite_outlier = row["limite_outlier"]
    pending = row["pendentes"]
    first_value = Decimal(pending[0]["valor"]) if pending else None
    if valor is None and first_value is None and row["linhas_conflitantes"]:
        # The suggestion came from one of the view's differing rows, picked by sort order.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Divergência {ident}: a venda {row['idnfsexterno']} aparece repetida em byd.bonus_view com valores "
            "diferentes, e o valor sugerido vem de uma dessas linhas; informe o valor a aplicar ou revise a origem.",
        )
    chosen = next((v for v in (valor, first_value, row["valor_sugerido"]) if v is not None), None)
    if chosen is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Divergência {ident}: a regra não sugere valor; informe o valor a aplicar ou rejeite-a.",
        )
    if valor is None and first_value is None and not row["sugestao_exata"]:
        # The auto-apply guard: the suggestion, rounded to cents, is not what the source holds
        # (-0.004 would pass the limits as 0.00). Only a value a person types is applied then;
        # a first approval's value passed this guard, so the second approver may apply it.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f'Divergência {ident}: o valor de referência "{row["valor_referencia"]}" tem mais de duas casas '
            f"decimais, e o sugerido ({brl(chosen)}) não é igual a ele; informe o valor a aplicar ou corrija a origem.",
        )
    if not 0 <= chosen <= limite_outlier:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Divergência {ident}: valor {brl(chosen)} inválido (deve estar entre {brl(0)} e {brl(limite_outlier)}).",
        )
    if not row["lancada"]:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"Divergência {ident}: a venda {row['idnfsexterno']} não tem lançamento."
        )
    if row["campo_alterado"]:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Divergência {ident}: {campo} de {row['idnfsexterno']} mudou depois da detecção; "
            "o valor atual foi preservado e a divergência será reavaliada na próxima execução.",
        )
    if not _needs_two_people(row, chosen):
        return ident, chosen, True
    if not pending:
        return ident, chosen, False
    if any(p["usuario"] == usuario for p in pending):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Divergência {ident}: você já a aprovou; a segunda aprovação precisa ser de outra pessoa.",
        )
    if chosen != first_value:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Divergência {ident}: a primeira aprovação ({pending[0]['usuario']}) foi para {brl(first_value)}, "
            f"não {brl(chosen)}; rejeite-a para recomeçar com outro valor.",
        )
    return ident, chosen, True


def _refuse_same_field_twice(facts: list[dict]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for row in facts:
        key = (row["idnfsexterno"], row["campo_afetado"])
        if key in seen:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Divergências {seen[key]} e {row['id']} corrigem o mesmo campo ({key[1]} de {key[0]}): "
                "aprove uma de cada vez.",
            )
        seen[key] = row["id"]


def approve(
    ids: list[int], valor: Decimal | None, comentario: str | None, usuario: str, *, vistos: dict[int, str] | None = None
) -> dict[str, Any]:
    with _deciding(ids, vistos) as (conn, facts):
        plan = [_plan(row, valor, usuario) for row in facts]
        _refuse_same_field_twice(facts)
        params = {
            "ids": [ident for ident, _, _ in plan],
            "valores": [chosen for _, chosen, _ in plan],
            "aplicar": [apply for _, _, apply in plan],
            "usuario": usuario,
            "comentario": comentario,
            "versao": __version__,
        }
        applied = _run_file(conn, "review/aplicar_aprovacoes.sql", params)
    session = applied[0] if applied else {"sessao_id": None, "operacao_id": None}
    return {
        "aprovadas": [ident for ident, _, apply in plan if apply],
        "aguardando_segunda_aprovacao": [ident for ident, _, apply in plan if not apply],
        "sessao_id": session["sessao_id"],
        "operacao_id": session["operacao_id"],
    }


def reject(ids: list[int], motivo: str, usuario: str, *, vistos: dict[int, str] | None = None) -> dict[str, Any]:
    with _deciding(ids, vistos) as (conn, facts):
        for row in facts:
            _require_detected(row, "rejeitadas")
        (operation,) = _run_file(conn, "review/rejeitar.sql", {"ids": ids, "motivo": motivo, "usuario": usuario})
    return {"rejeitadas": sorted(ids), "operacao_id": operation["id"]}
