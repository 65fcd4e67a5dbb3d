"""Record, replay and backfill against the real Mosquitto and InfluxDB."""

from __future__ import annotations

import random
import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from simulators import recording
from simulators.player import play
from simulators.recorder import Recorder
from simulators.recording import Message
from simulators.scenario import at
from simulators.stream import ParkFeed
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from tests.conftest import PATIENCE, CollectorFactory, count_points, wait_until

CST = timezone(timedelta(hours=8))


def _recorder(settings: Settings, path: Path, name: str) -> Recorder:
    recorder = Recorder(
        settings.mqtt,
        topic_filter=f"{settings.mqtt.topic_root}/#",
        path=path,
        clock=SystemClock(),
        client_id=f"{settings.mqtt.client_id}-{name}",
    )
    assert recorder.subscribed.wait(10)
    return recorder


def _replay_and_record(
    settings: Settings,
    publisher: BoundedPublisher,
    messages: list[Message],
    path: Path,
    *,
    speed: float | None,
) -> list[Message]:
    recorder = _recorder(settings, path, path.stem)
    try:
        play(iter(messages), publisher.publish, clock=SystemClock(), speed=speed)
        assert publisher.wait_all(30)
        wait_until(lambda: recorder.messages >= len(messages), 30, "the recorder to catch up")
    finally:
        recorder.close()
    return list(recording.read(path))


def test_record_then_replay_reproduces_the_stream_exactly(
    settings: Settings, park: Registry, publisher: BoundedPublisher, tmp_path: Path
) -> None:
    faults = {"malformed": {"rate": 0.02}, "duplicate": {"rate": 0.02}, "late": {"rate": 0.01}}
    scenario = at(datetime(2026, 11, 3, 9, tzinfo=CST), 1 / 24, seed=9, faults=faults)
    feed = ParkFeed(park, scenario, root=settings.mqtt.topic_root)
    generated = [
        m
        for f in feed.frames(scenario.start_ms, scenario.end_ms)
        for m in recording.frame_messages(f)
    ]
    assert any(not m.payload or m.payload[8:10] == b"\xff\xfe" for m in generated)  # hostile bytes
    first = _replay_and_record(settings, publisher, generated, tmp_path / "first.jsonl", speed=None)
    assert [(m.topic, m.payload) for m in first] == [(m.topic, m.payload) for m in generated]
    second = _replay_and_record(settings, publisher, first, tmp_path / "second.jsonl", speed=None)
    assert [(m.topic, m.payload) for m in second] == [(m.topic, m.payload) for m in first]


def test_replay_at_ten_times_keeps_relative_timing(
    settings: Settings, publisher: BoundedPublisher, tmp_path: Path
) -> None:
    rng = random.Random(5)
    t, messages = 1_793_700_000_000, []
    for n in range(150):
        t += rng.choice([0, 20, 100, 400, 1500])  # bursts and pauses, 20 s over all
        messages.append(Message(t, f"{settings.mqtt.topic_root}/p/e/k/s{n % 7}", b'{"n":%d}' % n))
    got = _replay_and_record(settings, publisher, messages, tmp_path / "timed.jsonl", speed=10.0)
    assert [m.payload for m in got] == [m.payload for m in messages]
    expected = [(m.t_ms - messages[0].t_ms) / 10 for m in messages]
    actual = [m.t_ms - got[0].t_ms for m in got]
    errors = [abs(a - e) for a, e in zip(actual, expected, strict=True)]
    assert expected[-1] > 2_000  # seconds of recorded time, replayed in tenths
    assert statistics.median(errors) <= 25, errors
    assert max(errors) <= 150, errors


def test_shift_moves_every_reading_to_now_and_leaves_bad_payloads_alone() -> None:
    one = b'{"ts":1000,"values":{"power_kw":1.5}}'
    many = b'[{"ts":"1970-01-01T00:00:02+00:00","values":{"x":1}},{"ts":3000,"values":{"x":2}}]'
    assert orjson.loads(recording.shift(one, 500))["ts"] == 1500
    assert [r["ts"] for r in orjson.loads(recording.shift(many, 500))] == [2500, 3500]
    for bad in (b"", b"{trunc", b'{"values":{}}', b"\xff\xfe"):
        assert recording.shift(bad, 500) == bad


def test_replaying_a_readings_table_publishes_one_message_per_good_row(tmp_path: Path) -> None:
    table = tmp_path / "readings.csv"
    table.write_text(
        "time,name,park,enterprise,sensor,energy_kwh,power_kw\n"
        "1793700060000,electricity,tianfu-np,e01-baijiu,e01-grid-1,10.5,300\n"
        "1793700000000,electricity,tianfu-np,e01-baijiu,e01-grid-1,10.0,\n"
        "2026-11-03T18:00:00+08:00,electricity,tianfu-np,e01-baijiu,e01-grid-2,5,1\n"
        "1793700000000,electricity,tianfu-np,e01-baijiu,bad/+#,1,1\n"
        "yesterday,electricity,tianfu-np,e01-baijiu,e01-grid-1,1,1\n"
    )
    problems: list[str] = []
    messages = recording.read_table(table, root="smartpark", problems=problems)
    assert [m.t_ms for m in messages] == [1793700000000, 1793700000000, 1793700060000]
    assert orjson.loads(messages[0].payload) == {
        "ts": 1793700000000,
        "values": {"energy_kwh": 10.0},
    }
    assert messages[2].topic == "smartpark/tianfu-np/e01-baijiu/electricity/e01-grid-1"
    assert len(problems) == 2
    assert "readings.csv:5: ids must match" in problems[0]
    assert "readings.csv:6: unparseable ts" in problems[1]


def test_a_broken_recording_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        recording.header(source="test")
        + recording.line(1, "a/b", b"ok")
        + b"{not json\n"
        + b'{"t_ms": 2, "topic": "a/#", "payload": "x"}\n'
        + b'{"t_ms": 3, "topic": "a/b", "payload_b64": "@@"}\n'
        + recording.line(4, "a/b", b"\xff")
    )
    problems: list[str] = []
    got = list(recording.read(path, problems=problems))
    assert [(m.t_ms, m.payload) for m in got] == [(1, b"ok"), (4, b"\xff")]
    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:3", f"{path}:4", f"{path}:5"]
    with pytest.raises(recording.RecordingError, match=":3: not JSON"):
        list(recording.read(path))


@pytest.mark.slow
def test_a_backfilled_day_lands_in_influxdb_complete(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    store: Influx1Store,
    publisher: BoundedPublisher,
) -> None:
    scenario = at(datetime(2026, 11, 4, tzinfo=CST), 1, seed=4)
    feed = ParkFeed(park, scenario, root=settings.mqtt.topic_root)
    collector = make_collector(settings)
    stats = play(
        (
            m
            for f in feed.frames(scenario.start_ms, scenario.end_ms)
            for m in recording.frame_messages(f)
        ),
        publisher.publish,
        clock=SystemClock(),
        speed=None,
    )
    expected = feed.expected_readings(scenario.start_ms, scenario.end_ms)
    assert stats.readings == expected == 101 * 1440
    per_kind: dict[str, int] = {}
    for s in park.sensors():
        per_kind[s.ref.kind] = per_kind.get(s.ref.kind, 0) + 1440
    first_field = {s.ref.kind: next(iter(s.fields)) for s in park.sensors()}
    wait_until(lambda: collector.stats.stored_readings >= expected, 180, "the day to be stored")
    # InfluxDB 1.6 answers queries from its cache a moment after a heavy write burst.
    wait_until(
        lambda: all(count_points(store, k, first_field[k]) == n for k, n in per_kind.items()),
        30,
        f"every reading of every kind to be queryable: {per_kind}",
    )
    assert not collector.stats.deadlettered


def test_live_mode_publishes_readings_stamped_now_on_the_wall_clock(
    settings: Settings, park: Registry, tmp_path: Path
) -> None:
    import io

    from rich.console import Console

    from simulators import run

    path = tmp_path / "live.jsonl"
    recorder = _recorder(settings, path, "live")
    scenario = at(datetime(2026, 1, 1, tzinfo=CST), 1, seed=1, interval_s=1, latency_ms=[20, 300])
    console = Console(file=io.StringIO())
    try:
        summary = run.live(park, scenario, settings=settings.mqtt, console=console, duration_s=2.5)
        wait_until(lambda: recorder.messages >= summary.messages, 10, "the recorder to catch up")
    finally:
        recorder.close()
    got = list(recording.read(path))
    assert 2 * 101 <= summary.messages == len(got) <= 4 * 101  # 1-second steps for 2.5 s
    first_ts = min(orjson.loads(m.payload)["ts"] for m in got)
    for message in got:
        ts = orjson.loads(message.payload)["ts"]
        # The current second's readings go out at once; later ones at ts + latency (<= 300 ms).
        # The slack beyond the latency (200 ms) is stretched like every wait
        # (SMARTPARK_TEST_PATIENCE) for a loaded CI host: 520 ms was seen at load 15.
        allowed = 1_400 if ts == first_ts else 300 + int(200 * PATIENCE)
        assert 0 <= message.t_ms - ts <= allowed, (message.topic, ts, message.t_ms)
    assert "live" in console.file.getvalue()  # type: ignore[attr-defined]


def test_a_parquet_readings_table_replays_like_a_csv_one(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "readings.parquet"
    pl.DataFrame(
        {
            "ts": [1793700060000, 1793700000000],
            "kind": ["gas", "gas"],
            "park": ["tianfu-np"] * 2,
            "enterprise": ["e01-baijiu"] * 2,
            "sensor": ["e01-gas-1"] * 2,
            "volume_m3": [12.5, None],
            "flow_m3h": [3.0, 2.0],
        }
    ).write_parquet(path)
    problems: list[str] = []
    messages = recording.read_table(path, root="sp", problems=problems)
    assert not problems
    assert [orjson.loads(m.payload) for m in messages] == [
        {"ts": 1793700000000, "values": {"flow_m3h": 2.0}},
        {"ts": 1793700060000, "values": {"volume_m3": 12.5, "flow_m3h": 3.0}},
    ]
    assert messages[0].topic == "sp/tianfu-np/e01-baijiu/gas/e01-gas-1"
