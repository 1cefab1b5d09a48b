"""Where objects live in the store (their keys, the paths under its root): the checks that keep
any key inside that root, and the keys of uploads and of jobs' outputs."""

from __future__ import annotations

import re
from typing import Any

from tilework.core.errors import ErrorCode, TileworkError

MAX_KEY_LENGTH = 512
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UPLOAD_KEY = re.compile(r"^uploads/[0-9a-f]{64}$")
_FILE_KEY = re.compile(r"^files/[0-9a-f]{64}$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ``validation_failed``."""
    segments = key.split("/")
    if not key or len(key) > MAX_KEY_LENGTH or not all(_SEGMENT.match(s) for s in segments):
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            "object keys are '/'-separated segments of letters, digits, '.', '_' and '-', "
            "each starting with a letter or digit",
            {"key": key[:MAX_KEY_LENGTH]},
        )
    return key


JOBS_FOLDER = "jobs/"


def job_folder(job_id: str) -> str:
    """Where everything a job's tasks make lives (its outputs, tiles, stage images)."""
    return f"{JOBS_FOLDER}{job_id}/"


def job_output_key(job_id: str, name: str) -> str:
    """Where a job's output lives: the same key on every attempt, so a re-run overwrites."""
    return validate_key(job_folder(job_id) + name)


def upload_key(sha256: str) -> str:
    """Uploads are content-addressed: the same bytes uploaded twice are one object."""
    return validate_key(f"uploads/{sha256}")


def uploads_named(document: Any) -> set[str]:
    """The upload keys a JSON document names anywhere (a job's input, its params)."""
    if isinstance(document, str):
        return {document} if _UPLOAD_KEY.match(document) else set()
    if isinstance(document, dict):
        document = list(document.values())
    if isinstance(document, list):
        return set().union(*(uploads_named(item) for item in document))
    return set()


def content_addressed(key: str) -> bool:
    """Whether ``key`` names bytes by their sha256 (an upload, a file): the same key, the
    same bytes, always."""
    return bool(_UPLOAD_KEY.match(key) or _FILE_KEY.match(key))


def file_key(sha256: str) -> str:
    """The bytes of Replicate-style files, once per tenant however many files name them; apart
    from uploads, so that deleting the last file that names them removes nothing else."""
    return validate_key(f"files/{sha256}")
