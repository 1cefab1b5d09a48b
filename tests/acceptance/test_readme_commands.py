"""The README's shell blocks, run as written, in order, in one shell, as a newcomer would after
the two quickstart commands: in a folder with the checkout's ``.venv``, a ``photo.jpg`` and a
``photo.png`` of theirs, a server on the embedded defaults whose home is ``./.tilework``, and
``TILEWORK_PORT`` set as the quickstart says to choose a port. Nothing in a block is rewritten;
a block that cannot run here is in SKIPPED with its reason, and a reason whose block is gone
fails the test."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pyvips

from tests.support import images
from tests.support.server import REPO, ServerProcess, unmeasured

README = REPO / "README.md"
BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```", re.MULTILINE | re.DOTALL)

# A block's first line → why it does not run here.
SKIPPED = {
    "make run     # installs into .venv": "the quickstart itself: this suite runs under `make "
    "test`, and the server below is what `make run` starts (`tilework serve`, embedded defaults)",
    "export FAL_KEY=$TILEWORK_KEY": "a host and CA of yours (tilework.example, ca.pem): "
    "test_readme_snippets.py runs the fal snippets against this suite's HTTPS server",
    'TILEWORK_PROVIDERS=\'{"gpu"': "providers of yours (a GPU host, Replicate, "
    "fal): test_providers.py and test_predict.py run providers that are tilework servers",
    "pip install -e '.[models,gpu]'": "a CUDA GPU (tests/gpu run where one is lent)",
    "export TILEWORK_DATABASE_URL=": "your database and bucket, and servers that run until "
    "stopped: test_hosts.py runs that layout on PostgreSQL and moto's S3",
    "make test    # the suite in tiers": "the suite itself, lint and the benchmarks (minutes "
    "each, run by hand)",
    "tilework keys create --tenant webapp": "it serves the web app until stopped: "
    "test_webapp.py runs that example against a live server in a real browser",
    "pip install ./examples/texture-op": "it installs into .venv, which would change the "
    "operations every later test sees: test_own_operations.py runs these steps in a folder of "
    "its own",
}


def readme_blocks() -> list[str]:
    return [textwrap.dedent(body) for _, body in BLOCK.findall(README.read_text())]


def test_every_skipped_block_is_in_the_readme() -> None:
    firsts = {block.splitlines()[0] for block in readme_blocks()}
    stale = [start for start in SKIPPED if not any(first.startswith(start) for first in firsts)]
    assert not stale, f"SKIPPED names blocks the README no longer has: {stale}"


def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    runnable = [
        block
        for block in readme_blocks()
        if not any(block.splitlines()[0].startswith(start) for start in SKIPPED)
    ]
    assert len(runnable) >= 4  # the PATH line, the CLI, curl and keys blocks at least
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / ".venv").symlink_to(REPO / ".venv")
    images.photo(folder / "photo.jpg", 960, 720)
    images.photo(folder / "photo.png", 24, 18)
    # A reader's shell: no TILEWORK_* but the chosen port, and .venv not yet on PATH.
    venv_bin = str(REPO / ".venv" / "bin")
    env = {name: value for name, value in os.environ.items() if not name.startswith("TILEWORK_")}
    # The CLI's paths are test_cli.py's to measure; here tracing only slows thirty commands.
    env = unmeasured(env)
    env["PATH"] = os.pathsep.join(
        part for part in env["PATH"].split(os.pathsep) if part != venv_bin
    )
    server = ServerProcess(folder / ".tilework", workers=2).start()
    try:
        env["TILEWORK_PORT"] = str(server.port)
        script = "\n".join(
            f"{block}\necho '--- README block {number} ran' >&2"
            for number, block in enumerate(runnable, 1)
        )
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, f"{ran.stderr[-3000:]}\n{ran.stdout[-2000:]}"
        with server.client() as admin:
            keys = admin.keys()["items"]
    finally:
        server.stop()

    # What the blocks promise, checked beside their exit status.
    small = pyvips.Image.new_from_file(str(folder / "small.webp"))
    assert (small.width, small.get("vips-loader")) == (800, "webpload")
    big = pyvips.Image.new_from_file(str(folder / "big.png"))
    assert (big.width, big.height) == (24 * 12, 18 * 12)
    assert len(list((folder / "variations").iterdir())) == 2
    (thumb,) = (folder / "thumbs").iterdir()  # the steps: an upscale, then a thumbnail
    assert pyvips.Image.new_from_file(str(thumb)).width == 256 and thumb.suffix == ".webp"
    assert sorted(path.suffix for path in (folder / "chain").iterdir()) == [".png", ".png"]
    assert "already ended" in ran.stderr
    job = json.loads((folder / "job.json").read_text())
    assert job["operation"] == "resize" and job["input"]["key"].startswith("uploads/")
    trial = json.loads((folder / "trial.json").read_text())
    (revoked,) = [key for key in keys if key["id"] == trial["id"]]
    assert revoked["revoked_at"] is not None and trial["credits"] == 500
