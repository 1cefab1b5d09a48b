"""The ``upscale`` operation; see ``operation``."""

from tilework.ops.upscale.operation import operation

__all__ = ["operation"]
