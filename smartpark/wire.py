"""The wire contract between devices and stages, as pure functions: every topic, the
reading payload decoder, and the codecs of dead letters and KPI updates (the alerts'
notices and acknowledgement requests: ``smartpark.alertwire``).

Topics (a level starting with ``_`` marks a system topic that carries no readings):

- readings     ``{root}/{park}/{enterprise}/{kind}/{sensor}``
- dead letters ``{root}/_deadletter/{reason}`` (the device's topic only in the body)
- KPI updates  ``{root}/{park}/{scope}/_kpi`` (scope: an enterprise id or ``_park``)
- alerts       ``{root}/{park}/{enterprise}/_alerts``
- ack requests ``{root}/_control/alerts/ack`` (the API asks the alert service)

:func:`classify` names what a topic carries; no stage recognises a topic by its own
string test.

Payload: UTF-8 JSON, one reading ``{"ts": ..., "values": {...}, "seq": n}`` or an
array of them. ``ts`` is epoch milliseconds or an ISO 8601 / RFC 3339 string with
an offset. Decoding never raises on bad input: it returns the good readings and a
:class:`Problem` for each bad one, so one bad reading never costs a good one.
"""

from __future__ import annotations

import base64
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from smartpark.model import ID_RE, Reason, SensorRef

_MAX_EXACT_INT = 2**53  # integers beyond this are not stored exactly as a float
_MAX_ABS_FLOAT = 1e18  # far beyond any meter; refuses absurd values early
_READING_KEYS = frozenset(("ts", "values", "seq"))
_DAY_MS = 86_400_000

RawReading = tuple[int, dict[str, float | int], int | None]
"""(ts_ms, values, seq) of one decoded reading; values are finite numbers of known fields."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) a message was refused; ``index`` is the array position, if any."""

    reason: Reason
    detail: str
    index: int | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """What the decoder accepts besides the schema."""

    max_payload_bytes: int = 256 * 1024
    max_readings: int = 1_000
    max_future_ms: int = 300_000
    max_past_ms: int = 400 * _DAY_MS


def topic_for(root: str, ref: SensorRef) -> str:
    """The topic a sensor publishes on."""
    return f"{root}/{ref.park}/{ref.enterprise}/{ref.kind}/{ref.sensor}"


def readings_filter(root: str, park: str | None = None, kind: str | None = None) -> str:
    """The subscription to every reading (of one park, of one sensor kind, when given)."""
    return f"{root}/{park or '+'}/+/{kind or '+'}/+"


class Topic(StrEnum):
    """What a topic carries (:func:`classify`)."""

    READING = "reading"
    KPI = "kpi"
    ALERT = "alert"
    ACK = "ack"
    DEADLETTER = "deadletter"
    OTHER = "other"  # a system topic of no known kind


def classify(topic: str) -> Topic:
    """What ``topic`` carries, by the shapes above (the root is not checked; a reading's
    ids are checked by :func:`parse_topic`)."""
    levels = topic.split("/")
    if len(levels) >= 3 and levels[-2] == "_deadletter":
        return Topic.DEADLETTER
    if levels[-3:] == ["_control", "alerts", "ack"]:
        return Topic.ACK
    if len(levels) == 4 and levels[-1] == "_kpi":
        return Topic.KPI
    if len(levels) == 4 and levels[-1] == "_alerts":
        return Topic.ALERT
    if any(level.startswith("_") for level in levels):
        return Topic.OTHER
    return Topic.READING


def kpi_topic(root: str, park: str, scope: str) -> str:
    return f"{root}/{park}/{scope}/_kpi"


def kpi_filter(root: str) -> str:
    return f"{root}/+/+/_kpi"


def alert_topic(root: str, park: str, enterprise: str) -> str:
    return f"{root}/{park}/{enterprise}/_alerts"


def alert_filter(root: str) -> str:
    return f"{root}/+/+/_alerts"


def ack_topic(root: str) -> str:
    return f"{root}/_control/alerts/ack"


def json_object(payload: bytes | bytearray) -> dict[str, Any] | None:
    """The JSON object in ``payload``, or None when it is not one (a stage's own message
    that fails this is counted by its reader, never raised)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return body if type(body) is dict else None


def deadletter_filter(root: str) -> str:
    return f"{root}/_deadletter/+"


def deadletter_topic(root: str, problems: Sequence[Problem]) -> str:
    """Named by the reason of the first problem; never by anything the device sent."""
    return f"{root}/_deadletter/{problems[0].reason.value}"


def parse_topic(topic: str, root: str) -> SensorRef | Problem | None:
    """The four ids of a reading topic, a Problem, or None for a system topic."""
    levels = topic.split("/")
    if any(level.startswith("_") for level in levels):
        return None
    if len(levels) != 5 or levels[0] != root:
        return Problem(Reason.BAD_TOPIC, f"expected {root}/park/enterprise/kind/sensor")
    for name, level in zip(("park", "enterprise", "kind", "sensor"), levels[1:], strict=True):
        if ID_RE.fullmatch(level) is None:
            return Problem(Reason.BAD_TOPIC, f"invalid {name} id: {level[:80]!r}")
    return SensorRef(levels[1], levels[2], levels[3], levels[4])


def parse_ts(raw: object) -> int | str:
    """Epoch milliseconds from an int or an ISO 8601 string with offset, or a reason text."""
    if type(raw) is int:
        return raw
    if type(raw) is str:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            return f"unparseable ts: {raw[:64]!r}"
        if parsed.tzinfo is None:
            return f"ts without UTC offset: {raw[:64]!r}"
        return int(parsed.timestamp() * 1000)  # millisecond precision, as stored
    if raw is None:
        return "missing ts"
    return f"ts must be epoch ms (integer) or an RFC 3339 string, got {type(raw).__name__}"


def load_json(payload: bytes | bytearray, limits: Limits) -> object | Problem:
    """The parsed JSON of a payload within the size limit, or the Problem that refuses it."""
    if len(payload) > limits.max_payload_bytes:
        return Problem(
            Reason.PAYLOAD_TOO_LARGE,
            f"{len(payload)} bytes > limit {limits.max_payload_bytes}",
        )
    try:
        doc: object = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return Problem(Reason.BAD_ENCODING, f"not UTF-8: {uexc.reason} at byte {uexc.start}")
        return Problem(Reason.BAD_JSON, str(exc)[:200])
    return doc


def _reading(
    item: object, fields: Container[str], lo_ms: int, hi_ms: int, index: int | None
) -> RawReading | Problem:
    if type(item) is not dict:
        return Problem(Reason.BAD_SHAPE, "a reading must be a JSON object", index)
    if not _READING_KEYS.issuperset(item):
        extra = sorted(str(k) for k in item if k not in _READING_KEYS)
        return Problem(Reason.BAD_SHAPE, f"unexpected keys: {extra[:5]!r}", index)
    ts = parse_ts(item.get("ts"))
    if type(ts) is str:
        return Problem(Reason.BAD_TS, ts, index)
    assert type(ts) is int
    if ts < lo_ms or ts > hi_ms:
        hint = " (seconds instead of milliseconds?)" if 0 < ts < 1e11 else ""
        return Problem(Reason.TS_OUT_OF_RANGE, f"ts {ts} outside accepted window{hint}", index)
    values = item.get("values")
    if type(values) is not dict or not values:
        return Problem(Reason.BAD_SHAPE, "values must be a non-empty object", index)
    for key, value in values.items():
        if key not in fields:
            return Problem(Reason.UNKNOWN_FIELD, f"unknown field: {key[:64]!r}", index)
        kind = type(value)
        if kind is float:
            # orjson refuses NaN/Infinity literals and overflowing numbers, so floats
            # are finite here; only magnitude can still be a problem.
            if not -_MAX_ABS_FLOAT < value < _MAX_ABS_FLOAT:
                return Problem(Reason.BAD_VALUE, f"{key}: value out of range", index)
        elif kind is int:
            if not -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
                return Problem(Reason.BAD_VALUE, f"{key}: integer beyond 2**53", index)
        else:
            return Problem(
                Reason.BAD_VALUE, f"{key}: expected a number, got {kind.__name__}", index
            )
    seq = item.get("seq")
    if seq is not None and (type(seq) is not int or seq < 0):
        return Problem(Reason.BAD_SEQ, "seq must be a non-negative integer", index)
    return ts, values, seq


def decode(
    payload: bytes | bytearray, *, fields: Container[str], now_ms: int, limits: Limits
) -> tuple[list[RawReading], list[Problem]]:
    """Decode one message's payload into its good readings and the problems of the rest."""
    doc = load_json(payload, limits)
    if type(doc) is Problem:
        return [], [doc]
    lo_ms, hi_ms = now_ms - limits.max_past_ms, now_ms + limits.max_future_ms
    if type(doc) is dict:
        one = _reading(doc, fields, lo_ms, hi_ms, None)
        return ([], [one]) if type(one) is Problem else ([one], [])  # type: ignore[list-item]
    if type(doc) is not list:
        return [], [Problem(Reason.BAD_SHAPE, "payload must be a JSON object or array")]
    if not doc:
        return [], [Problem(Reason.BAD_SHAPE, "empty array")]
    if len(doc) > limits.max_readings:
        return [], [
            Problem(Reason.TOO_MANY_READINGS, f"{len(doc)} readings > limit {limits.max_readings}")
        ]
    good: list[RawReading] = []
    bad: list[Problem] = []
    for index, item in enumerate(doc):
        result = _reading(item, fields, lo_ms, hi_ms, index)
        if type(result) is Problem:
            bad.append(result)
        else:
            good.append(result)  # type: ignore[arg-type]
    return good, bad


def encode_reading(ts_ms: int, values: Mapping[str, float]) -> bytes:
    """One reading as the wire contract carries it (what gateways publish)."""
    return orjson.dumps({"ts": ts_ms, "values": values})


# -- dead letters ---------------------------------------------------------------------

MAX_DEADLETTER_RAW_BYTES = 64 * 1024  # keep dead letters small even for oversized payloads


def deadletter_payload(
    *, topic: str, payload: bytes | bytearray, problems: Sequence[Problem], received_ms: int
) -> bytes:
    """JSON body: the reasons, the original topic and the raw payload (base64, capped)."""
    raw = payload[:MAX_DEADLETTER_RAW_BYTES]
    return orjson.dumps(
        {
            "received_ms": received_ms,
            "topic": topic,
            "problems": [
                {"reason": p.reason.value, "detail": p.detail, "index": p.index} for p in problems
            ],
            "payload_b64": base64.b64encode(raw).decode("ascii"),
            "payload_bytes": len(payload),
            "payload_truncated": len(raw) < len(payload),
        }
    )


# -- KPI updates ----------------------------------------------------------------------


Figure = float | bool
"""A KPI point's field: a number, or a ``*_met`` verdict."""


@dataclass(frozen=True, slots=True)
class KpiUpdate:
    """One window's KPIs of one scope, as published after its point is stored.

    ``revision`` is 0 for the first computation and grows with each late update;
    ``figures`` holds the fields of the ``kpi`` point, ``methods`` its coefficient and
    method tags (``smartpark.model.KPI_METHOD_TAGS``). On the wire both sit beside the
    window's keys in one flat JSON object, as they always have."""

    park: str
    scope: str
    window: str
    start_ms: int
    end_ms: int
    revision: int
    figures: Mapping[str, Figure]
    methods: Mapping[str, str] = field(default_factory=dict)


def encode_kpi_update(update: KpiUpdate) -> bytes:
    return orjson.dumps(
        {
            **update.methods,
            **update.figures,
            # the envelope last: a figure of the same name cannot override it
            "park": update.park,
            "scope": update.scope,
            "window": update.window,
            "start_ms": update.start_ms,
            "end_ms": update.end_ms,
            "revision": update.revision,
        }
    )


_KPI_KEYS = frozenset(("park", "scope", "window", "start_ms", "end_ms", "revision"))


def decode_kpi_update(payload: bytes | bytearray) -> KpiUpdate | None:
    """The update in a ``_kpi`` message, or None when it is not one (counted by callers).

    Strings are method tags, numbers and booleans figures; anything else is dropped."""
    body = json_object(payload)
    if body is None:
        return None
    park, scope, window = body.get("park"), body.get("scope"), body.get("window")
    start, end, revision = body.get("start_ms"), body.get("end_ms"), body.get("revision", 0)
    if not (type(park) is str and type(scope) is str and type(window) is str):
        return None
    if not (type(start) is int and type(end) is int and type(revision) is int):
        return None
    figures: dict[str, Figure] = {}
    methods: dict[str, str] = {}
    for key, value in body.items():
        if key in _KPI_KEYS:
            continue
        kind = type(value)
        if kind is str:
            methods[key] = value
        elif kind is bool:
            figures[key] = value
        elif kind is int or kind is float:
            figures[key] = float(value)
    return KpiUpdate(park, scope, window, start, end, revision, figures, methods)
