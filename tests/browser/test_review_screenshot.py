"""devtools.review_screenshot, the README's picture of the review page, as a user runs it: a
process of its own that writes the PNG and nothing else in the project, and leaves no
process or temporary file behind, also when stopped halfway."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import psutil

from tests.conftest import PROJECT_ROOT

COMMAND = [sys.executable, "-m", "devtools.review_screenshot", "--output"]
# Folders the tool may not write into do not include the virtualenv and git's own files, nor
# the state of a local stack `make run` left up (.pgdata, .airflow): its PostgreSQL writes
# there on its own, checkpoints included, whatever the tool does.
OUTSIDE_THE_PROJECT = {".venv", ".git", ".pgdata", ".airflow"}


def project_files() -> dict[Path, int]:
    files = {}
    for folder, subfolders, names in os.walk(PROJECT_ROOT):
        subfolders[:] = [s for s in subfolders if s not in OUTSIDE_THE_PROJECT]
        for name in names:
            path = Path(folder, name)
            files[path] = path.lstat().st_mtime_ns
    return files


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", header
    return struct.unpack(">II", header[16:24])


def work_folder(output: str) -> Path:
    match = re.search(r"Working in (\S+)", output)
    assert match, output
    return Path(match.group(1))


def processes_using(folder: Path) -> list[psutil.Process]:
    """Processes run from ``folder`` or naming it (the api-server, PostgreSQL)."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline or (process.info["cwd"] or "").startswith(str(folder)):
            found.append(process)
    return found


def left_running(processes: list[psutil.Process]) -> list[str]:
    """Those of ``processes`` still running (a zombie has ended, only its parent has not
    read its status yet)."""
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(f"{process.pid}: {' '.join(process.cmdline())}")
        except psutil.NoSuchProcess:
            pass
    return running


def test_writes_the_picture_and_nothing_else(chromium_path, tmp_path: Path):
    before = project_files()
    output = tmp_path / "revisao.png"
    finished = subprocess.run([*COMMAND, str(output)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    # the viewport it announced (the module is not imported here: it switches bytecode off)
    viewport = re.search(r"Chromium \((\d+)x(\d+)\)", finished.stdout)
    assert viewport and png_size(output) == (int(viewport[1]), int(viewport[2])), finished.stdout
    assert output.stat().st_size > 50_000  # a page full of rows, not a blank one
    assert project_files() == before
    folder = work_folder(finished.stdout)
    assert not folder.exists()
    assert left_running(processes_using(folder)) == [], finished.stdout


def test_stopped_halfway_it_leaves_nothing_running(chromium_path, tmp_path: Path):
    output = tmp_path / "revisao.png"
    process = subprocess.Popen(
        [*COMMAND, str(output)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            # The database and the api-server are up: the most there is to leave behind.
            if line.startswith("==> Photographing"):
                break
        folder = work_folder("".join(lines))
        assert processes_using(folder), "".join(lines)
        started = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        lines.extend(process.stdout)
        assert process.wait(60) == 128 + signal.SIGTERM, "".join(lines)
    finally:
        process.kill()
        process.wait()
    assert not folder.exists()
    assert left_running(processes_using(folder) + started) == [], "".join(lines)
    assert not output.exists()
