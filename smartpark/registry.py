"""The park registry: parks, enterprises and sensors, loaded from one YAML file.

``load(path)`` validates the file and returns a :class:`Registry`, or raises
``ConfigError`` listing every problem with where it is (``check(path)`` returns the
list instead). ``Registry.resolve`` answers, without I/O, whether a topic's four ids
name a registered sensor. What a sensor and its kind are (fields, built-in kinds, a
sensor's spec) is ``smartpark.sensorspec``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    ValidationError,
    field_validator,
)

from smartpark import config
from smartpark import products as product_rules
from smartpark import targets as target_rules
from smartpark.config import Strict
from smartpark.errors import ConfigError
from smartpark.gatewayspec import GatewaySpec, gateway_problems
from smartpark.mapspec import MappingSpec, mapping_problems
from smartpark.model import PARK_SCOPE, Id, LoadClass, Reason, Semantics, SensorRef
from smartpark.products import ProductSpec
from smartpark.sensorspec import (
    BUILT_IN_KINDS,
    CARRIER_KIND_SPECS,
    CORE_KIND_SPECS,
    FieldSpec,
    KindSpec,
    SensorSpec,
)


class Location(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class EnterpriseSpec(Strict):
    id: Id
    name: str = Field(min_length=1)
    industry: str = Field(min_length=1)
    land_mu: float = Field(gt=0)
    employees: int | None = Field(default=None, ge=0)
    load_class: LoadClass = LoadClass.SHIFT
    sensors: list[SensorSpec] = Field(default_factory=list)
    product: ProductSpec | None = Field(
        default=None, description="its product and the national energy limits it is judged on"
    )


class ParkSpec(Strict):
    id: Id
    name: str = Field(min_length=1)
    timezone: str
    location: Location
    area_mu: float = Field(gt=0)
    targets: dict[Id, float] = Field(default_factory=dict)
    target_variants: dict[Id, target_rules.TargetVariant] = Field(
        default_factory=dict,
        description="how each target is judged (smartpark.targets.TARGETS): the "
        "city's clean-energy milestones default to grid_implied_equal_value (regional "
        "statistics: grid hydro included, electricity at 等价值); every other share target "
        "names its variant",
    )
    city: Id | None = Field(
        default=None,
        description="the city (or region) the park belongs to: a city key of the API sees "
        "every park that names it",
    )
    share_park_totals: bool = Field(
        default=False,
        description="let enterprises see the park's aggregate KPIs (with two enterprises "
        "the park total reveals the other's figures: off unless the park agrees)",
    )
    enterprises: list[EnterpriseSpec] = Field(default_factory=list)
    mappings: list[MappingSpec] = Field(
        default_factory=list, description="vendor gateways' payloads as readings (README)"
    )
    gateways: list[GatewaySpec] = Field(
        default_factory=list, description="edge gateways: the sensors, devices they serve"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone: {value!r}") from exc
        return value


class RegistryFile(Strict):
    version: int = Field(default=1, ge=1, le=1)
    kinds: dict[Id, KindSpec] = Field(default_factory=dict)
    parks: list[ParkSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class RegisteredSensor:
    """A sensor with everything the collector needs to accept its readings."""

    ref: SensorRef
    spec: SensorSpec
    fields: Mapping[str, FieldSpec]


class Registry:
    """Validated registry with lookup indexes. Build with :func:`load` or :func:`from_data`."""

    def __init__(self, doc: RegistryFile) -> None:
        self.doc = doc
        self.kinds: dict[str, KindSpec] = {**BUILT_IN_KINDS, **doc.kinds}
        self.parks: dict[str, ParkSpec] = {p.id: p for p in doc.parks}
        # (park, sensor) -> sensor; sensor ids are unique within a park.
        self._sensors: dict[tuple[str, str], RegisteredSensor] = {}
        for park in doc.parks:
            for ent in park.enterprises:
                for spec in ent.sensors:
                    ref = SensorRef(park.id, ent.id, spec.kind, spec.id)
                    fields = {**self.kinds[spec.kind].fields, **spec.fields}
                    if spec.unit is not None and "output" in fields:
                        fields["output"] = FieldSpec(unit=spec.unit, semantics=Semantics.COUNTER)
                    self._sensors[(park.id, spec.id)] = RegisteredSensor(ref, spec, fields)

    def sensors(self) -> Iterator[RegisteredSensor]:
        """Every registered sensor, in file order."""
        return iter(self._sensors.values())

    def __len__(self) -> int:
        return len(self._sensors)

    def output_units(self, park: str) -> dict[str, str | None]:
        """Per producing enterprise of ``park``, the unit its output is counted in, or None
        when its production sensors count in different units (they do not add up)."""
        units: dict[str, set[str]] = {}
        for s in self.sensors():
            if s.ref.park == park and "output" in s.fields:
                units.setdefault(s.ref.enterprise, set()).add(s.fields["output"].unit)
        return {e: next(iter(u)) if len(u) == 1 else None for e, u in units.items()}

    def output_unit(self, park: str, scope: str) -> str | None:
        """The unit of a scope's output: an enterprise's (see :meth:`output_units`), or
        for ``_park`` the one unit every producing enterprise uses; None otherwise."""
        units = self.output_units(park)
        return common_unit(units.values()) if scope == PARK_SCOPE else units.get(scope)

    def interval_s(self, sensor: RegisteredSensor) -> int:
        """How often ``sensor`` reports: its own ``interval_s`` or its kind's."""
        return sensor.spec.interval_s or self.kinds[sensor.ref.kind].interval_s

    def sensor(self, park: str, sensor: str) -> RegisteredSensor | None:
        """The sensor of ``park`` with this id, if registered."""
        return self._sensors.get((park, sensor))

    def resolve(
        self, park: str, enterprise: str, kind: str, sensor: str
    ) -> RegisteredSensor | Reason:
        """The sensor these topic ids name, or why they name none."""
        found = self._sensors.get((park, sensor))
        if found is None:
            return Reason.UNKNOWN_SENSOR
        if found.ref.enterprise != enterprise or found.ref.kind != kind:
            return Reason.SENSOR_MISMATCH
        return found


Tree = list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]]
"""(park id, [(enterprise id, [(sensor id, kind)])]): what identity checks need."""


def _identity_problems(tree: Tree, kinds: set[str]) -> list[str]:
    """Duplicate park, enterprise and (per park) sensor ids, and unknown kinds."""
    problems: list[str] = []
    seen_parks: set[str] = set()
    for p_i, (park, enterprises) in enumerate(tree):
        where_p = f"parks[{p_i} id={park!r}]"
        if park in seen_parks:
            problems.append(f"{where_p}.id: duplicate park id {park!r}")
        seen_parks.add(park)
        seen_ents: set[str] = set()
        seen_sensors: dict[str, str] = {}
        for e_i, (ent, sensors) in enumerate(enterprises):
            where_e = f"{where_p}.enterprises[{e_i} id={ent!r}]"
            if ent in seen_ents:
                problems.append(f"{where_e}.id: duplicate enterprise id {ent!r}")
            seen_ents.add(ent)
            for s_i, (sensor, kind) in enumerate(sensors):
                where_s = f"{where_e}.sensors[{s_i} id={sensor!r}]"
                if sensor in seen_sensors:
                    problems.append(
                        f"{where_s}.id: sensor id {sensor!r} already used in park "
                        f"{park!r} by enterprise {seen_sensors[sensor]!r}"
                    )
                else:
                    seen_sensors[sensor] = ent
                if kind not in kinds:
                    problems.append(
                        f"{where_s}.kind: unknown kind {kind!r}; known: {', '.join(sorted(kinds))}"
                    )
    return problems


def _raw_tree(raw: Any) -> tuple[Tree, set[str]]:
    """The identity tree of a file that did not validate, as far as its shape allows, so
    duplicates and unknown kinds are reported with every other problem in one run."""

    def items(node: Any, key: str) -> list[Any]:
        value = node.get(key) if isinstance(node, dict) else None
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    kinds = set(BUILT_IN_KINDS)
    if isinstance(raw, dict) and isinstance(raw.get("kinds"), dict):
        kinds |= {str(k) for k in raw["kinds"]}
    tree = [
        (
            str(park.get("id")),
            [
                (
                    str(ent.get("id")),
                    [(str(s.get("id")), str(s.get("kind"))) for s in items(ent, "sensors")],
                )
                for ent in items(park, "enterprises")
            ],
        )
        for park in items(raw, "parks")
    ]
    return tree, kinds


def _semantic_problems(doc: RegistryFile) -> list[str]:
    kinds = {**BUILT_IN_KINDS, **doc.kinds}
    problems = [
        f"kinds.{name}: redefines a core kind" for name in doc.kinds if name in CORE_KIND_SPECS
    ]
    problems += [
        f"kinds.{name}.fields.{counter}: the built-in carrier {name!r} counts {counter}; a "
        "kind of the same name keeps it"
        for name, spec in doc.kinds.items()
        if name in CARRIER_KIND_SPECS
        for counter, field in CARRIER_KIND_SPECS[name].fields.items()
        if field.semantics is Semantics.COUNTER and spec.fields.get(counter) != field
    ]
    tree = [
        (p.id, [(e.id, [(s.id, s.kind) for s in e.sensors]) for e in p.enterprises])
        for p in doc.parks
    ]
    problems += _identity_problems(tree, set(kinds))
    for p_i, park in enumerate(doc.parks):
        where_p = f"parks[{p_i} id={park.id!r}]"
        problems += target_rules.problems(park.targets, park.target_variants, where=where_p)
        for e_i, ent in enumerate(park.enterprises):
            where_e = f"{where_p}.enterprises[{e_i} id={ent.id!r}]"
            if ent.product is not None:
                unit = {s.unit for s in ent.sensors if s.kind == "production" and s.unit}
                problems += product_rules.problems(
                    ent.product, output_unit=next(iter(unit)) if len(unit) == 1 else None,
                    where=f"{where_e}.product",
                )  # fmt: skip
            for s_i, sensor in enumerate(ent.sensors):
                where_s = f"{where_e}.sensors[{s_i} id={sensor.id!r}]"
                kind = kinds.get(sensor.kind)
                if kind is None:
                    continue  # reported by _identity_problems
                for name in sensor.fields:
                    if name in kind.fields:
                        problems.append(
                            f"{where_s}.fields.{name}: already a field of {sensor.kind}"
                        )
                all_fields = {**kind.fields, **sensor.fields}
                has_counter = any(f.semantics is Semantics.COUNTER for f in all_fields.values())
                if sensor.rollover is not None and not has_counter:
                    problems.append(f"{where_s}.rollover: set on a sensor without counter fields")
                if sensor.volume_basis_c is not None and not any(
                    name.startswith("volume_") and spec.semantics is Semantics.COUNTER
                    for name, spec in all_fields.items()
                ):
                    problems.append(f"{where_s}.volume_basis_c: only sensors counting volume")
                if sensor.resolution is not None and sensor.rollover is None:
                    problems.append(f"{where_s}.resolution: set on a register that does not wrap")
                if has_counter and sensor.rated_per_h is None:
                    problems.append(
                        f"{where_s}.rated_per_h: counter sensors need their full-load rate per "
                        "hour: without it a glitch read or a replacement meter is counted as use"
                    )
                if sensor.kind == "production" and sensor.unit is None:
                    problems.append(f"{where_s}.unit: production sensors need the unit of output")
                if sensor.unit is not None and sensor.kind != "production":
                    problems.append(f"{where_s}.unit: only production sensors take a unit")
                for name in sensor.limits:
                    spec = all_fields.get(name)
                    if spec is None or spec.semantics is not Semantics.GAUGE:
                        problems.append(
                            f"{where_s}.limits.{name}: not a gauge field of {sensor.kind}"
                        )
                for name in sensor.range_mg_m3:
                    if name not in sensor.limits and name not in all_fields:
                        problems.append(
                            f"{where_s}.range_mg_m3.{name}: not a field of {sensor.kind}"
                        )
                if (
                    sensor.limits or sensor.range_mg_m3 or sensor.ref_o2_pct is not None
                ) and "o2_pct" not in all_fields:
                    problems.append(f"{where_s}.limits: only sensors with an o2_pct field")
                if sensor.limits and sensor.ref_o2_pct is None:
                    problems.append(
                        f"{where_s}.ref_o2_pct: limits need the reference O2 they are stated at"
                    )
    for p_i, park in enumerate(doc.parks):
        problems += _device_problems(f"parks[{p_i} id={park.id!r}]", park, kinds)
    return problems


def _device_problems(where_p: str, park: ParkSpec, kinds: Mapping[str, KindSpec]) -> list[str]:
    """Mappings and gateways checked against the park's enterprises and sensors."""
    ent_fields: dict[str, set[str]] = {}
    sensors: dict[str, tuple[dict[str, bool], float | None]] = {}
    for ent in park.enterprises:
        for sensor in ent.sensors:
            kind = kinds.get(sensor.kind)
            fields = {**(kind.fields if kind else {}), **sensor.fields}
            ent_fields.setdefault(ent.id, set()).update(fields)
            counters = {n: f.semantics is Semantics.COUNTER for n, f in fields.items()}
            sensors[sensor.id] = (counters, sensor.rollover)
        ent_fields.setdefault(ent.id, set())
    problems = mapping_problems(where_p, park.mappings, ent_fields)
    seen: set[str] = set()
    mns: set[str] = set()
    for g_i, gateway in enumerate(park.gateways):
        where = f"{where_p}.gateways[{g_i} id={gateway.id!r}]"
        if gateway.id in seen:
            problems.append(f"{where}.id: duplicate gateway id {gateway.id!r}")
        seen.add(gateway.id)
        for inst in gateway.hj212:
            if inst.mn in mns:
                problems.append(f"{where}.hj212: MN {inst.mn!r} is used twice in the park")
            mns.add(inst.mn)
        problems += gateway_problems(where, gateway, sensors, {m.id for m in park.mappings})
    return problems


def parse(raw: Any) -> tuple[Registry | None, list[str]]:
    """Validate already-parsed YAML data; return the registry or every problem found."""
    try:
        doc = RegistryFile.model_validate(raw)
    except ValidationError as exc:
        found = config.problems(raw, exc)
        tree, kinds = _raw_tree(raw)
        found += [p for p in _identity_problems(tree, kinds) if p not in found]
        return None, found
    problems = _semantic_problems(doc)
    return (None, problems) if problems else (Registry(doc), [])


def check(path: Path) -> tuple[Registry | None, list[str]]:
    """Read and validate a registry file; return the registry or every problem found."""
    try:
        raw = config.read_yaml(path)
    except ConfigError as exc:
        return None, [str(exc)]
    return parse(raw)


def load(path: Path) -> Registry:
    """Read a registry file or raise ``ConfigError`` listing every problem."""
    registry, problems = check(path)
    if registry is None:
        raise ConfigError(f"{path}: {len(problems)} problem(s) in the registry", problems)
    return registry


def common_unit(units: Iterable[str | None]) -> str | None:
    """The one unit all of ``units`` share, or None (pieces and tonnes do not add up)."""
    distinct = set(units)
    return distinct.pop() if len(distinct) == 1 else None
