"""The resize operation on real images, run in-process as a worker's child would run it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pyvips

from tests.support import images
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import TaskRecord, TaskStatus
from tilework.core.settings import Settings
from tilework.objects.local import LocalObjectStore
from tilework.objects.store import ObjectStore
from tilework.ops.base import TaskContext
from tilework.ops.resize import operation
from tilework.ops.resize.params import ResizeParams

Run = Callable[..., dict[str, Any]]


@pytest.fixture
def run(settings: Settings, objects: ObjectStore, tmp_path: Path) -> Run:
    def go(source: Path, **params: Any) -> dict[str, Any]:
        task = TaskRecord(1, "job1", 0, 0, "resize", {}, TaskStatus.RUNNING, 1, 3, None, None, None)
        ctx = TaskContext(
            job_id="job1",
            task=task,
            params=ResizeParams(**params),
            input={"key": "uploads/src"},
            objects=objects,
            settings=settings,
            scratch=objects.scratch_dir(),
        )
        staged = objects.scratch_dir() / "src"
        staged.write_bytes(source.read_bytes())
        objects.put_file("uploads/src", staged)
        output: dict[str, Any] = operation.run(ctx)["outputs"][0]
        return output

    return go


def load(objects: ObjectStore, output: dict[str, Any]) -> pyvips.Image:
    assert isinstance(objects, LocalObjectStore)
    return pyvips.Image.new_from_file(str(objects.path_of(output["key"])))


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"width": 320}, (320, 240)),
        ({"height": 120}, (160, 120)),
        ({"width": 100, "height": 100}, (100, 75)),
        ({"width": 100, "height": 100, "fit": "cover"}, (100, 100)),
        ({"width": 100, "height": 20, "fit": "fill"}, (100, 20)),
        ({"width": 1280}, (1280, 960)),
    ],
)
def test_fits(
    run: Run, objects: ObjectStore, tmp_path: Path, params: dict[str, Any], size: tuple[int, int]
) -> None:
    output = run(images.photo(tmp_path / "p.jpg"), **params)
    image = load(objects, output)
    assert (image.width, image.height) == (output["width"], output["height"]) == size


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "tiff"])
def test_formats(run: Run, objects: ObjectStore, tmp_path: Path, fmt: str) -> None:
    output = run(images.photo(tmp_path / "p.png"), width=64, format=fmt)
    assert output["format"] == fmt and output["key"].startswith("jobs/job1/output.")
    assert load(objects, output).width == 64


def test_outputs_are_deterministic(run: Run, tmp_path: Path) -> None:
    source = images.photo(tmp_path / "p.jpg")
    assert run(source, width=200)["sha256"] == run(source, width=200)["sha256"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(
    run: Run, objects: ObjectStore, tmp_path: Path, orientation: int
) -> None:
    """Every rotation and mirror is undone: the output shows the picture upright, each colour
    in its own corner (stored turned, the pixels alone would put them elsewhere)."""
    source = images.oriented_jpeg(tmp_path / "o.jpg", orientation, width=60, height=40)
    output = run(source, width=300, height=300, format="png")
    image = load(objects, output)
    assert (output["width"], output["height"]) == (image.width, image.height) == (300, 200)
    assert images.quadrant_colours(image) == {c: c for c in images.QUADRANTS}
    assert image.get_typeof("orientation") == 0  # metadata stripped


def test_cmyk_becomes_srgb(run: Run, objects: ObjectStore, tmp_path: Path) -> None:
    image = load(objects, run(images.cmyk_jpeg(tmp_path / "c.jpg"), width=20, format="png"))
    assert (image.interpretation, image.bands) == ("srgb", 3)
    red, green, blue = (image.extract_band(n).avg() for n in range(3))
    assert red > 200 and green < 80 and blue < 80  # cyan ink off, magenta+yellow on: red


def test_sixteen_bit_becomes_eight_bit(run: Run, objects: ObjectStore, tmp_path: Path) -> None:
    image = load(objects, run(images.sixteen_bit_png(tmp_path / "s.png"), width=24, format="png"))
    assert image.format == "uchar"
    assert abs(image.extract_band(0).avg() - 60000 / 257) < 3


def test_palette_transparency_is_kept_in_png(
    run: Run, objects: ObjectStore, tmp_path: Path
) -> None:
    source = images.palette_png_with_transparency(tmp_path / "p.png")
    image = load(objects, run(source, width=40, format="png"))
    assert image.hasalpha()
    alpha = image.extract_band(3)
    assert alpha.crop(0, 0, 10, 40).min() == 255  # left half: palette index 1, opaque blue
    assert alpha.crop(30, 0, 10, 40).max() == 0  # right half: index 0, transparent by tRNS


def test_alpha_is_flattened_on_white_for_jpeg(
    run: Run, objects: ObjectStore, tmp_path: Path
) -> None:
    image = load(objects, run(images.rgba_png(tmp_path / "a.png"), width=30, format="jpeg"))
    assert image.bands == 3 and image.min() > 240


@pytest.mark.parametrize("name", ["p.jpg", "p.png"])
def test_truncated_input_is_corrupt_not_grey(run: Run, tmp_path: Path, name: str) -> None:
    source = images.truncated(images.photo(tmp_path / name), tmp_path / f"cut-{name}")
    with pytest.raises(TileworkError) as caught:
        run(source, width=100)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE and not caught.value.retryable


def test_pixel_flood_is_refused_from_the_header(run: Run, tmp_path: Path) -> None:
    with pytest.raises(TileworkError) as caught:
        run(images.huge_header_png(tmp_path / "flood.png", 100_000, 100_000), width=10)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


def test_non_images_are_unsupported(run: Run, tmp_path: Path) -> None:
    svg = tmp_path / "x.png"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(TileworkError) as caught:
        run(svg, width=10)
    assert caught.value.code is ErrorCode.UNSUPPORTED_FORMAT


def test_oversized_output_is_refused(run: Run, tmp_path: Path) -> None:
    with pytest.raises(TileworkError) as caught:
        run(images.photo(tmp_path / "p.jpg", 100, 50), width=65000)  # 2.1 gigapixels
    assert caught.value.code is ErrorCode.VALIDATION_FAILED


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"width": 0},
        {"width": 10, "fit": "cover"},
        {"width": 10, "format": "bmp"},
        {"width": 10, "quality": 101},
        {"width": 10, "colour": "red"},
    ],
)
def test_bad_params_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ResizeParams(**params)
