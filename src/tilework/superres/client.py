"""Super-resolution runs sent to the model process that owns a device (``superres/server``).

A task process keeps one connection per model process and sends each tile whole; the model
process batches tiles from every task process together. The messages are a pickled header
``(model, factor, shape)`` and the raw pixels; the answer is ``("ok", shape)`` and raw pixels,
or ``("error", code, message)``.
"""

from __future__ import annotations

import threading
from multiprocessing.connection import Client, Connection

import numpy as np

from tilework.core.errors import ErrorCode, TileworkError
from tilework.superres.pixels import Pixels

# Per thread: a connection carries one request and its answer at a time.
_local = threading.local()


class RemoteNetwork:
    """One pass (model × factor) run by the model process at ``address``."""

    def __init__(self, address: str, model: str, factor: int) -> None:
        self.address, self.model, self.factor = address, model, factor

    def upscale(self, rgb: Pixels) -> Pixels:
        pixels = np.ascontiguousarray(rgb)
        try:
            conn = _connection(self.address)
            conn.send((self.model, self.factor, pixels.shape))
            conn.send_bytes(pixels.reshape(-1).data)  # flat: send_bytes counts items
            answer = conn.recv()
            if answer[0] != "ok":
                raise TileworkError(ErrorCode(answer[1]), answer[2])
            data = conn.recv_bytes()
        except (EOFError, OSError) as exc:
            # The model process died or restarts; the task is retried against its successor.
            _connections().pop(self.address, None)
            raise TileworkError(
                ErrorCode.UNAVAILABLE, f"the model process is unreachable ({exc or 'closed'})"
            ) from exc
        result: Pixels = np.frombuffer(data, dtype=np.uint8).reshape(answer[1])
        return result


def _connections() -> dict[str, Connection]:
    if not hasattr(_local, "connections"):
        _local.connections = {}
    connections: dict[str, Connection] = _local.connections
    return connections


def _connection(address: str) -> Connection:
    connections = _connections()
    if address not in connections:
        connections[address] = Client(address, family="AF_UNIX")
    return connections[address]
