"""Palette benchmark (issue 6, seed 003): 7 palettes of a 4096×4096 photo, uploads slowed to ~2 s.

Run by hand: ``.venv/bin/python bench/palette.py [--workers N] [--upload-seconds S]``.

Storage is a real S3 server (moto) behind a throttling HTTP proxy on 127.0.0.1 that paces each
PUT's body so that one palette output takes ``--upload-seconds`` (2 s) to upload: a slow link
per connection, as seed 003 saw with Supabase Storage. Both sides use the same proxy, bucket
and recolouring code, measured in the same run:

- **baseline**, the seed's flow, in its own process: for each palette in turn, apply it, encode
  WebP, upload, then the next palette;
- **tilework**: one ``palette`` job on a real server (S3 storage through the proxy), from
  submit to succeeded, after one small warm-up job; the photo is uploaded before the clock
  starts, as the seed's image was already in storage. Its workers (default 4, more than the
  2 cores: palette tasks spend most of their time on uploads) recolour in parallel while at
  most ``max_parallel_uploads`` (``--parallel-uploads``, default 2) uploads run at once.

The floor on this design: 7 uploads of 2 s, two at a time, take 7 s once the first output is
ready; on 2 cores, with the baseline near 25 s, that alone is 0.3× before any other cost.

Targets: tilework's wall time ≤ 0.35× the baseline's; the peak RSS of every tilework process
≤ 3 decoded images (3 × 4096 × 4096 × 3 bytes = 144 MiB).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import images
from tests.support.httpproxy import HttpProxy
from tests.support.s3 import run_s3_server
from tests.support.server import ServerProcess

from bench.measure import MIB, Usage, measure, run_anchor
from tilework.core.formats import OutputFormat
from tilework.imaging.decode import srgb8
from tilework.imaging.encode import save
from tilework.imaging.recolour import palette_lut, recolour, tone_sample, tones
from tilework.ops.palette.params import rgb

SIDE = 4096
QUALITY = 80
WALL_TARGET = 0.35
DECODED_IMAGES = 3
PALETTES = [
    ["#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51"],
    ["#03071e", "#6a040f", "#d00000", "#f48c06", "#ffba08"],
    ["#0b132b", "#1c2541", "#3a506b", "#5bc0be", "#e0fbfc"],
    ["#2b2d42", "#8d99ae", "#edf2f4", "#ef233c"],
    ["#606c38", "#283618", "#fefae0", "#dda15e", "#bc6c25"],
    ["#000000", "#ffffff"],
    ["#390099", "#9e0059", "#ff0054", "#ff5400", "#ffbd00", "#f7f7f7"],
]

BASELINE = """
    import hashlib, sys
    from pathlib import Path
    import pyvips
    sys.path.insert(0, {repo!r})
    from tilework.core.formats import OutputFormat
    from tilework.core.settings import Settings
    from tilework.imaging.decode import srgb8
    from tilework.imaging.encode import save
    from tilework.imaging.recolour import palette_lut, recolour, tone_sample, tones
    from tilework.objects.factory import open_object_store
    from tilework.ops.palette.params import rgb

    palettes, source, scratch = {palettes!r}, {source!r}, Path({scratch!r})
    store = open_object_store(Settings(home=scratch, **{storage!r}))
    sample = tone_sample(srgb8(pyvips.Image.new_from_file(source)))
    for index, palette in enumerate(palettes):
        image = srgb8(pyvips.Image.new_from_file(source, access="sequential"))
        lut = palette_lut(tones(sample, len(palette)), [rgb(c) for c in palette])
        path = scratch / f"palette-{{index}}.webp"
        save(recolour(image, lut), path, OutputFormat.WEBP, {quality})
        path.with_suffix(".sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
        store.put_file(f"baseline/palette-{{index}}.webp", path)
"""


def calibrate(source: Path, work: Path) -> int:
    """The size of one encoded palette output, to pace the proxy by."""
    image = srgb8(pyvips.Image.new_from_file(str(source)))
    palette = PALETTES[0]
    lut = palette_lut(tones(tone_sample(image), len(palette)), [rgb(c) for c in palette])
    save(recolour(image, lut), work / "calibrate.webp", OutputFormat.WEBP, QUALITY)
    return (work / "calibrate.webp").stat().st_size


def tilework_run(server: ServerProcess, key: str) -> tuple[Usage, list[dict[str, object]]]:
    client = server.client()
    assert server.process is not None
    finished: list[dict[str, object]] = []

    def work() -> None:
        job = client.submit("palette", key=key, params={"palettes": PALETTES, "quality": QUALITY})
        done = client.wait(job["id"])
        if done["status"] != "succeeded":
            raise RuntimeError(f"job failed: {done['error']}")
        finished.append(done)

    usage = measure(psutil.Process(server.process.pid), work)
    return usage, finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="workers of the tilework server")
    parser.add_argument("--upload-seconds", type=float, default=2.0, help="one upload's time")
    parser.add_argument(
        "--parallel-uploads", type=int, default=2, help="the server's max_parallel_uploads"
    )
    args = parser.parse_args()
    budget = DECODED_IMAGES * SIDE * SIDE * 3
    print(
        f"tilework palette benchmark — {psutil.cpu_count()} cores, {len(PALETTES)} palettes, "
        f"{SIDE}×{SIDE}, {args.workers} workers, {args.parallel_uploads} parallel uploads"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines
    with tempfile.TemporaryDirectory(prefix="tilework-bench-") as folder:
        work = Path(folder)
        source = images.large_photo(work / "photo.jpg", SIDE)
        size = calibrate(source, work)
        rate = size / args.upload_seconds
        print(f"  one output ≈ {size / MIB:.2f} MiB; uploads paced to {rate / 1024:.0f} KiB/s")
        for s3_server in run_s3_server(work):
            proxy = HttpProxy(s3_server.endpoint).start()
            proxy.put_bytes_per_second = rate
            storage = s3_server.settings(s3_server.new_bucket())
            storage["s3_endpoint"] = proxy.endpoint

            (work / "baseline").mkdir()
            started = time.perf_counter()
            baseline = run_anchor(
                BASELINE.format(
                    repo=str(Path(__file__).resolve().parent.parent / "src"),
                    palettes=PALETTES,
                    source=str(source),
                    scratch=str(work / "baseline"),
                    storage=storage,
                    quality=QUALITY,
                )
            )
            print(f"  (baseline ran {time.perf_counter() - started:.1f} s)")

            server = ServerProcess(
                work / "home",
                workers=args.workers,
                max_parallel_uploads=args.parallel_uploads,
                **storage,
            ).start()
            try:
                # One small job first, as in bench/upscale.py: each task process imports its
                # image libraries on its first task, once in its life.
                warm = images.photo(work / "warm.jpg", 64, 64)
                tilework_run(server, server.client().upload(warm)["key"])
                key = server.client().upload(source)["key"]
                ours, finished = tilework_run(server, key)
            finally:
                server.stop()
            proxy.stop()

        print(baseline.line("baseline"))
        print(ours.line("tilework"))
        ratio = ours.wall / baseline.wall
        verdict = "ok" if ratio <= WALL_TARGET else "MISSED"
        print(f"  wall: {ratio:.2f}× the baseline (target ≤ {WALL_TARGET}×) {verdict}")
        largest = max(ours.by_process.values())
        verdict = "ok" if largest <= budget else "MISSED"
        print(
            f"  largest tilework process peak {largest / MIB:.0f} MiB "
            f"(target ≤ {DECODED_IMAGES} decoded images = {budget / MIB:.0f} MiB) {verdict}"
        )
        timings = finished[0]["timings"]
        print(f"  job timings (summed over tasks): {timings}")
        same = _same_outputs(finished[0], work / "baseline")
        print(f"  outputs byte-identical to the baseline's: {same}")


def _same_outputs(job: dict[str, object], baseline: Path) -> str:
    outputs = job["outputs"]
    assert isinstance(outputs, list)
    matches = 0
    for index, output in enumerate(outputs):
        digest = baseline / f"palette-{index}.sha256"
        if digest.exists() and digest.read_text() == output["sha256"]:
            matches += 1
    return f"{matches} of {len(outputs)}"


if __name__ == "__main__":
    main()
