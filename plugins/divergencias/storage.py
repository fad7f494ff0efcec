"""Where reports and backups are kept: a local folder or object storage, through Airflow's
``ObjectStoragePath``.

With several Celery workers the task that writes the CSV and the one that emails it may
run on different machines, so both reach the file by the same location: the value of
``divergencias_output_dir`` (a local path, or a URL such as ``file:///mnt/relatorios`` or
``s3://aws_default@bucket/prefix``), recorded on the session as text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from divergencias.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

_LOCAL_PROTOCOLS = ("", "file", "local")


def location(text: str) -> ObjectStoragePath:
    """A folder or file named by a local path (relative: from the project folder) or a URL."""
    from airflow.sdk import ObjectStoragePath

    if "://" in text:
        return ObjectStoragePath(text)
    path = Path(text).expanduser()
    return ObjectStoragePath(str(path if path.is_absolute() else PROJECT_ROOT / path))


def is_local(path: ObjectStoragePath | Path) -> bool:
    return getattr(path, "protocol", "") in _LOCAL_PROTOCOLS


@contextmanager
def write_atomically(path: ObjectStoragePath | Path) -> Iterator[IO[bytes]]:
    """A binary file to stream into; it appears under ``path`` only once the block ends
    without error (a reader never sees half a file), and nothing is left behind otherwise."""
    if is_local(path):
        # object stores have no folders to create; a local one may not exist yet
        path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as out:
            yield out
        partial.rename(path)
    finally:
        if partial.exists():
            partial.unlink()


def size(path: ObjectStoragePath | Path) -> int | None:
    """Size in bytes, or None (with a warning naming the setting) when this machine cannot
    reach the file: a report written to one worker's local disk is invisible to another."""
    if path.exists():
        return path.stat().st_size
    log.warning(
        "%s is not reachable from this machine: with several workers, set the Variable "
        "divergencias_output_dir to storage they all reach (a shared mount or an s3:// URL)",
        path,
    )
    return None


def attachable(path: ObjectStoragePath | Path, limit_bytes: int) -> bool:
    """Whether the report can go attached to an email: reachable here and not too large."""
    found = size(path)
    return found is not None and found <= limit_bytes
