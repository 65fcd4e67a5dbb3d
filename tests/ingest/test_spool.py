"""The disk spool: durable FIFO, bounded, survives restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartpark.spool import Spool


def test_batches_come_back_in_order_and_are_forgotten_once_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000)
    for i in range(3):
        assert spool.append(f"m f={i}.0 {i}".encode())
    seen = []
    while (oldest := spool.oldest()) is not None:
        path, body = oldest
        seen.append(body)
        spool.remove(path)
    assert seen == [b"m f=0.0 0", b"m f=1.0 1", b"m f=2.0 2"]
    assert spool.size_bytes == 0
    assert list(tmp_path.iterdir()) == []


def test_a_full_spool_refuses_without_writing(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=20)
    assert spool.append(b"x" * 15)
    assert not spool.append(b"y" * 10)
    assert len(spool) == 1
    assert spool.size_bytes == 15
    assert spool.has_room(5) and not spool.has_room(6)


def test_a_restarted_spool_resumes_where_it_was(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1_000)
    first.append(b"a")
    first.append(b"bb")
    (tmp_path / "0000000000000002.tmp").write_bytes(b"half a batch")  # crash before rename
    second = Spool(tmp_path, max_bytes=1_000)
    assert len(second) == 2
    assert second.size_bytes == 3
    assert not list(tmp_path.glob("*.tmp"))
    second.append(b"ccc")
    bodies = []
    while (oldest := second.oldest()) is not None:
        bodies.append(oldest[1])
        second.remove(oldest[0])
    assert bodies == [b"a", b"bb", b"ccc"]


def test_only_the_oldest_batch_can_be_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000)
    spool.append(b"a")
    spool.append(b"b")
    newest = sorted(tmp_path.iterdir())[-1]
    with pytest.raises(ValueError, match="not the oldest"):
        spool.remove(newest)
