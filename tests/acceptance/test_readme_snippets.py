"""The README's snippets for Replicate's and fal's official clients, run as written against a
real server: each is the first ``python`` / ``js`` block of its section, run from a folder
holding ``photo.jpg``, with ``TILEWORK_URL`` and ``TILEWORK_KEY`` set (and, for fal's, the
variables the section's ``sh`` block exports), its printed output checked."""

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
from tests.support.falclients import fal_client_env
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
JS_MODULES = ROOT / "tests" / "js" / "node_modules"


REPLICATE, FAL = "## Replicate's clients", "## fal's clients"


def snippet(language: str, heading: str = REPLICATE) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found, f"no {language} snippet in the README's section {heading!r}"
    return found.group(1)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images.photo(tmp_path / "photo.jpg", 64, 48)
    return tmp_path


def run_snippet(
    command: list[str], folder: Path, server: ServerProcess, env: dict[str, str] | None = None
) -> tuple[int, int]:
    """Run it (in ``env``, else with TILEWORK_URL and TILEWORK_KEY); the size of the image
    at the URL it prints last."""
    if env is None:
        env = {**os.environ, "TILEWORK_URL": server.url, "TILEWORK_KEY": server.tenant_key()}
    ran = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    url = ran.stdout.strip().splitlines()[-1]
    made = httpx.get(url, timeout=30, verify=server.verify).raise_for_status()
    (folder / "output").write_bytes(made.content)
    output = pyvips.Image.new_from_file(str(folder / "output"))
    return output.width, output.height


def test_the_python_snippet(server: ServerProcess, folder: Path) -> None:
    (folder / "snippet.py").write_text(snippet("python"))
    assert run_snippet([sys.executable, "snippet.py"], folder, server) == (32, 24)


def test_the_javascript_snippet(server: ServerProcess, folder: Path) -> None:
    (folder / "snippet.mjs").write_text(snippet("js"))
    (folder / "node_modules").symlink_to(JS_MODULES)  # the client make test installed
    assert run_snippet([node(), "snippet.mjs"], folder, server) == (32, 24)


def fal_env(server: ServerProcess) -> dict[str, str]:
    """What the fal section's ``sh`` block exports, for this server, and TILEWORK_*."""
    key = server.tenant_key()
    env = {**fal_client_env(server, key), "TILEWORK_URL": server.url, "TILEWORK_KEY": key}
    exported = re.findall(r"^export (\w+)=", snippet("sh", FAL), re.MULTILINE)
    assert exported and set(exported) <= set(env), exported
    return env


def test_the_fal_python_snippet(tls_server: ServerProcess, folder: Path) -> None:
    (folder / "snippet.py").write_text(snippet("python", FAL))
    size = run_snippet([sys.executable, "snippet.py"], folder, tls_server, fal_env(tls_server))
    assert size == (32, 24)


def test_the_fal_javascript_snippet(tls_server: ServerProcess, folder: Path) -> None:
    (folder / "snippet.mjs").write_text(snippet("js", FAL))
    (folder / "node_modules").symlink_to(JS_MODULES)
    assert run_snippet([node(), "snippet.mjs"], folder, tls_server, fal_env(tls_server)) == (
        32,
        24,
    )


def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js (20 or later) runs the JavaScript clients' snippets; install it"
    return found
