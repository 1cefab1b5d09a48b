"""Output destinations: a tenant's own bucket that a job's outputs are delivered to, under a
key its path template makes (``renders/{user_id}/{project_id}-{job_id}.{ext}``).

Pure values and the template's rules; ``store.destinations`` keeps them (credentials sealed),
``objects.destinations`` opens the bucket, a job's ``deliver`` stage copies the files.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tilework.core.jobs import JobRecord, JsonDict

DELIVER_KIND = "deliver"  # the task that copies a job's outputs to its destination
DELIVER_STAGE = "deliver"  # its stage's name, last in the job's stages
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a value put in a key
# Known for every job when it is submitted; the output's own, once it is made.
JOB_FIELDS = frozenset({"job_id", "tenant", "operation", "date"})
OUTPUT_FIELDS = frozenset({"index", "ext", "name"})
DEFAULT_TEMPLATE = "{job_id}/{name}"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class Destination:
    """Where a tenant's outputs go: ``bucket`` (under ``prefix``) at ``endpoint``, read by
    anyone at ``public_url`` when ``public``, else through URLs signed with the credentials.
    ``render_projects``: the render contract's projects (``*``: all) delivered here."""

    tenant: str
    name: str
    bucket: str
    prefix: str = ""
    path_template: str = DEFAULT_TEMPLATE
    endpoint: str | None = None
    region: str | None = None
    public: bool = False
    public_url: str | None = None
    render_projects: list[str] = field(default_factory=list)
    credentials: Credentials | None = None

    @property
    def context(self) -> str:
        """What its sealed credentials are bound to."""
        return f"destination:{self.tenant}/{self.name}"

    def serves_project(self, project_id: str) -> bool:
        return "*" in self.render_projects or project_id in self.render_projects


def template_fields(template: str) -> list[str]:
    """The names a path template uses; ValueError for anything but plain ``{name}`` fields."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"not a path template: {exc}") from None
    if template.startswith("/") or {".", ".."} & set(template.split("/")):
        raise ValueError("a path template makes a relative key: no leading /, no . or ..")
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}}: fields are plain names, like {{job_id}}")
        names.append(name)
    if not template.strip("/"):
        raise ValueError("a path template may not be empty")
    return names


def job_values(job: JobRecord, given: dict[str, str]) -> dict[str, str]:
    """The values a job's path template may use before its outputs exist: its own fields, its
    params that are plain names (``user_id``, ``project_id``), and the ``vars`` it gave."""
    values = {
        name: str(value)
        for name, value in job.params.items()
        if isinstance(value, str | int) and SEGMENT.match(str(value))
    }
    values.update(given)
    values.update(
        job_id=job.id,
        tenant=job.tenant,
        operation=job.operation,
        date=datetime.fromtimestamp(job.created_at, UTC).strftime("%Y-%m-%d"),
    )
    return values


def missing_fields(template: str, params: JsonDict, given: dict[str, str]) -> list[str]:
    """The fields of ``template`` that a job with these params and vars could not fill."""
    known = set(JOB_FIELDS | OUTPUT_FIELDS | set(given))
    known.update(
        name
        for name, value in params.items()
        if isinstance(value, str | int) and SEGMENT.match(str(value))
    )
    return [name for name in template_fields(template) if name not in known]


def delivered_key(
    template: str, values: dict[str, str], output: JsonDict, index: int, count: int
) -> str:
    """Output ``index`` of ``count``'s key in the destination. With several outputs and no
    ``{index}`` in the template, ``-<index>`` goes before the extension, so none overwrites
    another."""
    name = str(output["key"]).rsplit("/", 1)[-1]  # the file's name here, with its extension
    _, dot, ext = name.rpartition(".")
    ext = ext if dot else str(output.get("format") or "bin")
    filled = {**values, "index": str(index), "ext": ext, "name": name}
    key = template.format(**filled)
    if count > 1 and "index" not in template_fields(template):
        stem, dot, ext = key.rpartition(".")
        key = f"{stem}-{index}.{ext}" if dot and "/" not in ext else f"{key}-{index}"
    return key


def with_values(given: Any) -> dict[str, str]:
    """A job's ``vars``, each a plain name (it becomes a key segment)."""
    if not isinstance(given, dict):
        raise ValueError("vars is an object of names to values")
    found: dict[str, str] = {}
    for name, value in given.items():
        if not isinstance(value, str | int) or not SEGMENT.match(str(value)):
            raise ValueError(f"vars.{name}: letters, digits, '.', '_' and '-' only")
        found[str(name)] = str(value)
    return found
