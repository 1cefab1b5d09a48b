"""Palette benchmark (issues 6 and 32, seed 003): 7 palettes of a 4096×4096 photo, uploads
slowed to ~2 s each, on a store that refuses too many uploads at once.

Run by hand: ``.venv/bin/python bench/palette.py [--rounds N] [--parallel-uploads 2,4]``.

Storage is a real S3 server (moto) behind a throttling HTTP proxy on 127.0.0.1 that paces each
PUT's body so that one palette output takes ``--upload-seconds`` (2 s) to upload: a slow link
per connection, as seed 003 saw with Supabase Storage. Like that store, it answers 429 to
uploads past ``--storage-limit`` (4) at once: seed 003 bounded its uploads because more at once
drew 429s. Both sides use the same proxy, bucket and recolouring code, measured in the same run:

- **baseline**, the seed's flow, in its own process: for each palette in turn, apply it, encode
  WebP, upload, then the next palette;
- **tilework**, once per upload slot count (``max_parallel_uploads``, each from
  ``--parallel-uploads``): one ``palette`` job on a real server (S3 storage through the proxy),
  from submit to succeeded, after one small warm-up job; the photo is uploaded before the clock
  starts, as the seed's image was already in storage. Its workers (default 4, more than the
  2 cores: palette tasks spend much of their time on uploads) recolour in parallel while at
  most that many uploads run at once.

Each round runs the baseline, then tilework at each slot count; the ratios are the medians over
``--rounds`` (5) rounds, each tilework run against its own round's baseline.

Floors on 2 cores: 7 uploads of 2 s two at a time take 7 s once the first output is ready,
about 0.37× of the baseline (~25 s); four at a time, the encodes (most of the CPU work) must
overlap the uploads fully to approach ~0.33×.

Targets (issue 32): ≤ 0.60× the baseline's wall time at 2 upload slots, ≤ 0.35× at 4; the peak
RSS of every tilework process ≤ 4 decoded frames (4 × 4096 × 4096 × 3 bytes = 192 MiB);
outputs byte-identical to the baseline's.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
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
WALL_TARGETS = {2: 0.60, 4: 0.35}  # by upload slots
DECODED_IMAGES = 4
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
        # Never from the cache: every round makes the same outputs from the same photo.
        job = client.submit(
            "palette",
            key=key,
            params={"palettes": PALETTES, "quality": QUALITY},
            cache=False,
        )
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
        "--parallel-uploads",
        default="2,4",
        help="the server's max_parallel_uploads: each of these, comma-separated",
    )
    parser.add_argument(
        "--storage-limit", type=int, default=4, help="uploads the store takes at once (429 past)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the baseline and each")
    args = parser.parse_args()
    slot_counts = [int(count) for count in args.parallel_uploads.split(",")]
    budget = DECODED_IMAGES * SIDE * SIDE * 3
    print(
        f"tilework palette benchmark — {psutil.cpu_count()} cores, {len(PALETTES)} palettes, "
        f"{SIDE}×{SIDE}, {args.workers} workers, upload slots {slot_counts}, the store takes "
        f"{args.storage_limit} uploads at once, {args.rounds} rounds"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines
    ratios: dict[int, list[float]] = {count: [] for count in slot_counts}
    peaks: dict[int, int] = dict.fromkeys(slot_counts, 0)
    refused: dict[int, int] = dict.fromkeys(slot_counts, 0)
    same: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="tilework-bench-") as folder:
        work = Path(folder)
        source = images.large_photo(work / "photo.jpg", SIDE)
        size = calibrate(source, work)
        rate = size / args.upload_seconds
        print(f"  one output ≈ {size / MIB:.2f} MiB; uploads paced to {rate / 1024:.0f} KiB/s")
        for s3_server in run_s3_server(work):
            proxy = HttpProxy(s3_server.endpoint).start()
            proxy.put_bytes_per_second = rate
            proxy.max_concurrent_puts = args.storage_limit
            storage = s3_server.settings(s3_server.new_bucket())
            storage["s3_endpoint"] = proxy.endpoint
            servers = {
                count: _started(work / f"home-{count}", args.workers, count, storage)
                for count in slot_counts
            }
            try:
                keys = {
                    count: server.client().upload(source)["key"]
                    for count, server in servers.items()
                }
                for round_number in range(1, args.rounds + 1):
                    baseline_folder = work / f"baseline-{round_number}"
                    baseline_folder.mkdir()
                    baseline = run_anchor(
                        BASELINE.format(
                            repo=str(Path(__file__).resolve().parent.parent / "src"),
                            palettes=PALETTES,
                            source=str(source),
                            scratch=str(baseline_folder),
                            storage=storage,
                            quality=QUALITY,
                        )
                    )
                    print(f"round {round_number}\n{baseline.line('baseline')}")
                    for count, server in servers.items():
                        before = proxy.refused
                        ours, finished = tilework_run(server, keys[count])
                        refused[count] += proxy.refused - before
                        ratios[count].append(ours.wall / baseline.wall)
                        peaks[count] = max(peaks[count], *ours.by_process.values())
                        same[count] = _same_outputs(finished[0], baseline_folder)
                        print(ours.line(f"{count} slots"))
                        print(f"  {'':<10} {ours.wall / baseline.wall:.2f}× the baseline")
            finally:
                for server in servers.values():
                    server.stop()
                proxy.stop()

    print(f"medians of {args.rounds} rounds:")
    for count in slot_counts:
        ratio = statistics.median(ratios[count])
        target = WALL_TARGETS.get(count)
        verdict = (
            ""
            if target is None
            else (f" (target ≤ {target}×) {'MET' if ratio <= target else 'MISSED'}")
        )
        print(
            f"  {count} upload slots: {ratio:.2f}× the baseline's wall time{verdict}; "
            f"largest process {peaks[count] / MIB:.0f} MiB (target ≤ {DECODED_IMAGES} decoded "
            f"frames = {budget / MIB:.0f} MiB) {'MET' if peaks[count] <= budget else 'MISSED'}; "
            f"429s from the store {refused[count]}; outputs byte-identical: {same[count]}"
        )


def _started(home: Path, workers: int, slots: int, storage: dict[str, object]) -> ServerProcess:
    """A server with ``slots`` upload slots, warmed up: each task process imports its image
    libraries on its first task, once in its life (as in bench/upscale.py)."""
    server = ServerProcess(home, workers=workers, max_parallel_uploads=slots, **storage).start()
    warm = images.photo(home.parent / f"warm-{slots}.jpg", 64, 64)
    tilework_run(server, server.client().upload(warm)["key"])
    return server


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
