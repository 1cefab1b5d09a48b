"""Histograms kept in the database (``schema.histogram_buckets``): each observation adds one
to its bucket's count, and its value to the bucket's sum, in the transaction that does the
work, on whichever host. ``/metrics`` reads them back cumulative, as Prometheus wants."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.store.database import Database
from tilework.store.dialect import upsert_into
from tilework.store.schema import histogram_buckets

INF = "+Inf"
# A job's times: a thumbnail's seconds to a gigapixel upscale's hour.
JOB_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Storing one output: a small file on a local disk to a large one over a slow link.
UPLOAD_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class Bucket:
    name: str
    labels: dict[str, str]
    le: str  # its upper bound, or "+Inf"
    count: float
    sum: float


def bound(value: float, bounds: Sequence[float]) -> str:
    """The label of the bucket ``value`` falls in: the first bound not below it."""
    for upper in bounds:
        if value <= upper:
            return _label(upper)
    return INF


def observe(
    conn: sa.Connection, name: str, value: float, bounds: Sequence[float], **labels: str
) -> None:
    if math.isnan(value):
        return
    value = max(value, 0.0)  # clocks of two hosts may disagree by a little
    row = {
        "name": name,
        "labels": json.dumps(labels, sort_keys=True),
        "le": bound(value, bounds),
        "count": 1.0,
        "sum": value,
    }
    insert = upsert_into(conn.dialect.name, histogram_buckets)
    c = histogram_buckets.c
    conn.execute(
        insert.values(**row).on_conflict_do_update(
            index_elements=[c.name, c.labels, c.le],
            set_={"count": c.count + insert.excluded.count, "sum": c.sum + insert.excluded.sum},
        )
    )


def buckets(database: Database) -> list[Bucket]:
    with database.read() as conn:
        rows = conn.execute(sa.select(histogram_buckets)).mappings()
        return [
            Bucket(row["name"], json.loads(row["labels"]), row["le"], row["count"], row["sum"])
            for row in rows
        ]


def _label(upper: float) -> str:
    return repr(float(upper))
