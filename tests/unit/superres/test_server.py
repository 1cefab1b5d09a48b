"""The model process: one per device, shared by task processes, restarted when it dies.

It runs here on the CPU (``torch-cpu``); on a GPU machine the same process holds ``cuda:N``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.pixels import Pixels
from tilework.core.errors import ErrorCode, TileworkError
from tilework.superres.client import RemoteNetwork
from tilework.superres.processes import ModelProcesses
from tilework.superres.torchnetwork import TorchNetwork


@pytest.fixture
def models() -> Iterator[ModelProcesses]:
    processes = ModelProcesses(["cpu"], required=True)
    processes.start()
    yield processes
    processes.stop()


def picture(seed: int, height: int = 40, width: int = 56) -> Pixels:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


def close_enough(a: Pixels, b: Pixels) -> bool:
    return a.shape == b.shape and int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) <= 1


def test_tiles_from_several_task_processes_share_one_model_process(
    models: ModelProcesses,
) -> None:
    # Every worker is pointed at the one device's process.
    assert models.address(0) == models.address(3) != ""
    inputs = [picture(seed) for seed in range(6)]
    results: dict[int, Pixels] = {}

    def send(index: int) -> None:
        # A thread per sender, each with its own connection, as separate task processes have.
        results[index] = RemoteNetwork(models.address(0), "animevideov3", 2).upscale(inputs[index])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    direct = TorchNetwork("animevideov3", 2, "cpu")
    for index, rgb in enumerate(inputs):
        assert close_enough(results[index], direct.upscale(rgb)), index


def test_a_failed_run_is_answered_and_the_process_keeps_serving(models: ModelProcesses) -> None:
    with pytest.raises(TileworkError) as caught:
        RemoteNetwork(models.address(0), "no-such-model", 4).upscale(picture(1))
    assert caught.value.code is ErrorCode.PIPELINE_ERROR
    assert "no-such-model" in caught.value.message
    out = RemoteNetwork(models.address(0), "animevideov3", 3).upscale(picture(2))
    assert out.shape == (120, 168, 3)


def test_a_killed_model_process_fails_its_tile_retryably_and_comes_back(
    models: ModelProcesses,
) -> None:
    net = RemoteNetwork(models.address(0), "animevideov3", 2)
    net.upscale(picture(3))
    process = models._processes[0]
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with pytest.raises(TileworkError) as caught:
        net.upscale(picture(3))
    assert caught.value.code is ErrorCode.UNAVAILABLE and caught.value.retryable
    deadline = time.monotonic() + 60
    while True:  # the pool's watcher starts a successor on the same socket
        try:
            assert net.upscale(picture(3)).shape == (80, 112, 3)
            break
        except TileworkError:
            assert time.monotonic() < deadline, "the model process did not come back"
            time.sleep(0.5)
    assert models._processes[0] is not process


def test_a_gpu_torch_cannot_see_is_dropped_when_guessed_and_an_error_when_asked_for() -> None:
    if torch_sees_a_gpu():
        # A GPU machine, where the opposite holds: the model process holds cuda:0.
        held = ModelProcesses(["cuda:0"], required=True)
        try:
            held.start()
            assert held.address(0) != ""
        finally:
            held.stop()
        return
    # This machine's torch has no CUDA device: the model process says so and exits.
    guessed = ModelProcesses(["cuda:0"], required=False)
    guessed.start()
    try:
        assert guessed.address(0) == ""  # the task processes run ncnn themselves
    finally:
        guessed.stop()
    asked = ModelProcesses(["cuda:0"], required=True)
    try:
        with pytest.raises(TileworkError, match=r"model process for cuda:0 exited with code 3"):
            asked.start()
    finally:
        asked.stop()


def test_a_sender_that_leaves_mid_run_does_not_take_the_process_down(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Started here, not by the fixture, so that its stderr is the one capfd reads.
    models = ModelProcesses(["cpu"], required=True)
    models.start()
    try:
        _leave_mid_run(models, capfd)
    finally:
        models.stop()


def _leave_mid_run(models: ModelProcesses, capfd: pytest.CaptureFixture[str]) -> None:
    from multiprocessing.connection import Client

    rgb = picture(4)
    leaving = Client(models.address(0), family="AF_UNIX")
    leaving.send(("animevideov3", 2, rgb.shape))
    leaving.send_bytes(rgb.reshape(-1).data)
    leaving.close()  # as a task process killed while its tile runs
    out = RemoteNetwork(models.address(0), "animevideov3", 2).upscale(rgb)
    assert out.shape == (80, 112, 3)
    process = models._processes[0]
    assert process is not None and process.poll() is None
    # The answer to the departed sender is dropped quietly, not with a connection thread's
    # traceback: read the model process's stderr (ours) until it says it dropped it.
    err = ""
    deadline = time.monotonic() + 30
    while "sender_left" not in err:
        err += capfd.readouterr().err
        assert "Traceback" not in err, err
        assert time.monotonic() < deadline, f"the answer was never dropped: {err}"
        time.sleep(0.05)


def test_stop_ends_the_model_process_by_its_normal_exit(models: ModelProcesses) -> None:
    # After a run, torch's threads are up: SIGTERM may land on one of them, not the main one.
    RemoteNetwork(models.address(0), "animevideov3", 2).upscale(picture(5))
    [process] = models._processes
    assert process is not None
    models.stop()
    # Not the kill after the grace period (STOP_SECONDS), which would say -9: the exit code
    # tells them apart however slow the machine, where a clock would need a margin.
    assert process.returncode == 0


def torch_sees_a_gpu() -> bool:
    torch = pytest.importorskip("torch", reason="model processes run on torch")
    return bool(torch.cuda.is_available())
