"""Raw readings in a retention policy of their own, the roll-ups kept with the default
one: writes routed by measurement, reads qualified, the policy created with the
database, and a database from before the policy moved by ``smartpark store setup``."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ingest.storesetup import days, policies
from processing.reads import StoreReads
from smartpark import registry as registry_mod
from smartpark.settings import InfluxSettings, ParkSettings, Settings, to_env
from smartpark.store.influx1 import Influx1Store, split_raw
from smartpark.store.influxql import Select
from smartpark.store.lineprotocol import encode_point
from tests.conftest import EXAMPLE_PARK
from tests.processing.test_recovery import _model

NOW_MS = int(datetime.now(UTC).timestamp() * 1000) // 60_000 * 60_000


@pytest.mark.parametrize(
    ("body", "raw", "rollups"),
    [
        (b"electricity,park=p v=1 1\ngas,park=p v=2 2", b"electricity,park=p v=1 1\ngas,park=p v=2 2", b""),
        (b"kpi,park=p v=1 1\nquota,park=p v=2 2", b"", b"kpi,park=p v=1 1\nquota,park=p v=2 2"),
        (b"kpi,park=p v=1 1\nelectricity,park=p v=2 2\nalert_events v=3 3",
         b"electricity,park=p v=2 2", b"kpi,park=p v=1 1\nalert_events v=3 3"),
        # a kind whose name begins with a roll-up's is a kind
        (b"kpi_meter,park=p v=1 1\nkpi v=2 2", b"kpi_meter,park=p v=1 1", b"kpi v=2 2"),
    ],
)  # fmt: skip
def test_a_body_splits_into_raw_readings_and_roll_ups(
    body: bytes, raw: bytes, rollups: bytes
) -> None:
    assert split_raw(body) == (raw, rollups)


def test_raw_readings_must_outlive_the_collectors_acceptance_window() -> None:
    with pytest.raises(ValidationError, match="must exceed park max_past_days"):
        Settings(
            influx=InfluxSettings(raw_retention_days=400), park=ParkSettings(max_past_days=400)
        )
    Settings(influx=InfluxSettings(raw_retention_days=0))  # 0: readings kept with the roll-ups


def test_days_cover_first_to_last() -> None:
    first = int(datetime(2026, 3, 1, 23, 30, tzinfo=UTC).timestamp() * 1000)
    spans = days(first, first + 3_600_000)
    assert [s.day for s, _ in spans] == [1, 2] and spans[-1][1] == datetime(2026, 3, 3, tzinfo=UTC)


def _reading(kind: str, sensor: str, ts: int, kwh: float) -> str:
    tags = {"park": "tianfu-np", "enterprise": "e08-anode", "sensor": sensor}
    return encode_point(kind, tags, {"energy_kwh": kwh}, ts)


def test_readings_go_to_their_policy_and_roll_ups_stay_in_the_default(store: Influx1Store) -> None:
    assert store.raw_policy == "raw"
    found = {p.name: (p.duration, p.default) for p in policies(store, store.database)}
    assert found == {"autogen": ("0s", True), "raw": ("9840h0m0s", False)}  # 410 days
    kpi = encode_point("kpi", {"park": "tianfu-np", "scope": "_park", "window": "1m"},
                       {"energy_tce": 1.5}, NOW_MS)  # fmt: skip
    store.write(f"{_reading('electricity', 'e08-grid-1', NOW_MS, 10.0)}\n{kpi}".encode())

    def count(measurement: str, field: str, rp: str | None) -> int:
        q = Select(measurement, [field], aggregate="count", retention_policy=rp)
        return sum(int(v[1]) for s in store.query(q.to_influxql()) for v in s.values)

    assert (
        count("electricity", "energy_kwh", "raw"),
        count("electricity", "energy_kwh", None),
    ) == (1, 0)
    assert (count("kpi", "energy_tce", None), count("kpi", "energy_tce", "raw")) == (1, 0)
    # the processor's reads find the reading in its policy
    got = StoreReads(store, _model(registry_mod.load(EXAMPLE_PARK))).counter_readings(
        NOW_MS - 60_000, NOW_MS + 60_000
    )
    assert got.rows() == [("e08-grid-1", NOW_MS, 10.0)]


def test_a_store_from_before_the_policy_is_set_up_and_its_readings_copied(
    settings: Settings,
) -> None:
    older = Influx1Store(url=settings.influx.url, database=settings.influx.database)
    older.ensure_database()  # no raw policy: readings in autogen, as before
    lines = [
        _reading("electricity", "e08-grid-1", NOW_MS - h * 3_600_000, 100.0 - h) for h in range(30)
    ]
    older.write("\n".join(lines).encode())
    env = os.environ | to_env(settings)

    def setup(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "smartpark",
            "store",
            "setup",
            "--registry",
            str(EXAMPLE_PARK),
            *args,
        ]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    first = setup()
    assert first.returncode == 1, first.stderr
    assert "readings of electricity are in the default policy autogen" in first.stdout
    assert "--copy-readings" in first.stdout
    copied = setup("--copy-readings")
    assert copied.returncode == 0, copied.stderr
    spans = len(days(NOW_MS - 29 * 3_600_000, NOW_MS))  # 30 hours: two or three UTC days
    assert f"electricity: {spans} day(s) copied from autogen into raw" in copied.stdout
    new = Influx1Store(url=settings.influx.url, database=settings.influx.database,
                       raw_policy="raw", raw_days=410)  # fmt: skip
    try:
        q = Select("electricity", ["energy_kwh"], tags={"sensor": "e08-grid-1"},
                   start=datetime.now(UTC) - timedelta(days=3), retention_policy="raw")  # fmt: skip
        values = [v[1] for s in new.query(q.to_influxql()) for v in s.values]
        assert sorted(values) == sorted(100.0 - h for h in range(30))
        tags = new.query('SHOW TAG KEYS FROM "raw"."electricity"')
        assert {v[0] for s in tags for v in s.values} == {"park", "enterprise", "sensor"}
    finally:
        new.close()
        older.close()
