"""Tiles that fail: retried, then the job fails with the tile's error, or falls back to lanczos."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import natural_photo
from tests.worker.upscale.harness import Inline
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobStatus, NewJob
from tilework.store.schema import tasks
from tilework.superres import catalog


def submit_broken(inline: Inline, tmp_path: Path, broken: list[int], **params: object) -> str:
    key = inline.upload(natural_photo(tmp_path / "photo.png", 64, 64))
    operation = inline.registry.get("test_broken_tiles")
    valid = operation.validate({"scale": 2, "tile": 32, "broken_tiles": broken, **params})
    new = NewJob(operation.name, valid.model_dump(mode="json"), {"key": key}, ["x"])
    return inline.queue.create_job(new)[0].id


def tile_attempts(inline: Inline, job_id: str) -> dict[int, int]:
    with inline.queue.db.read() as conn:
        rows = conn.execute(
            tasks.select().where(tasks.c.job_id == job_id, tasks.c.kind == "tile")
        ).all()
    return {row.payload["index"]: row.attempts for row in rows}


def test_a_tile_out_of_attempts_fails_the_job_with_its_error(
    inline: Inline, tmp_path: Path
) -> None:
    job = inline.drain(submit_broken(inline, tmp_path, [2]))
    assert job.status is JobStatus.FAILED
    assert job.error_code == "pipeline_error" and "tile 2 broke" in (job.error_message or "")
    assert tile_attempts(inline, job.id)[2] == inline.settings.max_attempts


def test_fallback_renders_the_failed_tile_with_lanczos_and_warns(
    inline: Inline, tmp_path: Path
) -> None:
    job = inline.drain(submit_broken(inline, tmp_path, [1], on_tile_failure="fallback"))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    assert job.warnings == ["tile 1 failed and was rendered with lanczos instead"]
    assert inline.output(job).shape == (128, 128, 3)  # no hole where tile 1 was


def test_fallback_still_fails_when_more_than_half_the_tiles_fell_back(
    inline: Inline, tmp_path: Path
) -> None:
    job = inline.drain(submit_broken(inline, tmp_path, [0, 1, 3], on_tile_failure="fallback"))
    assert job.status is JobStatus.FAILED
    assert job.error_code == "pipeline_error"
    assert "3 of 4 tiles failed" in (job.error_message or "")


def test_a_model_that_is_not_installed_is_refused_at_submit(
    inline: Inline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = inline.upload(natural_photo(tmp_path / "photo.png", 32, 32))
    monkeypatch.setattr(catalog, "WEIGHTS_DISTRIBUTION", "realesrgan-weights-that-are-not-here")
    with pytest.raises(TileworkError) as refused:
        inline.submit(key, model="x4plus")
    assert refused.value.code is ErrorCode.VALIDATION_FAILED
    assert "not installed" in refused.value.message
    assert refused.value.details["errors"][0]["field"] == "params.model"
    inline.submit(key, model="lanczos")  # needs no weights
