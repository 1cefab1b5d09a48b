"""What every object store must do, checked the same way for each backend."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tilework.objects.store import ObjectStore


def check_puts_report_and_overwrite(store: ObjectStore, tmp_path: Path) -> None:
    """Puts consume the source, report size and sha256, and replace; scratch stays empty."""
    for content in (b"first version", b"second"):
        source = tmp_path / "src"
        source.write_bytes(content)
        info = store.put_file("jobs/a/output.png", source)
        assert (info.bytes, info.sha256) == (len(content), hashlib.sha256(content).hexdigest())
        assert not source.exists()
    assert b"".join(store.open_chunks("jobs/a/output.png")) == b"second"
    with store.open("jobs/a/output.png") as handle:
        handle.seek(2)
        assert handle.read() == b"cond"
    assert list(store.scratch_dir().iterdir()) == []
