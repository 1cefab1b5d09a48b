"""Each patch here breaks one promise the README makes; the test named in its header must then
go red. Run by hand (about a minute for the api-tier ones):

    .venv/bin/python tests/mutations/run.py            # every patch
    .venv/bin/python tests/mutations/run.py expiry     # some, by name

For each patch: copy the working tree (tracked and untracked files, not ignored ones) into a
scratch folder, apply the patch there with ``git apply``, run its test with this venv's Python
on the scratch copy's sources, and report whether it failed as it must. The working tree is
never touched. A patch that no longer applies, or a test that errors instead of failing, is
reported as broken: the patch needs updating, which is not the same as a test that passes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTEST_FAILED = 1  # pytest's exit status when tests ran and some failed


def header(patch: Path, field: str) -> str:
    for line in patch.read_text().splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"{patch.name}: no '{field}:' line in its header")


def scratch_copy(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / os.fsdecode(name)
        if source.is_file():  # deleted but still in the index: skip
            destination = target / os.fsdecode(name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def run_one(patch: Path) -> tuple[str, str]:
    test = header(patch, "Test")
    with tempfile.TemporaryDirectory(prefix=f"mutation-{patch.stem}-") as folder:
        scratch = Path(folder)
        scratch_copy(scratch)
        applied = subprocess.run(
            ["git", "apply", str(patch)], cwd=scratch, capture_output=True, text=True
        )
        if applied.returncode != 0:
            return "BROKEN", f"does not apply: {applied.stderr.strip()[:300]}"
        # The scratch copy's sources come first; the tests' own servers add theirs too.
        env = {**os.environ, "PYTHONPATH": f"{scratch / 'src'}{os.pathsep}{scratch}"}
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", test, "-x", "-q", "-p", "no:cacheprovider"],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
        )
        last = (ran.stdout.strip().splitlines() or [""])[-1]
        if ran.returncode == PYTEST_FAILED:
            return "RED", last
        if ran.returncode == 0:
            return "GREEN (the test missed the break)", last
        return "BROKEN", f"pytest exited {ran.returncode}: {last}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="patch names without .patch (default: all)")
    args = parser.parse_args()
    patches = sorted(HERE.glob("*.patch"))
    if args.names:
        patches = [p for p in patches if p.stem in args.names]
    missed = 0
    for patch in patches:
        outcome, detail = run_one(patch)
        missed += outcome != "RED"
        print(f"{patch.stem:<24} {outcome:<36} {header(patch, 'Test')}")
        print(f"{'':<24} {header(patch, 'Finding')}")
        print(f"{'':<24} {detail}")
    print(f"{len(patches) - missed} of {len(patches)} patches turned their test red")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
