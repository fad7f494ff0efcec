"""One real export task in a process of its own, so its peak RSS can be measured (Linux).

Kept minimal on purpose: it imports only what the export task itself needs
(``divergencias.report``), so the parent's memory (the data generator, the SQL runner)
does not leak into the figure. A real Airflow worker adds Airflow's own footprint on top.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import bench  # noqa: F401  (puts plugins/ on sys.path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write one session's CSV report, as the export task does.")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--sessao-id", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)

    import psycopg

    from divergencias.report import write_report

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        write_report(conn, args.sessao_id, args.output)
    # The peak RSS of this process image, for the parent to read. Not getrusage: Linux
    # carries the parent's high-water mark into a vfork+exec'd child's ru_maxrss, so the
    # parent's RUSAGE_CHILDREN would report the benchmark's own peak, not this task's.
    print(json.dumps({"vm_hwm_kb": _vm_hwm_kb()}))


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM not found in /proc/self/status")


if __name__ == "__main__":
    main()
