"""The durable queue: jobs run as stages of tasks that workers claim with leases.

``interface`` is what the API and the workers depend on, ``workflow`` the decisions a job's
life is made of (testable without a database), ``sql`` the implementation on SQLite and
PostgreSQL.
"""

from tilework.queue.interface import (
    Admission,
    Completion,
    JobReads,
    Queue,
    TaskLeases,
    TenantQueue,
)
from tilework.queue.policy import QueuePolicy

__all__ = [
    "Admission",
    "Completion",
    "JobReads",
    "Queue",
    "QueuePolicy",
    "TaskLeases",
    "TenantQueue",
]
