"""The upscale tests' harness as a fixture."""

from __future__ import annotations

import pytest

from tests.worker.upscale.harness import Inline
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.queue.sql import SqlQueue


@pytest.fixture
def inline(settings: Settings, queue: SqlQueue, objects: ObjectStore) -> Inline:
    return Inline(settings, queue, objects)
