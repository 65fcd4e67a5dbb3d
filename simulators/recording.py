"""Recordings of the raw MQTT stream (JSON Lines) and readings tables (CSV, Parquet).

A recording is one JSON object per line. The first line is a header,
``{"smartpark_recording": 1, ...}`` with where it came from; every other line is one
message: ``{"t_ms": <receive or send time, epoch ms>, "topic": "...", "payload": "..."}``,
with ``"payload_b64"`` instead of ``"payload"`` when the bytes are not UTF-8. Bytes
round-trip exactly. Generated feeds are written in the same format, so anything that
replays a recording replays a generated feed.

A readings table has one row per reading: ``ts`` (or ``time``, as ``influx -format
csv -precision ms`` exports it) in epoch ms or RFC 3339, ``park``, ``enterprise``,
``kind`` (or ``name``, the measurement), ``sensor``, and one column per field;
empty cells are left out of the reading.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson
import polars as pl

from smartpark.errors import SmartparkError
from smartpark.model import SensorRef, is_id
from smartpark.wire import parse_ts, topic_for

FORMAT = 1
TABLE_SUFFIXES = (".csv", ".parquet")


class RecordingError(SmartparkError):
    """A recording or readings table cannot be read."""


class Message(NamedTuple):
    t_ms: int
    topic: str
    payload: bytes
    readings: int = -1  # -1: not known without decoding


def header(**meta: Any) -> bytes:
    return orjson.dumps({"smartpark_recording": FORMAT, **meta}) + b"\n"


def line(t_ms: int, topic: str, payload: bytes) -> bytes:
    """One message as a recording line."""
    try:
        body: dict[str, object] = {"t_ms": t_ms, "topic": topic, "payload": payload.decode()}
    except UnicodeDecodeError:
        body = {"t_ms": t_ms, "topic": topic, "payload_b64": base64.b64encode(payload).decode()}
    return orjson.dumps(body) + b"\n"


@dataclass(slots=True)
class Written:
    messages: int = 0
    readings: int = 0


def write_frames(out: IO[bytes], frames: Iterable[pl.DataFrame], written: Written) -> None:
    """Append message frames (``simulators.messages`` schema) as recording lines."""
    for frame in frames:
        lines = frame.select(
            pl.when(pl.col("payload_b64").is_null())
            .then(pl.struct(t_ms="send_ms", topic="topic", payload="payload").struct.json_encode())
            .otherwise(
                pl.struct(
                    t_ms="send_ms", topic="topic", payload_b64="payload_b64"
                ).struct.json_encode()
            )
        )
        lines.write_csv(out, include_header=False, quote_style="never")
        written.messages += frame.height
        written.readings += int(frame["readings"].sum())


def frame_messages(frame: pl.DataFrame) -> Iterator[Message]:
    """The messages of one frame, as the player takes them."""
    for send_ms, topic, payload, raw, readings in frame.iter_rows():
        body = base64.b64decode(raw) if raw is not None else payload.encode()
        yield Message(send_ms, topic, body, readings)


def _topic_ok(topic: object) -> bool:
    return (
        isinstance(topic, str)
        and 0 < len(topic.encode()) <= 65_535
        and not any(c in topic for c in "+#\x00")
    )


def read(path: Path, *, problems: list[str] | None = None) -> Iterator[Message]:
    """The messages of a recording in file order; unusable lines are listed in ``problems``."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror}") from exc
    with handle:
        yield from parse(handle, source=str(path), problems=problems)


def parse(
    lines: Iterable[bytes], *, source: str, problems: list[str] | None = None
) -> Iterator[Message]:
    """Recording lines to messages; without ``problems``, the first bad line raises."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            _problem(problems, source, number, f"not JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            _problem(problems, source, number, "not a JSON object")
            continue
        if "smartpark_recording" in obj:
            if obj["smartpark_recording"] != FORMAT:
                raise RecordingError(f"{source}: unknown recording format {obj!r}")
            continue
        message = _message(obj)
        if isinstance(message, str):
            _problem(problems, source, number, message)
        else:
            yield message


def _message(obj: dict[str, Any]) -> Message | str:
    t_ms, topic = obj.get("t_ms"), obj.get("topic")
    if type(t_ms) is not int:
        return f"t_ms must be an integer: {t_ms!r}"
    if not _topic_ok(topic):
        return f"unusable topic: {topic!r}"
    assert isinstance(topic, str)
    if isinstance(obj.get("payload"), str):
        return Message(t_ms, topic, obj["payload"].encode())
    if isinstance(obj.get("payload_b64"), str):
        try:
            return Message(t_ms, topic, base64.b64decode(obj["payload_b64"], validate=True))
        except binascii.Error:
            return f"payload_b64 is not base64: {obj['payload_b64']!r}"
    return "no payload or payload_b64"


def _problem(problems: list[str] | None, source: str, number: int, what: str) -> None:
    message = f"{source}:{number}: {what}"
    if problems is None:
        raise RecordingError(message)
    problems.append(message)


def count_lines(path: Path) -> int:
    """Messages in a recording (lines minus the header), without decoding them."""
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)


def read_table(path: Path, *, root: str, problems: list[str]) -> list[Message]:
    """A readings table as one message per reading, in timestamp order."""
    try:
        # CSV cells are read as text and converted here, so one odd cell costs one row.
        frame = (
            pl.read_parquet(path)
            if path.suffix == ".parquet"
            else pl.read_csv(path, infer_schema_length=0)
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise RecordingError(f"{path}: cannot read readings table: {exc}") from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    time_col = next((c for c in ("ts", "time") if c in frame.columns), None)
    kind_col = next((c for c in ("kind", "name") if c in frame.columns), None)
    missing = [c for c in ("park", "enterprise", "sensor") if c not in frame.columns]
    if time_col is None or kind_col is None or missing:
        raise RecordingError(
            f"{path}: a readings table needs ts (or time), park, enterprise, kind (or name) "
            f"and sensor columns; it has {frame.columns}"
        )
    tags = {time_col, kind_col, "park", "enterprise", "sensor"}
    fields = [c for c in frame.columns if c not in tags]
    out: list[Message] = []
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        ts_ms = _table_ts(row[time_col])
        ids = [row["park"], row["enterprise"], row[kind_col], row["sensor"]]
        values = _table_values(row, fields)
        if isinstance(ts_ms, str):
            problems.append(f"{path}:{number}: {ts_ms}")
        elif not all(is_id(i) for i in ids):
            problems.append(f"{path}:{number}: ids must match [a-z0-9][a-z0-9_-]*: {ids!r}")
        elif isinstance(values, str):
            problems.append(f"{path}:{number}: {values}")
        else:
            topic = topic_for(root, SensorRef(*ids))
            out.append(Message(ts_ms, topic, orjson.dumps({"ts": ts_ms, "values": values}), 1))
    out.sort(key=lambda m: m.t_ms)
    return out


def _table_ts(raw: object) -> int | str:
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            return f"timestamp without UTC offset: {raw!r}"
        return int(raw.timestamp() * 1000)
    return parse_ts(raw.strip() if isinstance(raw, str) else raw)


def _table_values(row: dict[str, Any], fields: list[str]) -> dict[str, float] | str:
    values: dict[str, float] = {}
    for name in fields:
        cell = row[name]
        if cell is None or cell == "":
            continue
        try:
            values[name] = float(cell)
        except (TypeError, ValueError):
            return f"{name} is not a number: {cell!r}"
    return values or "no field values"


def shift(payload: bytes, offset_ms: int) -> bytes:
    """The payload with every reading's ``ts`` moved by ``offset_ms``; others unchanged."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    items = obj if isinstance(obj, list) else [obj]
    changed = False
    for item in items:
        if isinstance(item, dict) and "ts" in item:
            ts = parse_ts(item["ts"])
            if isinstance(ts, int):
                item["ts"] = ts + offset_ms
                changed = True
    return orjson.dumps(obj) if changed else payload
