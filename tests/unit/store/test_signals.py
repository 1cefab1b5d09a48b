"""The wake-up an idle worker waits on: a wake is never lost, whenever it comes."""

from __future__ import annotations

import threading
import time

from tilework.store.notify import Polling


def test_a_wake_after_the_mark_ends_the_wait_at_once() -> None:
    signal = Polling()
    seen = signal.mark()
    signal.wake()  # tasks committed while the worker was still looking for them
    started = time.monotonic()
    signal.wait(30, seen)
    assert time.monotonic() - started < 10  # against the wait's 30 s


def test_a_wait_without_a_wake_lasts_its_timeout_and_a_wake_cuts_it_short() -> None:
    signal = Polling()
    started = time.monotonic()
    signal.wait(0.2, signal.mark())
    assert time.monotonic() - started >= 0.2
    waker = threading.Timer(0.1, signal.wake)
    waker.start()
    started = time.monotonic()
    signal.wait(30, signal.mark())
    assert time.monotonic() - started < 10  # woken after 0.1 s, against the wait's 30 s
    waker.join()
