"""``steps``: several operations as one job, each step's output the next step's input."""

from tilework.ops.steps.operation import Steps

__all__ = ["Steps"]
