"""The processor's KPI messages decode with the core's codec, whatever columns the frame has."""

import polars as pl

from processing.output import messages
from smartpark.wire import decode_kpi_update


def test_a_frame_carrying_revision_and_provisional_still_decodes() -> None:
    frame = pl.DataFrame(
        {
            "scope": ["_park"],
            "window": [60_000],
            "energy_tce": [1.5],
            "revision": [3],
            "provisional": [True],
            "complete_to_ms": [90_000],
        }
    )
    [(topic, payload)] = messages(
        frame, root="smartpark", park="p1", window="1d", ends={60_000: 120_000},
        tags={"method": "location"}, revisions={("_park", 60_000): 3},
    )  # fmt: skip
    update = decode_kpi_update(payload)
    assert topic == "smartpark/p1/_park/_kpi"
    assert update is not None
    assert (update.revision, update.start_ms, update.end_ms) == (3, 60_000, 120_000)
    assert update.figures["energy_tce"] == 1.5
    assert update.figures["provisional"] is True
    assert "revision" not in update.figures  # the envelope's, not the point's field
    assert update.methods == {"method": "location"}
