"""``predict``: a hosted model (on Replicate or fal, or another tilework server speaking either)
run as a durable job, its files copied into tilework's storage as soon as it ends."""

from tilework.ops.predict.operation import operation

__all__ = ["operation"]
