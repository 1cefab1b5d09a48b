"""The ``resize`` operation."""

from tilework.ops.resize.operation import operation

__all__ = ["operation"]
