"""Uplink mappings applied: a vendor gateway's message to readings plus problems (pure).

Like ``smartpark.wire.decode`` this never raises on what a device sends: it returns the
readings it could form and a :class:`~smartpark.wire.Problem` for each part it could
not (``mapping_no_match``, ``mapping_missing_field``, ``mapping_bad_timestamp``,
``mapping_bad_value``, ``mapping_unknown_sensor``, and the native contract's
``bad_json``, ``ts_out_of_range``, ``unknown_field`` ...). One bad item costs only itself.

Shapes (``MappingSpec.shape``): ``wide`` - each item is one sensor at one time, each field
a JMESPath; ``points`` - each item is one named value (``name``, ``value``), points of one
sensor and time are one reading, names the mapping does not list are not read; ``series``
- each field's source is a list of ``[ts, value]`` pairs.

Times: epoch s/ms/us (numbers or digit strings), ISO 8601 with an offset, or ``local``:
wall-clock time in the park's (or the mapping's) time zone. In a zone without daylight
saving time (Asia/Shanghai since 1991) each local time is one instant; in a zone with
it, a repeated hour takes its first occurrence and a skipped one is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jmespath
from jmespath.parser import ParsedResult

from smartpark.mapspec import CONVERSIONS, FieldMap, MappingSpec, topic_filter
from smartpark.model import ID_RE, Reason, SensorRef
from smartpark.registry import Registry
from smartpark.wire import Limits, Problem, load_json

_MAX_ABS = 1e18


@dataclass(frozen=True, slots=True)
class MappedReading:
    """One reading a mapping formed, as the native contract would have carried it."""

    ref: SensorRef
    ts_ms: int
    values: dict[str, float]


class _Bad(Exception):
    """One item's problem, raised and caught inside this module only."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    spec: FieldMap
    expr: ParsedResult | None  # None for the points shape (matched by name)
    factor: float


def _number(raw: object, spec: FieldMap, what: str) -> float:
    if spec.type == "string":
        if type(raw) is not str:
            raise _Bad(Reason.MAPPING_BAD_VALUE, f"{what}: expected a decimal string")
        try:
            value = float(raw.strip())
        except ValueError:
            raise _Bad(Reason.MAPPING_BAD_VALUE, f"{what}: not a number: {raw[:32]!r}") from None
    elif type(raw) in (int, float):
        value = float(raw)  # type: ignore[arg-type]
    else:
        raise _Bad(Reason.MAPPING_BAD_VALUE, f"{what}: expected a number, got {type(raw).__name__}")
    return value


def scaled(raw: object, field: _Field, what: str) -> float:
    """(raw x scale + offset) x the conversion factor, finite and within range."""
    value = (_number(raw, field.spec, what) * field.spec.scale + field.spec.offset) * field.factor
    if not math.isfinite(value) or abs(value) >= _MAX_ABS:
        raise _Bad(Reason.MAPPING_BAD_VALUE, f"{what}: value out of range")
    return value


def parse_time(raw: object, *, fmt: str, tz: ZoneInfo, local_format: str | None) -> int:
    """Epoch milliseconds of a timestamp in ``fmt``; raises ``_Bad`` with the reason."""
    if fmt.startswith("epoch_"):
        if type(raw) is str and raw.isdigit():
            raw = int(raw)
        if type(raw) not in (int, float) or not math.isfinite(raw):  # type: ignore[arg-type]
            raise _Bad(Reason.MAPPING_BAD_TIMESTAMP, f"{fmt}: expected a number, got {raw!r:.40}")
        per_ms = {"epoch_s": 1000.0, "epoch_ms": 1.0, "epoch_us": 0.001}[fmt]
        return round(raw * per_ms)  # type: ignore[operator]
    if type(raw) is not str:
        raise _Bad(Reason.MAPPING_BAD_TIMESTAMP, f"{fmt}: expected a string, got {raw!r:.40}")
    try:
        if fmt == "local" and local_format is not None:
            parsed = datetime.strptime(raw, local_format)
        else:
            parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _Bad(Reason.MAPPING_BAD_TIMESTAMP, f"unparseable time: {raw[:40]!r}") from None
    if fmt == "iso":
        if parsed.tzinfo is None:
            raise _Bad(Reason.MAPPING_BAD_TIMESTAMP, f"time without UTC offset: {raw[:40]!r}")
        return int(parsed.timestamp() * 1000)
    if parsed.tzinfo is not None:
        raise _Bad(Reason.MAPPING_BAD_TIMESTAMP, f"local time with an offset: {raw[:40]!r}")
    local = parsed.replace(tzinfo=tz, fold=0)
    back = local.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != parsed:
        raise _Bad(Reason.MAPPING_BAD_TIMESTAMP, f"{raw[:40]!r} does not exist in {tz.key}")
    return int(local.timestamp() * 1000)


class CompiledMapping:
    """One registry mapping, its expressions compiled, bound to its park's sensors."""

    def __init__(self, spec: MappingSpec, *, park: str, tz: str, registry: Registry) -> None:
        self.spec, self.park = spec, park
        self.tz = ZoneInfo(spec.timezone or tz)
        self.levels = spec.topic.split("/")
        self.filter = topic_filter(spec.topic)
        self._items = jmespath.compile(spec.items)
        self._vars = {n: jmespath.compile(e) for n, e in spec.vars.items()}
        self._ts = jmespath.compile(spec.ts.path)
        self._name = jmespath.compile(spec.name) if spec.name else None
        self._value = jmespath.compile(spec.value) if spec.value else None
        self.fields = [
            _Field(
                name,
                f,
                None if spec.shape == "points" else jmespath.compile(f.source),
                CONVERSIONS[f.convert] if f.convert else 1.0,
            )
            for name, f in spec.fields.items()
        ]
        self._by_source = {f.spec.source: f for f in self.fields}
        self._registry = registry
        self._allowed = frozenset(spec.enterprises)

    def match(self, topic: str) -> dict[str, str] | None:
        """The placeholders' values when ``topic`` fits the pattern, else None."""
        levels = topic.split("/")
        if len(levels) != len(self.levels):
            return None
        found: dict[str, str] = {}
        for want, got in zip(self.levels, levels, strict=True):
            if want.startswith("{"):
                found[want[1:-1]] = got
            elif want != got:
                return None
        return found

    def _items_of(self, doc: object) -> Iterator[tuple[object, object]]:
        got = self._items.search(doc)
        if self.spec.each == "entries":
            if type(got) is not dict:
                raise _Bad(Reason.MAPPING_NO_MATCH, f"items {self.spec.items!r}: no object")
            yield from got.items()
        elif type(got) is list:
            yield from ((None, item) for item in got)
        elif type(got) is dict:
            yield None, got
        else:
            raise _Bad(Reason.MAPPING_NO_MATCH, f"items {self.spec.items!r}: no list or object")

    def _sensor(
        self, ctx: dict[str, Any], names: dict[str, str]
    ) -> tuple[SensorRef, frozenset[str]]:
        values = dict(names)
        for name, expr in self._vars.items():
            got = expr.search(ctx)
            if type(got) not in (str, int) or got == "":
                raise _Bad(Reason.MAPPING_MISSING_FIELD, f"var {name}: {self.spec.vars[name]!r}")
            values[name] = str(got)
        if ctx["key"] is not None:
            values["key"] = str(ctx["key"])
        sensor = self.spec.sensor.format_map(values).lower()
        if ID_RE.fullmatch(sensor) is None:
            raise _Bad(Reason.MAPPING_UNKNOWN_SENSOR, f"not a sensor id: {sensor[:80]!r}")
        found = self._registry.sensor(self.park, sensor)
        if found is None or found.ref.enterprise not in self._allowed:
            raise _Bad(
                Reason.MAPPING_UNKNOWN_SENSOR,
                f"sensor {sensor!r} not registered for this mapping's enterprises",
            )
        return found.ref, frozenset(found.fields)

    def _time(self, raw: object) -> int:
        return parse_time(
            raw, fmt=self.spec.ts.format, tz=self.tz, local_format=self.spec.ts.local_format
        )

    def readings(
        self, doc: object, names: dict[str, str], add: Callable[..., None], bad: list[Problem]
    ) -> None:
        """Call ``add(ref, ts_ms, field, value, fields)`` for each value the message holds."""
        try:
            items = list(self._items_of(doc))
        except _Bad as exc:
            bad.append(Problem(exc.reason, exc.detail))
            return
        if not items:
            bad.append(Problem(Reason.MAPPING_NO_MATCH, f"items {self.spec.items!r}: empty"))
        for index, (key, item) in enumerate(items):
            ctx = {"root": doc, "item": item, "key": key}
            try:
                ref, fields = self._sensor(ctx, names)
                if self.spec.shape == "points":
                    self._point(ctx, ref, fields, add)
                elif self.spec.shape == "series":
                    self._series(ctx, ref, fields, add, bad, index)
                else:
                    self._wide(ctx, ref, fields, add)
            except _Bad as exc:
                bad.append(Problem(exc.reason, exc.detail, index))

    def _wide(self, ctx: dict[str, Any], ref: SensorRef, fields: frozenset[str], add: Any) -> None:
        ts = self._time(self._ts.search(ctx))
        got: list[tuple[str, float]] = []
        for f in self.fields:
            raw = f.expr.search(ctx) if f.expr is not None else None
            if raw is None:
                if f.spec.optional:
                    continue
                raise _Bad(Reason.MAPPING_MISSING_FIELD, f"{f.name}: nothing at {f.spec.source!r}")
            got.append((f.name, scaled(raw, f, f.name)))
        if not got:
            raise _Bad(Reason.MAPPING_MISSING_FIELD, "none of the mapped fields is present")
        for name, _ in got:  # checked before any is added: a reading is whole or refused
            if name not in fields:
                raise _Bad(Reason.UNKNOWN_FIELD, f"{name}: not a field of {ref.kind}")
        for name, value in got:
            add(ref, ts, name, value, fields)

    def _point(self, ctx: dict[str, Any], ref: SensorRef, fields: frozenset[str], add: Any) -> None:
        assert self._name is not None and self._value is not None
        name = self._name.search(ctx)
        if type(name) is not str:
            raise _Bad(Reason.MAPPING_MISSING_FIELD, f"point name: nothing at {self.spec.name!r}")
        field = self._by_source.get(name)
        if field is None:
            return  # a point the mapping does not read (gateways send many)
        raw = self._value.search(ctx)
        if raw is None:
            raise _Bad(Reason.MAPPING_MISSING_FIELD, f"{name}: no value at {self.spec.value!r}")
        add(ref, self._time(self._ts.search(ctx)), field.name, scaled(raw, field, name), fields)

    def _series(
        self,
        ctx: dict[str, Any],
        ref: SensorRef,
        fields: frozenset[str],
        add: Any,
        bad: list[Problem],
        index: int,
    ) -> None:
        for f in self.fields:
            pairs = f.expr.search(ctx) if f.expr is not None else None
            if pairs is None and f.spec.optional:
                continue
            if type(pairs) is not list:
                raise _Bad(Reason.MAPPING_MISSING_FIELD, f"{f.name}: no list at {f.spec.source!r}")
            for pair in pairs:
                try:
                    if type(pair) is not list or len(pair) != 2:
                        raise _Bad(Reason.MAPPING_BAD_VALUE, f"{f.name}: expected [ts, value]")
                    add(ref, self._time(pair[0]), f.name, scaled(pair[1], f, f.name), fields)
                except _Bad as exc:
                    bad.append(Problem(exc.reason, exc.detail, index))


class Mapper:
    """Every mapping of a registry; ``map`` turns one message into readings plus problems."""

    def __init__(self, registry: Registry, limits: Limits) -> None:
        self.limits = limits
        self.mappings = [
            CompiledMapping(spec, park=park.id, tz=park.timezone, registry=registry)
            for park in registry.parks.values()
            for spec in park.mappings
        ]

    def filters(self) -> list[str]:
        """The MQTT subscriptions the mapped topics need (one per distinct pattern)."""
        return list(dict.fromkeys(m.filter for m in self.mappings))

    def map(
        self, topic: str, payload: bytes | bytearray, *, now_ms: int
    ) -> tuple[list[MappedReading], list[Problem]] | None:
        """The readings of one message on a mapped topic; None when no mapping fits it."""
        for mapping in self.mappings:
            names = mapping.match(topic)
            if names is not None:
                return self._apply(mapping, names, payload, now_ms)
        return None

    def _apply(
        self, mapping: CompiledMapping, names: dict[str, str], payload: bytes | bytearray,
        now_ms: int,
    ) -> tuple[list[MappedReading], list[Problem]]:  # fmt: skip
        doc = load_json(payload, self.limits)
        if type(doc) is Problem:
            return [], [doc]
        lo_ms = now_ms - self.limits.max_past_ms
        hi_ms = now_ms + self.limits.max_future_ms
        out: dict[tuple[SensorRef, int], dict[str, float]] = {}
        bad: list[Problem] = []

        def add(ref: SensorRef, ts: int, field: str, value: float, fields: frozenset[str]) -> None:
            if field not in fields:
                raise _Bad(Reason.UNKNOWN_FIELD, f"{field}: not a field of {ref.kind}")
            if not lo_ms <= ts <= hi_ms:
                raise _Bad(Reason.TS_OUT_OF_RANGE, f"ts {ts} outside accepted window")
            out.setdefault((ref, ts), {})[field] = value

        mapping.readings(doc, names, add, bad)
        if len(out) > self.limits.max_readings:
            too_many = f"{len(out)} readings > limit {self.limits.max_readings}"
            return [], [Problem(Reason.TOO_MANY_READINGS, too_many)]
        return [MappedReading(ref, ts, values) for (ref, ts), values in out.items()], bad
