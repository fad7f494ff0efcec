"""The audit-write bound: detection and apply once more, on a copy of their own, with the
audit trail's per-row writes taken away. Not a floor (it runs the project's SQL, which a
floor never does) and not a configuration anyone should run: it answers "how fast would
the pipeline be if recording a divergence cost nothing but its heap row?", so that a target
the bound itself misses is known to be out of reach while the audit trail is kept.

On the copy, ``audit.divergencias_processadas`` keeps only its primary key: every other
index (the old schema's and ours, the open-divergence unique index included), its foreign
keys and its history triggers are removed. Everything else, the scan, the writes to
``byd.controladoria`` and the ``BULK_UPDATE`` operation's before/after record included,
is the pipeline unchanged. ``bench.__main__.measure_bound`` times it as a repetition.
"""

from __future__ import annotations

from typing import NamedTuple

import psycopg

# Names come from the catalog, never from input; the table is the one the audit trail
# writes per divergence.
_STRIP_AUDIT_WRITES = """
DO $$
DECLARE
    tabela constant regclass := 'audit.divergencias_processadas';
    alvo record;
BEGIN
    FOR alvo IN SELECT i.indexrelid::regclass AS indice FROM pg_index i
                 WHERE i.indrelid = tabela AND NOT i.indisprimary LOOP
        EXECUTE format('DROP INDEX %s', alvo.indice);
    END LOOP;
    FOR alvo IN SELECT c.conname FROM pg_constraint c WHERE c.conrelid = tabela AND c.contype = 'f' LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tabela, alvo.conname);
    END LOOP;
    EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', tabela);
END
$$
"""

_WHAT_IS_WRITTEN = """
SELECT (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.oid AND NOT i.indisprimary),
       (SELECT count(*) FROM pg_constraint c WHERE c.conrelid = t.oid AND c.contype = 'f'),
       (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = t.oid AND NOT g.tgisinternal AND g.tgenabled <> 'D')
  FROM pg_class t WHERE t.oid = 'audit.divergencias_processadas'::regclass
"""


class AuditWrites(NamedTuple):
    """What ``audit.divergencias_processadas`` maintains for every row written (the field
    names are what the benchmark prints)."""

    secondary_indexes: int
    foreign_keys: int
    triggers: int


def audit_writes(conn: psycopg.Connection) -> AuditWrites:
    return AuditWrites(*conn.execute(_WHAT_IS_WRITTEN).fetchone())


def strip_audit_writes(conn: psycopg.Connection) -> AuditWrites:
    """Remove the audit writes from the database of ``conn`` (for good: only on a copy of
    its own); return what was removed. Refuses to leave any behind."""
    removed = audit_writes(conn)
    conn.execute(_STRIP_AUDIT_WRITES)
    if any(left := audit_writes(conn)):
        raise RuntimeError(f"audit writes left on the bound's copy: {left}")
    return removed
