"""Contract §3: the period each kind of run processes, in São Paulo calendar days."""

from datetime import UTC, date, datetime

import pytest

from divergencias.period import InvalidParams, resolve_period

# 07:00 in São Paulo (UTC-3) on 2026-11-28
SCHEDULED_FIRE = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def test_scheduled_run_covers_the_day_before_and_the_retroactive_days():
    period = resolve_period({"modo": "auto"}, "scheduled", SCHEDULED_FIRE, 31)
    assert (period.data_inicio, period.data_fim, period.tipo_sessao) == (
        date(2026, 10, 27),
        date(2026, 11, 27),
        "DAILY_AUTO",
    )


def test_reference_day_uses_sao_paulo_time_not_utc():
    # 01:30 UTC on the 29th is still 22:30 on the 28th in São Paulo: D is the 27th
    period = resolve_period({}, "manual", datetime(2026, 11, 29, 1, 30, tzinfo=UTC), 0)
    assert period.data_fim == date(2026, 11, 27) and period.tipo_sessao == "MANUAL_RUN"


@pytest.mark.parametrize(
    ("tick", "first", "last"),
    [
        # 07:00 in São Paulo is 10:00 UTC: the reference day crosses the month and the year
        (datetime(2027, 1, 1, 10, 0, tzinfo=UTC), date(2026, 11, 30), date(2026, 12, 31)),
        (datetime(2028, 3, 1, 10, 0, tzinfo=UTC), date(2028, 1, 29), date(2028, 2, 29)),
        # 2018's summer time: the tick was 09:00 UTC, still the same São Paulo day
        (datetime(2018, 12, 1, 9, 0, tzinfo=UTC), date(2018, 10, 30), date(2018, 11, 30)),
    ],
)
def test_the_scheduled_reference_day_across_month_and_year_boundaries(tick, first, last):
    period = resolve_period({}, "scheduled", tick, 31)
    assert (period.data_inicio, period.data_fim) == (first, last)


def test_manual_run_with_dates_is_exactly_those_dates():
    period = resolve_period(
        {"data_inicio": "2026-01-01", "data_fim": "2026-01-31", "modo": "manual"}, "manual", SCHEDULED_FIRE, 31
    )
    assert (period.data_inicio, period.data_fim, period.modo) == (date(2026, 1, 1), date(2026, 1, 31), "manual")


def test_backfill_run_is_exactly_its_reference_day():
    period = resolve_period({}, "backfill", SCHEDULED_FIRE, 31)
    assert (period.data_inicio, period.data_fim, period.tipo_sessao) == (
        date(2026, 11, 27),
        date(2026, 11, 27),
        "REPROCESSING",
    )


@pytest.mark.parametrize(
    ("dias_retroativos", "params"),
    [
        # more days than the calendar has back to year 1: the 366-day guard came too late
        (1_000_000, {}),
        (1_000_000, {"permitir_periodo_longo": True}),
        # more days than a timedelta holds
        (10**10, {"permitir_periodo_longo": True}),
    ],
)
def test_a_dias_retroativos_past_year_one_is_refused_naming_the_setting(dias_retroativos, params):
    """Its form (digits only) lets any count through: the run failed with a bare
    OverflowError ('date value out of range'), retried twice, and its alert named neither
    the setting nor the fix."""
    with pytest.raises(InvalidParams, match="dias_retroativos"):
        resolve_period(params, "scheduled", SCHEDULED_FIRE, dias_retroativos)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"data_inicio": "2026-01-01"}, ("data_inicio", "data_fim")),
        ({"data_fim": "2026-01-01"}, ("data_inicio", "data_fim")),
        ({"data_inicio": "2026-02-01", "data_fim": "2026-01-01"}, ("data_inicio", "data_fim")),
        ({"data_inicio": "2026-02-30", "data_fim": "2026-03-01"}, ("data_inicio",)),
        ({"modo": "automatico"}, ("modo",)),
        # a misspelled param is not silently dropped: "mode" would run auto and write
        ({"data_inicio": "2026-01-01", "data_fim": "2026-01-31", "mode": "manual"}, ("mode", "modo")),
    ],
)
def test_invalid_params_name_the_params(params, named):
    with pytest.raises(InvalidParams) as error:
        resolve_period(params, "manual", SCHEDULED_FIRE, 31)
    assert all(name in str(error.value) for name in named)


def test_the_task_sdk_run_type_enum_is_understood():
    from airflow.sdk.api.datamodels._generated import DagRunType

    assert resolve_period({}, DagRunType.SCHEDULED, SCHEDULED_FIRE, 31).tipo_sessao == "DAILY_AUTO"
    assert resolve_period({}, DagRunType.BACKFILL, SCHEDULED_FIRE, 31).tipo_sessao == "REPROCESSING"
    assert resolve_period({}, DagRunType.MANUAL, SCHEDULED_FIRE, 31).tipo_sessao == "MANUAL_RUN"


def test_a_backfill_given_dates_is_refused_instead_of_widening_its_day():
    """`airflow backfill create --dag-run-conf` hands the same conf to every day's run: with
    dates, each REPROCESSING run processed the whole period instead of its own day."""
    conf = {"data_inicio": "2026-01-01", "data_fim": "2026-11-27"}
    with pytest.raises(InvalidParams, match="backfill.*data_inicio.*data_fim"):
        resolve_period(conf, "backfill", SCHEDULED_FIRE, 31)
    assert resolve_period({"modo": "manual"}, "backfill", SCHEDULED_FIRE, 31).modo == "manual"


def test_a_backfill_given_dates_fails_before_touching_the_database(system_db, monkeypatch):
    import psycopg
    from airflow.sdk.exceptions import AirflowFailException

    from devtools.databases import airflow_connection_json
    from divergencias.preparation import prepare_run

    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", airflow_connection_json(system_db))
    conf = {"data_inicio": "2026-11-01", "data_fim": "2026-11-03"}
    with pytest.raises(AirflowFailException, match="data_inicio"):
        prepare_run(conf, "backfill", SCHEDULED_FIRE, "backfill__2026-11-28T10:00:00+00:00")
    with psycopg.connect(system_db) as c:
        assert c.execute("SELECT to_regnamespace('audit')").fetchone()[0] is None


def test_a_run_that_comes_back_as_another_kind_or_mode_is_refused_before_reopening_its_session(conn):
    """A backfill's --reprocess-behavior turns the day's run into a backfill run with the
    backfill's conf, under the same run id: open_session reopened the old session, so a
    reprocessing in modo manual ran in the session's modo auto (tests/test_scheduler.py)."""
    from devtools.sql_steps import open_session
    from divergencias.preparation import check_session_of_the_run

    run_id = "scheduled__2026-11-28T10:00:00+00:00"
    opened = open_session(conn, date(2026, 10, 27), date(2026, 11, 27), "auto", "DAILY_AUTO", run_id)
    conn.commit()
    # cleared as it was, it reopens its session
    check_session_of_the_run(conn, run_id, resolve_period({}, "scheduled", SCHEDULED_FIRE, 31))
    for conf, run_type in (({"modo": "manual"}, "scheduled"), ({}, "backfill")):
        with pytest.raises(InvalidParams, match=f"sessão {opened['sessao_id']} .DAILY_AUTO, modo auto"):
            check_session_of_the_run(conn, run_id, resolve_period(conf, run_type, SCHEDULED_FIRE, 31))
