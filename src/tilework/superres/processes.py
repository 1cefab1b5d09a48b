"""The worker pool's model processes: one per device, restarted when one dies.

Task processes find theirs through ``Settings.model_socket``; worker ``i`` uses the ``i mod n``th
device that started, so every GPU serves the same number of task processes. A device torch
cannot see is dropped when it was only guessed (``TILEWORK_DEVICE=auto``), and an error when it
was asked for.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import structlog

from tilework.core.errors import ErrorCode, TileworkError

log = structlog.get_logger("tilework.models")

EXIT_NO_DEVICE = 3  # a model process's exit code when torch cannot see its device

READY_SECONDS = 120.0  # importing torch and creating a CUDA context, on a cold disk
WATCH_SECONDS = 1.0
STOP_SECONDS = 10.0


class ModelProcesses:
    def __init__(self, devices: list[str], required: bool) -> None:
        self.devices = devices
        self.required = required
        # Under the system's temporary directory: a Unix socket path must stay under 108 bytes,
        # which a deep TILEWORK_HOME could pass.
        self._folder = Path(tempfile.mkdtemp(prefix="tilework-models-")) if devices else None
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * len(devices)
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def address(self, worker_index: int) -> str:
        """The socket worker ``worker_index``'s task process sends to ("": run ncnn itself)."""
        running = [i for i, process in enumerate(self._processes) if process is not None]
        if not running:
            return ""
        return self._address(running[worker_index % len(running)])

    def _address(self, index: int) -> str:
        assert self._folder is not None
        return str(self._folder / f"{index}.sock")

    def start(self) -> None:
        """Start every model process and wait until each listens (or fails to start)."""
        try:
            for index in range(len(self.devices)):
                self._spawn(index)
            for index in range(len(self.devices)):
                self._wait_ready(index)
        except BaseException:
            self.stop()  # no process or socket folder outlives a failed start
            raise
        self._watcher = threading.Thread(target=self._watch, name="models-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        for process in self._processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in self._processes:
            if process is not None:
                try:
                    process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _spawn(self, index: int) -> None:
        address = Path(self._address(index))
        address.unlink(missing_ok=True)  # a dead predecessor's socket would refuse the bind
        self._processes[index] = subprocess.Popen(
            [sys.executable, "-m", "tilework.superres.server", str(address), self.devices[index]]
        )
        log.info("model_process_started", device=self.devices[index])

    def _wait_ready(self, index: int) -> None:
        process, address = self._processes[index], Path(self._address(index))
        assert process is not None
        deadline = time.monotonic() + READY_SECONDS
        while not address.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            return
        device = self.devices[index]
        if process.returncode == EXIT_NO_DEVICE and not self.required:
            log.info("model_device_unavailable", device=device, fallback="cpu")
            self._processes[index] = None
            return
        raise TileworkError(
            ErrorCode.UNAVAILABLE,
            f"the model process for {device} exited with code {process.returncode}",
        )

    def _watch(self) -> None:
        """Restart a model process that died; its task processes' tiles were retried meanwhile."""
        while not self._stopping.wait(WATCH_SECONDS):
            for index, process in enumerate(self._processes):
                if process is None or process.poll() is None or self._stopping.is_set():
                    continue
                log.warning(
                    "model_process_exited", device=self.devices[index], code=process.returncode
                )
                self._spawn(index)
