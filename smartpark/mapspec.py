"""The registry's uplink mappings: how a vendor gateway's JSON becomes readings (schema).

A park lists ``mappings:``; each names an MQTT topic pattern with ``{placeholders}``
(one whole level each), where the readings are in the payload (JMESPath, evaluated on
``{"root": payload, "item": item, "key": key}``), how the sensor id is formed, the
timestamp and each field's source, scale, offset, unit conversion and type. The pure
code that applies a mapping is ``smartpark.mapping``; this module is what users write.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, field_validator, model_validator

from smartpark.config import Strict
from smartpark.model import Id

PLACEHOLDER_RE = re.compile(r"\{([a-z_][a-z0-9_]{0,31})\}")

#: Unit conversions a mapping may name: factor applied after scale and offset. Volume
#: references are stated: ``nm3_to_m3`` takes normal m³ (0 °C, 101.325 kPa) to the
#: standard m³ of Chinese gas billing (20 °C, 101.325 kPa), x 293.15 / 273.15.
CONVERSIONS: dict[str, float] = {
    "wh_to_kwh": 1e-3,
    "mwh_to_kwh": 1e3,
    "w_to_kw": 1e-3,
    "mw_to_kw": 1e3,
    "kj_to_gj": 1e-6,
    "mj_to_gj": 1e-3,
    "l_to_m3": 1e-3,
    "nm3_to_m3": 293.15 / 273.15,
    "kg_to_t": 1e-3,
    "kg_h_to_t_h": 1e-3,
}
Conversion = Literal[
    "wh_to_kwh", "mwh_to_kwh", "w_to_kw", "mw_to_kw", "kj_to_gj", "mj_to_gj", "l_to_m3",
    "nm3_to_m3", "kg_to_t", "kg_h_to_t_h",
]  # fmt: skip

TsFormat = Literal["epoch_s", "epoch_ms", "epoch_us", "iso", "local"]


def _check_expression(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"not a JMESPath expression: {value!r}: {exc}") from exc
    return value


class TimestampMap(Strict):
    path: str = Field(
        default="item.ts",
        description="JMESPath of the time (series shape: the pairs' first element instead)",
    )
    format: TsFormat = Field(
        description="epoch_s, epoch_ms, epoch_us, iso (with offset) or local (no offset: "
        "the park's time zone, or the mapping's timezone)"
    )
    local_format: str | None = Field(
        default=None, description="strptime format of local times (default: ISO without offset)"
    )

    _path = field_validator("path")(_check_expression)


class FieldMap(Strict):
    source: str = Field(
        description="JMESPath of the value (wide, series), or the point's name (points)"
    )
    scale: float = 1.0
    offset: float = 0.0
    convert: Conversion | None = None
    type: Literal["number", "string"] = Field(
        default="number", description="number: a JSON number; string: a decimal in a string"
    )
    optional: bool = Field(default=False, description="a message without it is not an error")


class MappingSpec(Strict):
    id: Id
    topic: str = Field(min_length=1, max_length=256)
    enterprises: list[Id] = Field(min_length=1, description="whose sensors it may write")
    shape: Literal["wide", "points", "series"] = "wide"
    items: str = Field(default="@", description="JMESPath of the list (or object) of items")
    each: Literal["list", "entries"] = Field(
        default="list", description="entries: iterate an object's members, the name as key"
    )
    vars: dict[str, str] = Field(default_factory=dict, description="name -> JMESPath")
    sensor: str = Field(min_length=1, description="sensor id template, e.g. '{gateway}-{meter}'")
    ts: TimestampMap
    name: str | None = Field(default=None, description="points: JMESPath of the point's name")
    value: str | None = Field(default=None, description="points: JMESPath of the point's value")
    fields: dict[Id, FieldMap] = Field(min_length=1)
    timezone: str | None = Field(default=None, description="local times' zone (default: park's)")

    _items = field_validator("items")(_check_expression)

    @field_validator("vars")
    @classmethod
    def _vars(cls, value: dict[str, str]) -> dict[str, str]:
        for name, expr in value.items():
            if PLACEHOLDER_RE.fullmatch("{" + name + "}") is None:
                raise ValueError(f"var name {name!r}: lower-case letters, digits and _")
            _check_expression(expr)
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if "+" in value or "#" in value:
            raise ValueError("use {placeholders}, not MQTT wildcards")
        for level in value.split("/"):
            if "{" in level and PLACEHOLDER_RE.fullmatch(level) is None:
                raise ValueError(f"a placeholder fills a whole topic level: {level!r}")
            if not level:
                raise ValueError("empty topic level")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MappingSpec:
        placeholders = set(topic_placeholders(self.topic))
        if clash := placeholders & set(self.vars):
            raise ValueError(f"vars named like topic placeholders: {sorted(clash)}")
        known = placeholders | set(self.vars) | {"key"}
        for name in PLACEHOLDER_RE.findall(self.sensor):
            if name not in known:
                raise ValueError(f"sensor template names {{{name}}}: not a placeholder or var")
        leftover = PLACEHOLDER_RE.sub("", self.sensor)
        if "{" in leftover or "}" in leftover:
            raise ValueError(f"sensor template: malformed placeholder in {self.sensor!r}")
        if self.shape == "points":
            if self.name is None or self.value is None:
                raise ValueError("shape points needs name and value (JMESPath)")
            _check_expression(self.name)
            _check_expression(self.value)
        else:
            if self.name is not None or self.value is not None:
                raise ValueError(f"name and value are for shape points, not {self.shape}")
            for field, spec in self.fields.items():
                try:
                    _check_expression(spec.source)
                except ValueError as exc:
                    raise ValueError(f"fields.{field}.source: {exc}") from exc
        return self


def topic_placeholders(pattern: str) -> list[str]:
    """The placeholder names of a topic pattern, in level order."""
    return PLACEHOLDER_RE.findall(pattern)


def topic_filter(pattern: str) -> str:
    """The MQTT subscription of a topic pattern: each placeholder becomes ``+``."""
    return PLACEHOLDER_RE.sub("+", pattern)


def mapping_problems(
    where_p: str, mappings: list[MappingSpec], ent_fields: dict[str, set[str]]
) -> list[str]:
    """Mappings name enterprises of their park (``ent_fields``: enterprise -> the fields of
    its sensors) and fields those have; ids and topic patterns are unique in the park."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_topics: set[str] = set()
    for m_i, mapping in enumerate(mappings):
        where = f"{where_p}.mappings[{m_i} id={mapping.id!r}]"
        if mapping.id in seen_ids:
            problems.append(f"{where}.id: duplicate mapping id {mapping.id!r}")
        seen_ids.add(mapping.id)
        pattern = topic_filter(mapping.topic)
        if pattern in seen_topics:
            problems.append(f"{where}.topic: another mapping of this park reads {pattern!r}")
        seen_topics.add(pattern)
        if mapping.timezone is not None:
            try:
                ZoneInfo(mapping.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"{where}.timezone: unknown timezone: {mapping.timezone!r}")
        fields: set[str] = set()
        for ent_id in mapping.enterprises:
            if ent_id not in ent_fields:
                problems.append(f"{where}.enterprises: {ent_id!r} is not an enterprise of the park")
            fields |= ent_fields.get(ent_id, set())
        for name in mapping.fields:
            if fields and name not in fields:
                problems.append(
                    f"{where}.fields.{name}: no sensor of the mapping's enterprises has this field"
                )
    return problems
