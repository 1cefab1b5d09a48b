"""``/metrics``: everything Prometheus scrapes, read from the database at each scrape, so one
API host answers for every host (worker hosts serve no HTTP) and a restart loses nothing.

Where each comes from:
- gauges (``tilework_jobs``, ``tilework_tasks``, the oldest waits, ``tilework_workers``): the
  state now, counted at the scrape (``store.gauges``, ``store.workers``);
- counters (``*_total``): totals kept in the ``counters`` table, added to in the transaction
  that does what they count, so they never fall when retention deletes rows;
- histograms (job times, upload times): bucket counts kept in ``histogram_buckets``, into
  which ended jobs are folded once (``store.histograms.fold``: here, at every retention
  sweep, and before a job's rows are deleted), made cumulative here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tilework.service.services import Services
from tilework.store.counters import totals
from tilework.store.gauges import job_counts, oldest_due_wait, task_counts
from tilework.store.histograms import (
    FOLD_BATCH,
    INF,
    JOB_SECONDS,
    UPLOAD_SECONDS,
    Bucket,
    bucket_label,
    buckets,
    fold,
)
from tilework.store.workers import listed

PREFIX = "tilework_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Every counter, shown even before it first counts: (help, its labels).
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "jobs_failed_total": ("Jobs that failed, by operation and error code.", ("operation", "code")),
    "jobs_deleted_total": ("Jobs deleted, by retention, request or purge.", ("reason",)),
    "files_deleted_total": ("Stored files deleted, by why.", ("reason",)),
    "cache_hits_total": ("Jobs answered from the result cache.", ("operation",)),
    "task_retries_total": ("Failed task attempts queued again.", ("operation",)),
    "task_lease_expired_total": (
        "Task attempts lost with their worker (its lease lapsed).",
        ("operation",),
    ),
    "task_process_crashes_total": (
        "Task processes that died under a task (a crash, a kill, the CPU cap).",
        ("operation",),
    ),
    "webhook_deliveries_total": (
        "Webhook attempts by what came of each: delivered, retried, failed, disabled.",
        ("outcome",),
    ),
    "credits_charged_total": ("Credits charged for jobs that succeeded.", ("operation",)),
}
HISTOGRAMS: dict[str, tuple[str, Sequence[float], tuple[str, ...]]] = {
    "job_queue_wait_seconds": (
        "From a job's submit to its first task's start.",
        JOB_SECONDS,
        ("operation", "status"),
    ),
    "job_run_seconds": (
        "From a job's first task's start to its end.",
        JOB_SECONDS,
        ("operation", "status"),
    ),
    "job_duration_seconds": (
        "From a job's submit to its end.",
        JOB_SECONDS,
        ("operation", "status"),
    ),
    "upload_seconds": ("Time a job spent storing its outputs.", UPLOAD_SECONDS, ("operation",)),
}


class _Scrape(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        database = self.services.database
        yield from self._state()
        counted = defaultdict(list)
        for each in totals(database):
            counted[each.name].append(each)
        for name, (text, labels) in COUNTERS.items():
            family = CounterMetricFamily(PREFIX + name.removesuffix("_total"), text, labels=labels)
            for each in counted.get(name, []):
                family.add_metric([each.labels.get(label, "") for label in labels], each.value)
            yield family
        observed = defaultdict(list)
        for bucket in buckets(database):
            observed[bucket.name].append(bucket)
        for name, (text, bounds, labels) in HISTOGRAMS.items():
            yield _histogram(PREFIX + name, text, bounds, labels, observed.get(name, []))

    def _state(self) -> Iterator[Metric]:
        database = self.services.database
        jobs = GaugeMetricFamily(
            PREFIX + "jobs",
            "Jobs kept now, by status and operation.",
            labels=["status", "operation"],
        )
        for status, operation, count in job_counts(database):
            jobs.add_metric([status, operation], count)
        yield jobs
        tasks = GaugeMetricFamily(PREFIX + "tasks", "Tasks kept now, by status.", labels=["status"])
        for status, count in task_counts(database):
            tasks.add_metric([status], count)
        yield tasks
        yield GaugeMetricFamily(
            PREFIX + "queue_oldest_task_seconds",
            "How long the oldest task that could run now has waited.",
            value=oldest_due_wait(database),
        )
        now = time.time()
        by_tenant = GaugeMetricFamily(
            PREFIX + "tenant_queue_oldest_task_seconds",
            "How long each tenant's oldest waiting task has waited.",
            labels=["tenant"],
        )
        queued = GaugeMetricFamily(
            PREFIX + "tenant_tasks",
            "Each tenant's tasks waiting and running.",
            labels=["tenant", "status"],
        )
        for share in self.services.queue.tenant_queues():
            oldest = share.oldest_queued_at
            by_tenant.add_metric([share.tenant], 0.0 if oldest is None else max(0.0, now - oldest))
            queued.add_metric([share.tenant, "queued"], share.queued)
            queued.add_metric([share.tenant, "running"], share.running)
        yield by_tenant
        yield queued
        workers = GaugeMetricFamily(
            PREFIX + "workers", "Worker threads of the hosts alive, by host.", labels=["host"]
        )
        hosts = GaugeMetricFamily(
            PREFIX + "worker_hosts",
            "Worker host processes alive and gone (gone ones are listed a day).",
            labels=["state"],
        )
        threads: dict[str, int] = defaultdict(int)
        states = {"alive": 0, "gone": 0}
        for host in listed(database):
            if host.alive(now):
                threads[host.host] += host.workers
                states["alive"] += 1
            else:
                states["gone"] += 1
        for name, count in sorted(threads.items()):
            workers.add_metric([name], count)
        for state, count in states.items():
            hosts.add_metric([state], count)
        yield workers
        yield hosts


def _histogram(
    name: str, text: str, bounds: Sequence[float], labels: tuple[str, ...], found: list[Bucket]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, text, labels=labels)
    series: dict[tuple[str, ...], list[Bucket]] = defaultdict(list)
    for bucket in found:
        series[tuple(bucket.labels.get(label, "") for label in labels)].append(bucket)
    for values, rows in sorted(series.items()):
        counts = {row.le: row.count for row in rows}
        cumulative, total = [], 0.0
        for upper in [*(bucket_label(b) for b in bounds), INF]:
            total += counts.get(upper, 0.0)
            cumulative.append((upper, total))
        family.add_metric(list(values), cumulative, sum(row.sum for row in rows))
    return family


# At most this many jobs a scrape folds into the histograms (the rest wait for the next
# scrape or sweep), so a scrape after a long quiet stays quick.
FOLD_AT_SCRAPE = 10 * FOLD_BATCH


def scrape(services: Services) -> bytes:
    """The text exposition of every metric, as of now (jobs ended since the last scrape
    folded into the histograms first)."""
    folded = FOLD_BATCH
    for _ in range(FOLD_AT_SCRAPE // FOLD_BATCH):
        if folded < FOLD_BATCH:
            break
        with services.database.write() as conn:
            folded = fold(conn)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(services))
    return generate_latest(registry)
