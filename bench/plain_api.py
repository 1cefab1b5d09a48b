"""The submit benchmark's anchor: what the seed teams wrote by hand, in its best honest form.

A plain FastAPI app whose ``POST /v1/jobs`` validates a JSON body equivalent to tilework's (an
operation, an input key, params) and inserts one row in its own SQLite transaction per request,
answering 201 with the job's id. SQLite in WAL mode with ``synchronous=NORMAL``, one connection
opened at start; the insert runs on the event loop (it takes well under a millisecond, less than
a hand-off to a thread would). Served by uvicorn with uvloop and httptools, no access log.

No keys, no limits, no idempotency, no credits, no events: it does less than tilework, which is
the point of the comparison. Frozen for issue 32: do not tune it.

Run: ``python bench/plain_api.py DATABASE_FILE PORT``; ``bench/submit.py`` starts it.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    input_key TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


class JobInput(BaseModel):
    key: str = Field(min_length=1, max_length=1024)


class NewJob(BaseModel):
    operation: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    input: JobInput
    params: dict[str, Any] = Field(default_factory=dict)


class Created(BaseModel):
    id: str
    status: str


def make_app(database: str) -> FastAPI:
    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(SCHEMA)
    app = FastAPI()

    @app.post("/v1/jobs", status_code=201)
    async def submit(job: NewJob) -> Created:
        job_id = str(uuid.uuid4())
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "INSERT INTO jobs (id, operation, input_key, params) VALUES (?, ?, ?, ?)",
                (job_id, job.operation, job.input.key, json.dumps(job.params)),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return Created(id=job_id, status="queued")

    return app


def main() -> None:
    database, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(
        make_app(database),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
