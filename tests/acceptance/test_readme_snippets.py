"""The README's snippets for Replicate's official clients, run as written against a real server:
each is the first ``python`` / ``js`` block of the section, run from a folder holding
``photo.jpg``, with ``TILEWORK_URL`` and ``TILEWORK_KEY`` set, its printed output checked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import pyvips

from tests.support import images
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
JS_MODULES = ROOT / "tests" / "js" / "node_modules"


def snippet(language: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Replicate's clients", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found, f"no {language} snippet in the README's Replicate section"
    return found.group(1)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images.photo(tmp_path / "photo.jpg", 64, 48)
    return tmp_path


def run_snippet(command: list[str], folder: Path, server: ServerProcess) -> tuple[int, int]:
    """Run it; the size of the image at the URL it prints."""
    env = {**os.environ, "TILEWORK_URL": server.url, "TILEWORK_KEY": server.tenant_key()}
    ran = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    url = ran.stdout.strip().splitlines()[-1]
    (folder / "output").write_bytes(httpx.get(url, timeout=30).raise_for_status().content)
    output = pyvips.Image.new_from_file(str(folder / "output"))
    return output.width, output.height


def test_the_python_snippet(server: ServerProcess, folder: Path) -> None:
    (folder / "snippet.py").write_text(snippet("python"))
    assert run_snippet([sys.executable, "snippet.py"], folder, server) == (32, 24)


def test_the_javascript_snippet(server: ServerProcess, folder: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js (20 or later) runs the JavaScript client's snippet; install it"
    (folder / "snippet.mjs").write_text(snippet("js"))
    (folder / "node_modules").symlink_to(JS_MODULES)  # the client make test installed
    assert run_snippet([node, "snippet.mjs"], folder, server) == (32, 24)
