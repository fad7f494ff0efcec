"""Which days a run processes and how its session is typed (contract §3).

Pure functions of the run's facts, so every rule is testable without Airflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from divergencias.settings import LOCAL_TIMEZONE

MODES = ("auto", "manual")
# The DAG's params (contract §2). Airflow passes any other key of a run's conf through
# untouched, so a misspelled one ("mode": "manual") would be ignored and the run would
# apply corrections the user meant only to detect: it is refused instead.
PARAMS = ("data_inicio", "data_fim", "modo", "permitir_periodo_longo", "confirmar_resolucao_em_massa")
# A longer period is almost always a typo in a year; it must be asked for explicitly.
MAX_PERIOD_DAYS = 366
# Airflow's DagRunType values.
_SESSION_TYPE = {"scheduled": "DAILY_AUTO", "backfill": "REPROCESSING"}
_MANUAL_SESSION_TYPE = "MANUAL_RUN"


class InvalidParams(ValueError):
    """Params that cannot define a period; the message names the params for the user."""


@dataclass(frozen=True)
class RunPeriod:
    data_inicio: date
    data_fim: date
    modo: str
    tipo_sessao: str

    def as_xcom(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


def _parse_date(name: str, value: object) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidParams(f"Parâmetro {name}={value!r} inválido: use uma data AAAA-MM-DD.") from None


def reference_day(run_moment: datetime) -> date:
    """D: the São Paulo calendar day before the run's moment."""
    return run_moment.astimezone(ZoneInfo(LOCAL_TIMEZONE)).date() - timedelta(days=1)


def session_type(run_type: object) -> str:
    # The task SDK hands over an enum whose str() is its name, not its value.
    return _SESSION_TYPE.get(getattr(run_type, "value", run_type), _MANUAL_SESSION_TYPE)


def validate_params(params: dict, run_type: object) -> tuple[date | None, date | None, str]:
    """(data_inicio, data_fim, modo) of valid params for this kind of run; raises
    InvalidParams naming the params."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InvalidParams(f"Parâmetro(s) desconhecido(s): {', '.join(unknown)}. Use apenas: {', '.join(PARAMS)}.")
    modo = params.get("modo") or "auto"
    if modo not in MODES:
        raise InvalidParams(f"Parâmetro modo={modo!r} inválido: use 'auto' ou 'manual'.")
    inicio = _parse_date("data_inicio", params.get("data_inicio"))
    fim = _parse_date("data_fim", params.get("data_fim"))
    if (inicio is None) != (fim is None):
        raise InvalidParams(
            "Informe data_inicio e data_fim juntos (ou nenhum dos dois): "
            f"recebido data_inicio={params.get('data_inicio')!r}, data_fim={params.get('data_fim')!r}."
        )
    if inicio is not None and session_type(run_type) == "REPROCESSING":
        # `airflow backfill create --dag-run-conf` gives every day's run the same conf: with
        # dates, each run would process the whole period instead of its own day (§3).
        raise InvalidParams(
            "Um backfill processa exatamente o seu dia de referência: não informe data_inicio e data_fim "
            f"(recebido data_inicio={params.get('data_inicio')!r}, data_fim={params.get('data_fim')!r}). "
            "Para processar um período, dispare uma execução manual com essas datas."
        )
    if inicio is not None and fim is not None:
        if fim < inicio:
            raise InvalidParams(f"data_fim ({fim}) é anterior a data_inicio ({inicio}).")
        days = (fim - inicio).days + 1
        if days > MAX_PERIOD_DAYS and params.get("permitir_periodo_longo") is not True:
            raise InvalidParams(
                f"Período de {days} dias entre data_inicio ({inicio}) e data_fim ({fim}) excede "
                f"{MAX_PERIOD_DAYS} dias: confirme com permitir_periodo_longo=true."
            )
    return inicio, fim, modo


def resolve_period(params: dict, run_type: str, run_moment: datetime, dias_retroativos: int) -> RunPeriod:
    """The run's period and session type; raises InvalidParams before anything is written."""
    inicio, fim, modo = validate_params(params, run_type)
    tipo_sessao = session_type(run_type)
    if inicio is not None and fim is not None:
        return RunPeriod(inicio, fim, modo, tipo_sessao)
    day = reference_day(run_moment)
    if tipo_sessao == "REPROCESSING":
        # A backfill reprocesses exactly its own day: its neighbours have their own runs.
        return RunPeriod(day, day, modo, tipo_sessao)
    try:
        inicio = day - timedelta(days=dias_retroativos)
    except OverflowError:
        # The setting's form is digits only, so any count passes it; before year 1 there is
        # no date to start from.
        raise InvalidParams(
            f"Configuração dias_retroativos={dias_retroativos} leva o início do período para antes do ano 1: "
            "corrija dias_retroativos em audit.configuracoes_sistema."
        ) from None
    days = dias_retroativos + 1
    # The same guard as for explicit dates: a dias_retroativos typed wrong (3100 for 31) would
    # otherwise make every daily run record and auto-correct sales from years back.
    if days > MAX_PERIOD_DAYS and params.get("permitir_periodo_longo") is not True:
        raise InvalidParams(
            f"Período de {days} dias ({inicio} a {day}) pela configuração dias_retroativos={dias_retroativos} "
            f"excede {MAX_PERIOD_DAYS} dias: corrija dias_retroativos em audit.configuracoes_sistema "
            "ou confirme com permitir_periodo_longo=true."
        )
    return RunPeriod(inicio, day, modo, tipo_sessao)
