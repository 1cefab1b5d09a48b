"""The ``palette`` operation."""

from tilework.ops.palette.operation import operation

__all__ = ["operation"]
