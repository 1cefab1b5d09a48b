"""``tilework logs JOB_ID [FILE...]``: one job's lines from the logs of its hosts, in order.

Every line about a job or a task names its ``job_id`` (and ``task_id``, ``tenant``, ``host``),
in the key=value lines or the JSON ones (``TILEWORK_LOG_JSON``); lines from several files
(several hosts) are merged by their timestamps."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer

_TIMESTAMP = re.compile(r"timestamp='([^']*)'")


def logs(
    job_id: Annotated[str, typer.Argument(help="The job whose lines to show.")],
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Log files, one per host (default: standard input).", exists=True),
    ] = None,
) -> None:
    """Show one job's log lines, from one or several hosts' logs, in time order."""
    found: list[tuple[str, int, str]] = []
    for source, lines in enumerate(_sources(files or [])):
        for position, line in enumerate(lines):
            if about(line, job_id):
                found.append((_timestamp(line), source * 1_000_000_000 + position, line))
    for _, _, line in sorted(found):
        sys.stdout.write(line if line.endswith("\n") else line + "\n")


def about(line: str, job_id: str) -> bool:
    """Whether a log line is about ``job_id`` (its ``job_id`` field)."""
    if job_id not in line:  # most lines: no parse
        return False
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            return bool(json.loads(stripped).get("job_id") == job_id)
        except ValueError:
            return False
    return re.search(rf"(?:^|\s)job_id='?{re.escape(job_id)}'?(?:\s|$)", stripped) is not None


def _timestamp(line: str) -> str:
    """The line's ISO timestamp, for ordering (ISO strings in UTC sort as times do)."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            return str(json.loads(stripped).get("timestamp", ""))
        except ValueError:
            return ""
    match = _TIMESTAMP.search(stripped)
    return match.group(1) if match else ""


def _sources(files: list[Path]) -> Iterator[Iterable[str]]:
    if not files:
        yield list(sys.stdin)
        return
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield list(handle)
