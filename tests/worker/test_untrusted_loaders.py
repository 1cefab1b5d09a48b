"""A task process refuses libvips' untrusted loaders (SVG, PDF, ImageMagick): the defence
behind the magic-byte sniff, reached here directly with bytes the sniff would have stopped.

Blocking is process-wide and cannot be undone, so each check runs in a fresh interpreter: one
set up as a task process sets itself up (``TaskRunner``), one not, to show that this libvips
does load the file when nothing blocks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
    '<rect width="40" height="30" fill="red"/></svg>'
)
LOAD = f"import pyvips; print(pyvips.Image.new_from_buffer({SVG.encode()!r}, '').width)"


def in_a_fresh_interpreter(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TILEWORK_HOME": str(home)},
    )


def test_a_task_process_cannot_open_an_svg(tmp_path: Path) -> None:
    unblocked = in_a_fresh_interpreter(LOAD, tmp_path)
    assert unblocked.returncode == 0 and unblocked.stdout.strip() == "40", unblocked.stderr
    setup = (
        "from tilework.core.settings import Settings\n"
        "from tilework.worker.running import TaskRunner\n"
        f"TaskRunner(Settings(home={str(tmp_path)!r}))\n"
    )
    blocked = in_a_fresh_interpreter(setup + LOAD, tmp_path)
    assert blocked.returncode != 0, blocked.stdout
    assert "pyvips.error.Error" in blocked.stderr and "not in a known format" in blocked.stderr


def test_a_task_process_keeps_no_libvips_operation_cache(tmp_path: Path) -> None:
    """libvips keeps recent operations and their pixels for reuse, which a task process almost
    never asks for; what it kept stayed in the process between tasks."""
    work = (
        "import pyvips\n"
        "image = pyvips.Image.black(256, 256).gaussblur(2)\n"
        "image.avg(); image.avg()\n"
        "print(pyvips.cache_get_size())\n"
    )
    plain = in_a_fresh_interpreter(work, tmp_path)
    assert plain.returncode == 0 and int(plain.stdout) > 0, plain.stderr
    setup = (
        "from tilework.core.settings import Settings\n"
        "from tilework.worker.running import TaskRunner\n"
        f"TaskRunner(Settings(home={str(tmp_path)!r}))\n"
    )
    task_process = in_a_fresh_interpreter(setup + work, tmp_path)
    assert task_process.returncode == 0 and int(task_process.stdout) == 0, task_process.stderr
