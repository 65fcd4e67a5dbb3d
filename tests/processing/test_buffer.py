"""``window_readings``: a buffer sorted by time is sliced, and gives what the scan gives."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from processing.buffer import window_readings

ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 50), st.floats(0, 1e6)),
    max_size=60,
    unique_by=lambda r: (r[0], r[1]),  # one reading per meter and instant
)


def _frame(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64},
                        orient="row")  # fmt: skip


def _canonical(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return sorted(frame.rows())


@settings(max_examples=300, deadline=None)
@given(ROWS, st.integers(-5, 55), st.integers(0, 30), st.booleans())
def test_a_sorted_buffer_gives_the_readings_the_scan_gives(
    rows: list[tuple[str, int, float]], lo: int, width: int, pro_rata: bool
) -> None:
    buffer = _frame(rows)
    ordered = buffer.sort("ts")
    assert ordered["ts"].flags["SORTED_ASC"]
    unsorted = ordered.reverse()  # the same rows, not flagged sorted: the scan
    assert not unsorted["ts"].flags["SORTED_ASC"] or unsorted.height <= 1
    scanned = window_readings(unsorted, lo, lo + width, pro_rata=pro_rata)
    sliced = window_readings(ordered, lo, lo + width, pro_rata=pro_rata)
    assert _canonical(sliced) == _canonical(scanned)


def test_the_slice_takes_each_meters_neighbours_outside_the_windows() -> None:
    rows = [("a", 0, 1.0), ("a", 5, 2.0), ("b", 3, 3.0), ("a", 10, 4.0), ("b", 12, 5.0),
            ("a", 20, 6.0), ("b", 25, 7.0)]  # fmt: skip
    buffer = _frame(rows).sort("ts")
    got = window_readings(buffer, 10, 20, pro_rata=True)
    assert _canonical(got) == [
        ("a", 5, 2.0), ("a", 10, 4.0), ("a", 20, 6.0), ("b", 3, 3.0), ("b", 12, 5.0),
        ("b", 25, 7.0),
    ]  # fmt: skip
    without = window_readings(buffer, 10, 20, pro_rata=False)
    assert _canonical(without) == [("a", 5, 2.0), ("a", 10, 4.0), ("b", 3, 3.0), ("b", 12, 5.0)]
