"""The ``render`` operation."""

from tilework.ops.render.operation import operation

__all__ = ["operation"]
