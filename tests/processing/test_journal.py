"""The processor's journal and window book, directly (pure logic and local files)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from processing.journal import HOUR_MS, Journal, read_progress, write_progress
from processing.windowbook import WindowBook

T0 = 1_793_000_000_000 - 1_793_000_000_000 % HOUR_MS  # an hour boundary


def test_journal_rows_survive_a_reopen_and_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([("m1", T0 + 1, 10.5), ("m2", T0 + HOUR_MS + 5, 0.1)])
    journal.sync()
    journal.close()
    with (tmp_path / f"{T0 + HOUR_MS}.csv").open("ab") as f:
        f.write(b"m3,17930")  # a crash in the middle of a line
    again = Journal(tmp_path)
    assert sorted(again.read(0)) == [("m1", T0 + 1, 10.5), ("m2", T0 + HOUR_MS + 5, 0.1)]
    assert again.read(T0 + 2) == [("m2", T0 + HOUR_MS + 5, 0.1)]
    assert again.newest_ms() == T0 + HOUR_MS + 5


def test_journal_prunes_whole_hours_before_the_limit(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append([("m", T0 + i * HOUR_MS, float(i)) for i in range(4)])
    journal.sync()
    journal.prune(T0 + 2 * HOUR_MS + 1)  # hour 2 is still needed from one ms in
    assert sorted(ts for _s, ts, _v in journal.read(0)) == [T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS]
    journal.close()


def test_progress_is_replaced_whole_and_an_unreadable_file_means_none(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    assert read_progress(path) == {}
    write_progress(path, {"1m": 5, "1d": 1})
    assert read_progress(path) == {"1m": 5, "1d": 1}
    path.write_bytes(b"{torn")
    assert read_progress(path) == {}


def test_window_book_tracks_open_dirty_and_written_windows() -> None:
    book = WindowBook(("1m", "1h"), tz="UTC")
    book.note(pl.Series([T0 + 10_000, T0 + 70_000], dtype=pl.Int64))
    assert book.progress(T0 + 70_000) == {"1m": T0, "1h": T0}
    book.close(T0 + 70_000)  # the first minute is closed, the second and the hour open
    assert book.dirty == {"1m": {T0}, "1h": set()} and book.unwritten() == 1
    assert book.written("1m", [T0]) == (1, 0)
    assert book.progress(T0 + 70_000) == {"1m": T0 + 60_000, "1h": T0}
    book.note(pl.Series([T0 + 20_000], dtype=pl.Int64))  # a late reading: written again
    assert book.dirty["1m"] == {T0} and book.oldest_unwritten_ms() == T0
    assert book.written("1m", [T0]) == (0, 1)


def test_window_book_takes_windows_before_the_progress_as_written() -> None:
    book = WindowBook(("1m",), tz="UTC")
    book.note(pl.Series([T0 + i * 60_000 for i in range(5)], dtype=pl.Int64))
    book.assume_written({"1m": T0 + 3 * 60_000}, T0)
    book.close(T0 + 10 * 60_000)
    assert book.dirty["1m"] == {T0 + 3 * 60_000, T0 + 4 * 60_000}


def _readings(*ts: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"sensor": ["m"] * len(ts), "ts": list(ts)}, schema={"sensor": pl.Utf8, "ts": pl.Int64}
    )


def test_a_late_reading_dirties_the_next_readings_window_and_pro_rata_every_window_spanned() -> (
    None
):
    """Readings at 00:00:30 and 00:03:30 written (by the later reading, the second's
    minute holds all 3 minutes between them); one arrives late at 00:01:30. Besides its
    own minute (``note``), the window of 00:03:30 changes: its interval now starts at
    00:01:30. Pro rata, every minute its two intervals span, 00:00 to 00:03."""
    minute = 60_000
    known = _readings(T0 + 30_000, T0 + 3 * minute + 30_000)
    cases = (  # (pro rata, dirty: written and changed, open: changed, never written)
        (False, {T0 + 3 * minute}, set()),
        (True, {T0, T0 + 3 * minute}, {T0 + minute, T0 + 2 * minute}),
    )
    for pro_rata, dirty, still_open in cases:
        book = WindowBook(("1m",), tz="UTC")
        book.note(known["ts"])
        book.close(T0 + 4 * minute)
        book.written("1m", [T0, T0 + 3 * minute])
        book.note_changes(known, _readings(T0 + 90_000), pro_rata=pro_rata)
        assert book.dirty["1m"] == dirty
        assert book.open["1m"] == still_open
