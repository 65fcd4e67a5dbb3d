"""Readings to MQTT messages, vectorised with polars; message-level faults (pure).

A message frame has the columns ``send_ms`` (when the device sends it), ``topic``,
``payload`` (UTF-8 text) or ``payload_b64`` (bytes that are not UTF-8, base64),
and ``readings`` (how many readings it carries; 0 for a malformed one). Payloads
follow the wire contract: ``{"ts":..., "values":{...}, "seq":...}`` or, with
``batch > 1``, a JSON array of them, as gateways send.
"""

from __future__ import annotations

import base64

import numpy as np
import polars as pl

from simulators.park import Block, FaultLog, keyed_rng
from simulators.scenario import Scenario
from smartpark.registry import RegisteredSensor
from smartpark.wire import topic_for

SCHEMA = {
    "send_ms": pl.Int64,
    "topic": pl.Utf8,
    "payload": pl.Utf8,
    "payload_b64": pl.Utf8,
    "readings": pl.Int32,
}
_MESSAGES = 9  # keyed-rng purpose, apart from the model's

# What broken devices and gateways really send, made from a good payload.
MALFORMED = (
    "truncated",
    "nan_value",
    "missing_ts",
    "string_value",
    "unknown_field",
    "not_utf8",
    "empty",
)


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMA)


def encode(
    blocks: list[Block],
    sensors: list[RegisteredSensor],
    *,
    root: str,
    scenario: Scenario,
    chunk: int,
    log: FaultLog,
) -> pl.DataFrame:
    """One chunk's readings as messages with latency and message faults, in send order."""
    frames = [_readings(group, sensors, root=root) for group in _by_fields(blocks, sensors)]
    frames = [f for f in frames if f.height]
    if not frames:
        return empty()
    readings = pl.concat(frames, how="vertical")
    rng = keyed_rng(scenario.seed, _MESSAGES, chunk)
    latency = rng.uniform(*scenario.latency_ms, size=readings.height).astype(np.int64)
    readings = readings.with_columns(send_ms=pl.col("true_ts") + pl.Series(latency))
    messages = _batch(readings, scenario.batch)
    return _faults(messages, scenario=scenario, rng=rng, log=log).sort(
        "send_ms", maintain_order=True
    )


def _by_fields(blocks: list[Block], sensors: list[RegisteredSensor]) -> list[list[Block]]:
    groups: dict[tuple[str, ...], list[Block]] = {}
    for block in blocks:
        if len(block.ts):
            groups.setdefault(tuple(sensors[block.sensor].fields), []).append(block)
    return list(groups.values())


def _readings(blocks: list[Block], sensors: list[RegisteredSensor], *, root: str) -> pl.DataFrame:
    """One row per reading, with its JSON text, for blocks sharing one set of fields."""
    names = [n for n in sensors[blocks[0].sensor].fields if n in blocks[0].values]
    lengths = [len(b.ts) for b in blocks]
    frame = pl.DataFrame(
        {
            "sensor": np.repeat([b.sensor for b in blocks], lengths),
            "true_ts": np.concatenate([b.true_ts for b in blocks]),
            "ts": np.concatenate([b.ts for b in blocks]),
            "seq": np.concatenate([b.seq for b in blocks]),
            **{n: np.concatenate([b.values[n] for b in blocks]) for n in names},
        }
    )
    topics = pl.Series(
        "topic", [topic_for(root, sensors[b.sensor].ref) for b in blocks], dtype=pl.Utf8
    )
    return frame.select(
        "sensor",
        "true_ts",
        topic=topics.gather(np.repeat(np.arange(len(blocks)), lengths)),
        reading=pl.struct(
            pl.col("ts"), pl.struct(names).alias("values"), pl.col("seq")
        ).struct.json_encode(),
    )


def _batch(readings: pl.DataFrame, batch: int) -> pl.DataFrame:
    if batch == 1:
        return readings.select(
            "send_ms", "topic", payload="reading", readings=pl.lit(1, dtype=pl.Int32)
        )
    # A gateway sends each sensor's readings in arrays of ``batch``, when the last is taken.
    numbered = readings.with_columns(n=pl.int_range(pl.len()).over("sensor") // batch)
    return (
        numbered.group_by("sensor", "n", maintain_order=True)
        .agg(
            pl.col("send_ms").max(),
            pl.col("topic").first(),
            payload=pl.format("[{}]", pl.col("reading").str.join(",")),
            readings=pl.len().cast(pl.Int32),
        )
        .select("send_ms", "topic", "payload", "readings")
    )


def _malformed(payload: str, how: str) -> tuple[str | None, str | None]:
    """A broken version of a good payload: (text, None) or (None, base64 of non-UTF-8 bytes)."""
    if how == "truncated":
        return payload[: max(1, len(payload) // 2)], None
    if how == "nan_value":
        return _first_value(payload, "NaN"), None
    if how == "missing_ts":
        start = payload.index('"ts":')
        return payload[:start] + payload[payload.index(",", start) + 1 :], None
    if how == "string_value":
        return _first_value(payload, '"n/a"'), None
    if how == "unknown_field":
        return payload.replace('"values":{', '"values":{"debug_raw":1,', 1), None
    if how == "not_utf8":
        broken = payload.encode()[:8] + b"\xff\xfe" + payload.encode()[8:]
        return None, base64.b64encode(broken).decode("ascii")
    return "", None


def _first_value(payload: str, replacement: str) -> str:
    start = payload.index(":", payload.index('"values":{') + len('"values":{')) + 1
    end = min(i for i in (payload.find(",", start), payload.find("}", start)) if i >= 0)
    return payload[:start] + replacement + payload[end:]


def _faults(
    messages: pl.DataFrame, *, scenario: Scenario, rng: np.random.Generator, log: FaultLog
) -> pl.DataFrame:
    """Late, out-of-order, malformed and duplicated messages, at their rates."""
    faults, n = scenario.faults, messages.height
    send = messages["send_ms"].to_numpy().copy()
    draws = {name: rng.random(n) for name in ("late", "out_of_order", "malformed", "duplicate")}
    late = draws["late"] < faults.late.rate
    send[late] += (rng.uniform(*faults.late.delay_s, size=int(late.sum())) * 1000).astype(np.int64)
    # Held just past the sensor's next message, so it arrives after a newer reading.
    ooo = (draws["out_of_order"] < faults.out_of_order.rate) & ~late
    step_ms = scenario.interval_s * 1000 * scenario.batch
    send[ooo] += (step_ms * rng.uniform(1.05, 1.5, size=int(ooo.sum()))).astype(np.int64)
    bad = np.flatnonzero(draws["malformed"] < faults.malformed.rate)
    kinds = rng.integers(0, len(MALFORMED), size=len(bad))
    broken = [
        _malformed(messages["payload"][k], MALFORMED[int(how)])
        for k, how in zip(bad.tolist(), kinds.tolist(), strict=True)
    ]
    out = messages.with_columns(send_ms=pl.Series(send), payload_b64=pl.lit(None, pl.Utf8))
    if len(bad):
        out = out.with_columns(
            payload=out["payload"].scatter(bad, [text for text, _ in broken]),
            payload_b64=out["payload_b64"].scatter(bad, [raw for _, raw in broken]),
            readings=out["readings"].scatter(bad, 0),
        )
    out = out.select(list(SCHEMA))
    dup = np.flatnonzero(draws["duplicate"] < faults.duplicate.rate)
    copies = out[dup].with_columns(
        send_ms=pl.col("send_ms")
        + pl.Series((rng.uniform(*faults.duplicate.delay_s, size=len(dup)) * 1000).astype(np.int64))
    )
    log.events.update(
        late=int(late.sum()), out_of_order=int(ooo.sum()), malformed=len(bad), duplicate=len(dup)
    )
    log.eligible.update(late=n, out_of_order=n - int(late.sum()), malformed=n, duplicate=n)
    return pl.concat([out, copies]) if len(dup) else out
