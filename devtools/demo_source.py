"""Demo source data: the schema ``byd`` and a deterministic generator of realistic sales.

The pipeline reads a schema owned by the business. For the demo and the tests we build a
look-alike (``include/sql/demo/byd_fixture.sql``) and fill it with sales whose messiness
matches production: money as text in every form the contract allows, trade-marketing
mismatches, pending verifications, negative, absurd and unreadable amounts. Generation is a
pure function of its parameters (hash-based, never ``random()``), so a test can rely on
exact contents, and chunking or plan changes never alter a byte.

Nothing here writes to a database the system did not create: both writers call
``require_system_created`` first.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from devtools.databases import NotASystemDatabase, require_system_created

_DEMO_SQL = Path(__file__).resolve().parents[1] / "include/sql/demo"
FIXTURE_SQL = _DEMO_SQL / "byd_fixture.sql"
GENERATOR_SQL = _DEMO_SQL / "gerar_vendas.sql"

_FIXTURE_OBJECTS = ("byd.vendas", "byd.incentivos", "byd.controladoria", "byd.bonus_view")


@dataclass(frozen=True)
class DemoRates:
    """Probability, per sale, of each kind of problem the pipeline must find.

    The categories trade marketing, negative/outlier and unreadable are mutually exclusive per
    sale, so each rate can be measured on its own; ``pendente`` is independent of them.
    """

    trade_marketing: float = 0.05
    pendente: float = 0.01
    negativo_outlier: float = 0.005
    ilegivel: float = 0.001

    def __post_init__(self) -> None:
        exclusive = self.trade_marketing + self.negativo_outlier + self.ilegivel
        rates = (self.trade_marketing, self.pendente, self.negativo_outlier, self.ilegivel)
        if any(not 0 <= r <= 1 for r in rates) or exclusive > 1:
            raise ValueError(f"rates must be probabilities whose exclusive sum is <= 1: {self}")


def _commit(conn: psycopg.Connection) -> None:
    # A non-autocommit connection has an implicit transaction open (at least since our own
    # marker check); committing it is what makes each chunk durable on its own.
    if not conn.autocommit:
        conn.commit()


def create_fixture(conn: psycopg.Connection) -> None:
    """Create (or refresh) the demo schema ``byd``; idempotent.

    Refuses with ``NotASystemDatabase`` before touching anything if the database was not
    created by the system, since ``byd`` belongs to the business everywhere else.
    """
    require_system_created(conn)
    with conn.transaction():
        conn.execute(FIXTURE_SQL.read_text(encoding="utf-8"))
    _commit(conn)


def _fixture_exists(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT bool_and(to_regclass(name) IS NOT NULL) FROM unnest(%s::text[]) AS name",
        (list(_FIXTURE_OBJECTS),),
    ).fetchone()
    return bool(row and row[0])


def is_empty(conn: psycopg.Connection) -> bool:
    """True when there are no demo sales yet (``byd.vendas`` missing or without rows)."""
    if conn.execute("SELECT to_regclass('byd.vendas')").fetchone()[0] is None:
        return True
    return conn.execute("SELECT NOT EXISTS (SELECT FROM byd.vendas)").fetchone()[0]


def generate_sales(
    conn: psycopg.Connection,
    n_sales: int,
    *,
    seed: int = 42,
    end_date: date | None = None,
    days: int = 60,
    rates: DemoRates | None = None,
    chunk: int = 200_000,
    progress: Callable[[str], None] | None = print,
) -> None:
    """Generate sales ``NF0000000001`` … with their incentives and bookings.

    Sale ``i`` depends only on ``(seed, i)`` (plus ``end_date``/``days`` for its dates), so
    the data is identical however it is chunked, and a larger ``n_sales`` extends a smaller
    one. Ids already present are left untouched: a pipeline's corrections survive a rerun and
    an interrupted load resumes. Each chunk is committed on its own so a million-sale load
    shows progress and does not hold one huge transaction.
    """
    if n_sales < 0 or chunk < 1 or days < 1:
        raise ValueError("n_sales must be >= 0, chunk and days >= 1")
    require_system_created(conn)
    if not _fixture_exists(conn):
        create_fixture(conn)
    rates = rates or DemoRates()
    # Yesterday in São Paulo, the pipeline's calendar, so a default demo lands in a default run's period.
    end_date = end_date or datetime.now(ZoneInfo("America/Sao_Paulo")).date() - timedelta(days=1)
    query = GENERATOR_SQL.read_text(encoding="utf-8")
    params: dict[str, object] = {
        "semente": seed,
        "data_fim": end_date,
        "dias": days,
        "taxa_trade_marketing": rates.trade_marketing,
        "taxa_pendente": rates.pendente,
        "taxa_negativo_outlier": rates.negativo_outlier,
        "taxa_ilegivel": rates.ilegivel,
    }
    for first in range(1, n_sales + 1, chunk):
        last = min(first + chunk - 1, n_sales)
        with conn.transaction():
            # The generator's expressions are large enough that JIT compiling them costs more
            # than running them (about 4 s per 200,000-sale chunk), so it is off for this chunk.
            conn.execute("SET LOCAL jit = off")
            conn.execute(query, {**params, "primeiro": first, "ultimo": last})
        _commit(conn)
        if progress:
            progress(f"demo: {last:,}/{n_sales:,} vendas ({100 * last // n_sales} %)")
    # Fresh statistics so the pipeline's first queries on a big load get sensible plans.
    conn.execute("ANALYZE byd.vendas, byd.incentivos, byd.controladoria")
    _commit(conn)


def main(argv: list[str] | None = None) -> None:
    """CLI: load demo sales into a system-created database."""
    parser = argparse.ArgumentParser(description="Load deterministic demo sales into a system-created database.")
    parser.add_argument("--dsn", required=True, help="libpq DSN or URI of a system-created database")
    parser.add_argument("--n", type=int, default=3000, help="number of sales (default 3000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end-date", type=date.fromisoformat, default=None, help="YYYY-MM-DD, default yesterday")
    parser.add_argument("--days", type=int, default=60, help="days the sales spread over (default 60)")
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        try:
            generate_sales(conn, args.n, seed=args.seed, end_date=args.end_date, days=args.days)
        except NotASystemDatabase as refused:
            # A refusal is the expected answer to a wrong DSN, not a crash: no traceback.
            raise SystemExit(f"demo: {refused}") from None


if __name__ == "__main__":
    main()
