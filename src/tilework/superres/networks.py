"""Where a task's super-resolution pass runs: ncnn here, or the device's model process."""

from __future__ import annotations

from typing import Protocol

from tilework.core.settings import Settings
from tilework.superres.pixels import Pixels


class Upscaler(Protocol):
    def upscale(self, rgb: Pixels) -> Pixels: ...


def network(model: str, factor: int, settings: Settings) -> Upscaler:
    """The pass ``model`` × ``factor`` as this task process should run it."""
    if settings.model_socket:
        from tilework.superres.client import RemoteNetwork

        return RemoteNetwork(settings.model_socket, model, factor)
    from tilework.superres.ncnn import network as ncnn_network

    return ncnn_network(model, factor, settings.resolved_model_threads)
