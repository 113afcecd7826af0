"""The audit log file: one JSON line per decision, rotated by size like logging's RotatingFileHandler."""

from __future__ import annotations

import json
from pathlib import Path

from kubegate.api.audit import AuditLog


def test_lines_are_json_and_rotate_by_size(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_bytes=1000, backups=2)
    for n in range(60):
        log.record("authorization", n=n, allowed=n % 2 == 0, user="u\u00e9", request={"verb": "get"})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]
    numbers = []
    for name in ("audit.log.2", "audit.log.1", "audit.log"):
        text = (tmp_path / name).read_text()
        assert 0 < len(text.encode()) <= 1000
        lines = [json.loads(line) for line in text.splitlines()]
        assert all(line["kind"] == "authorization" and line["time"].endswith("+00:00") for line in lines)
        numbers += [line["n"] for line in lines]
    assert numbers == list(range(numbers[0], 60))  # newest kept, in order, nothing lost in between
    assert numbers[0] > 0  # the oldest went out with the rotation


def test_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    AuditLog(path).record("authentication", n=1)
    AuditLog(path).record("authentication", n=2, when=path)  # not JSON by itself: written as its string
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["n"] for line in lines] == [1, 2] and lines[1]["when"] == str(path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_workers_sharing_the_file_rotate_it_once_and_lose_no_line(tmp_path: Path) -> None:
    """Two worker processes' logs on one path: each follows the other's rotation."""
    import multiprocessing

    path = tmp_path / "audit.log"

    def write(worker: int) -> None:
        log = AuditLog(path, max_bytes=2000, backups=50, shared=True)
        for i in range(300):
            log.record("authorization", worker=worker, i=i)

    processes = [multiprocessing.get_context("fork").Process(target=write, args=(w,)) for w in (1, 2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    files = sorted(tmp_path.glob("audit.log*"))
    lines = [json.loads(line) for f in files if not f.name.endswith(".lock") for line in f.read_text().splitlines()]
    assert sorted((line["worker"], line["i"]) for line in lines) == [(w, i) for w in (1, 2) for i in range(300)]
    sizes = [f.stat().st_size for f in files if not f.name.endswith(".lock")]
    assert max(sizes) <= 2000 + 200  # rotated by whichever worker crossed the limit, once, not once each
