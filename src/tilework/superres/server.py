"""The model process: the one process that owns a device, serving every task process's tiles.

Started by the worker pool as ``python -m tilework.superres.server ADDRESS DEVICE``, one per
GPU. A CUDA context costs hundreds of MiB and GPU memory split between processes fills neither
well, so task processes never load torch: they send tiles here (``superres/client``). One
thread per connection receives tiles; the main thread takes whatever has arrived, runs the
tiles of each pass as shared batches and answers each sender.
"""

from __future__ import annotations

import math
import queue
import signal
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener

import numpy as np
import structlog
import torch

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.logging import configure_logging
from tilework.core.parent import exit_with_parent
from tilework.core.settings import Settings
from tilework.superres.pixels import Pixels
from tilework.superres.processes import EXIT_NO_DEVICE
from tilework.superres.torchnetwork import TorchNetwork

log = structlog.get_logger("tilework.models")


@dataclass
class Run:
    """One tile through one pass, waiting for its result."""

    model: str
    factor: int
    pixels: Pixels
    done: threading.Event = field(default_factory=threading.Event)
    result: Pixels | None = None
    error: TileworkError | None = None


SIGNAL_CHECK_SECONDS = 0.5


def serve(address: str, device: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when this process stops
    # The pool's SIGTERM ends the process by its normal exit, so that atexit handlers
    # (logging's, coverage's when the tests measure it) run.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    exit_with_parent()
    # The environment is the pool's, so the same settings (for logging) read from it.
    configure_logging(Settings())
    if device.startswith("cuda"):
        if not torch.cuda.is_available() or torch.device(device).index >= torch.cuda.device_count():
            print(f"tilework model process: no CUDA device {device}", file=sys.stderr)
            sys.exit(EXIT_NO_DEVICE)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # a few window shapes recur all the time
    runs: queue.Queue[Run] = queue.Queue()
    listener = Listener(address, family="AF_UNIX")
    threading.Thread(target=_accept, args=(listener, runs), name="accept", daemon=True).start()
    _run_forever(runs, device)


def _accept(listener: Listener, runs: queue.Queue[Run]) -> None:
    while True:
        conn = listener.accept()
        threading.Thread(target=_serve_connection, args=(conn, runs), daemon=True).start()


def _serve_connection(conn: Connection, runs: queue.Queue[Run]) -> None:
    with conn:
        while True:
            try:
                model, factor, shape = conn.recv()
                # Into a buffer of our own: torch wants writable arrays, and bytes are not.
                buffer = bytearray(math.prod(shape))
                conn.recv_bytes_into(buffer)
                pixels = np.frombuffer(buffer, dtype=np.uint8).reshape(shape)
            except (EOFError, OSError):
                return
            run = Run(model, factor, pixels)
            runs.put(run)
            run.done.wait()
            try:
                _answer(conn, run)
            except OSError:  # the task process died or was killed while its tile ran
                log.info("sender_left", model=run.model, factor=run.factor)
                return


def _answer(conn: Connection, run: Run) -> None:
    if run.error is not None:
        conn.send(("error", run.error.code.value, run.error.message))
        return
    assert run.result is not None
    conn.send(("ok", run.result.shape))
    conn.send_bytes(np.ascontiguousarray(run.result).reshape(-1).data)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    sys.exit(0)


def _next_run(runs: queue.Queue[Run]) -> Run:
    # Python runs a signal handler in the main thread, between bytecodes; a SIGTERM that the
    # kernel gives to another thread (torch's, a connection's) waits for this one to wake. A
    # wait with a timeout wakes it, so the handler runs within SIGNAL_CHECK_SECONDS.
    while True:
        try:
            return runs.get(timeout=SIGNAL_CHECK_SECONDS)
        except queue.Empty:
            continue


def _run_forever(runs: queue.Queue[Run], device: str) -> None:
    networks = Networks(device)
    while True:
        waiting = [_next_run(runs)]
        while True:  # everything that arrived meanwhile joins this round's batches
            try:
                waiting.append(runs.get_nowait())
            except queue.Empty:
                break
        by_pass: dict[tuple[str, int], list[Run]] = defaultdict(list)
        for run in waiting:
            by_pass[(run.model, run.factor)].append(run)
        for (model, factor), group in by_pass.items():
            _run_group(networks, model, factor, group)


class Networks:
    """Each pass loaded once, on first use, and kept: a few passes exist and all are small."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._loaded: dict[tuple[str, int], TorchNetwork] = {}

    def get(self, model: str, factor: int) -> TorchNetwork:
        if (model, factor) not in self._loaded:
            net = self._loaded[(model, factor)] = TorchNetwork(model, factor, self.device)
            log.info(
                "model_loaded",
                device=self.device,
                model=model,
                factor=factor,
                dtype=str(net.dtype),
                batch_pixels=net.batch_pixels,
            )
        return self._loaded[(model, factor)]


def _run_group(networks: Networks, model: str, factor: int, group: list[Run]) -> None:
    """Every run of one pass as shared batches; a failure answers each of its senders."""
    try:
        results = networks.get(model, factor).upscale_many([run.pixels for run in group])
    except TileworkError as exc:
        error: TileworkError | None = exc
    except Exception as exc:  # a failed batch must answer its senders, not end the process
        error = TileworkError(ErrorCode.PIPELINE_ERROR, f"model run failed: {exc!r}")
    else:
        error = None
    for index, run in enumerate(group):
        if error is None:
            run.result = results[index]
        run.error = error
        run.done.set()


def main() -> None:
    serve(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
