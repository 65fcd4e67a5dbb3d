"""The catch-up's piece sizing (pure): about the budget's worth of the last piece's rate,
never more than 4x or less than 1/4 of it, within the size's bounds."""

from __future__ import annotations

from processing.catchup import MAX_PIECE_MS, MIN_PIECE_MS, next_piece

H = 3_600_000
LEAST, MOST = MIN_PIECE_MS["1m"], MAX_PIECE_MS["1m"]


def test_a_piece_grows_with_a_fast_write_up_to_a_day() -> None:
    assert next_piece(6 * H, 0.05, 0.15, LEAST, MOST) == 18 * H  # 3x the rate's worth
    assert next_piece(6 * H, 0.001, 0.15, LEAST, MOST) == MOST  # 4x would pass a day
    piece = 2 * H
    for _ in range(10):  # a steady fast write: a day at most, however fast
        piece = next_piece(piece, 0.01, 0.15, LEAST, MOST)
    assert piece == MOST == 24 * H


def test_a_piece_shrinks_with_a_slow_write_down_to_two_hours() -> None:
    assert next_piece(24 * H, 0.3, 0.15, LEAST, MOST) == 12 * H  # half the rate's worth
    assert next_piece(24 * H, 60.0, 0.15, LEAST, MOST) == 6 * H  # a quarter at most
    assert next_piece(6 * H, 60.0, 0.15, LEAST, MOST) == LEAST == 2 * H
