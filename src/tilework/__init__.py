"""tilework: asynchronous image jobs with a durable queue, workers and object storage."""

__version__ = "0.1.0"
