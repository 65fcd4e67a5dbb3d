"""The domain vocabulary shared by every stage: ids, kinds, reasons, readings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import StringConstraints

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ID_RE = re.compile(ID_PATTERN)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A park, enterprise, kind, sensor or field id as the wire contract allows it."""

CORE_KINDS = ("electricity", "pv", "gas", "emissions", "production")

PARK_SCOPE = "_park"
"""The scope of figures and alerts about a park as a whole (beside enterprise ids)."""

#: The tags of a ``kpi`` point that say how it was made: the factor set, the id of every
#: coefficient it used (energy basis; grid, residual, fossil-only; gas, steam and the
#: other carriers' factors, ``smartpark.carriers``)
#: and whether unbundled certificates counted in the quota total and in market CO2.
KPI_METHOD_TAGS = (
    "factor_set", "energy_basis", "grid_factor", "residual_factor", "fossil_factor",
    "gas_factor", "steam_factor", "coal_factor", "diesel_factor", "fuel_oil_factor",
    "lpg_factor", "heat_factor", "certificates_in_quota", "certificates_in_market_co2",
)  # fmt: skip

Severity = Literal["info", "warning", "critical"]

ROLLOVER_BAND = 0.1
"""A register drop from its top band to its bottom band (10 % of ``rollover`` each) is a
wrap, any other drop a reset: processing and the ``counter_reset`` rule both use it."""


def is_rollover(previous: float, value: float, top: float | None) -> bool:
    """True when ``previous -> value`` is a register wrapping at ``top`` (its modulus:
    ``sensorspec.SensorSpec.modulus``, the largest value shown + its last digit)."""
    return (
        top is not None
        and value < previous
        and previous >= top * (1 - ROLLOVER_BAND)
        and value <= top * ROLLOVER_BAND
    )


MIN_RATE_INTERVAL_MS = 60_000
"""A meter's plausible rise is judged over at least a minute, so timestamp jitter never
makes a reading implausible (processing.meters and the ``counter_reset`` rule)."""


def rated_max_per_ms(
    rated_per_h: float | None, *, multiplier: float, tolerance: float
) -> float | None:
    """The most a register may rise per ms: its rated use per hour (in use units) x
    ``tolerance``, in register units (use / ``multiplier``); None without a rating (any
    rise). Processing's meters and the ``counter_reset`` rule both judge by it."""
    if rated_per_h is None:
        return None
    return rated_per_h * tolerance / multiplier / 3_600_000


def plausible_step(
    v0: float, t0: int, v1: float, t1: int, *, rollover: float | None, max_per_ms: float | None
) -> bool:
    """True when a register may go from ``v0`` at ``t0`` to ``v1`` at ``t1``: up, or wrapping
    at its modulus ``rollover``, by at most ``max_per_ms`` x the interval (a meter without
    a rating: any rise). The scalar twin of ``processing.meters._plausible``, for the alert rule."""
    step = v1 - v0
    if is_rollover(v0, v1, rollover):
        assert rollover is not None
        step += rollover
    if step < 0:
        return False
    return max_per_ms is None or step <= max_per_ms * max(t1 - t0, MIN_RATE_INTERVAL_MS)


def is_id(raw: object) -> bool:
    """True when ``raw`` is a str matching the id grammar ``[a-z0-9][a-z0-9_-]{0,63}``."""
    return type(raw) is str and ID_RE.fullmatch(raw) is not None


class Reason(StrEnum):
    """Why a message or reading was dead-lettered. Values appear in topics and metrics."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_SENSOR = "unknown_sensor"
    SENSOR_MISMATCH = "sensor_mismatch"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    BAD_SHAPE = "bad_shape"
    TOO_MANY_READINGS = "too_many_readings"
    BAD_TS = "bad_ts"
    TS_OUT_OF_RANGE = "ts_out_of_range"
    UNKNOWN_FIELD = "unknown_field"
    BAD_VALUE = "bad_value"
    BAD_SEQ = "bad_seq"
    STORE_REJECTED = "store_rejected"
    # uplink mappings (smartpark.mapping): what a vendor payload's mapping cannot read
    MAPPING_NO_MATCH = "mapping_no_match"
    MAPPING_MISSING_FIELD = "mapping_missing_field"
    MAPPING_BAD_TIMESTAMP = "mapping_bad_timestamp"
    MAPPING_BAD_VALUE = "mapping_bad_value"
    MAPPING_UNKNOWN_SENSOR = "mapping_unknown_sensor"
    # the edge gateway (``smartpark gateway``): a field device did not answer its poll
    DEVICE_UNREACHABLE = "device_unreachable"


class LoadClass(StrEnum):
    """How an enterprise draws energy over the day and week."""

    CONTINUOUS = "continuous"  # around the clock, every day (furnaces, cold stores)
    SHIFT = "shift"  # day shifts on working days, low at night, weekends and holidays
    BATCH = "batch"  # production batches with idle periods between them


class Semantics(StrEnum):
    """How a field's values relate over time."""

    COUNTER = "counter"  # cumulative register: consumption is the delta
    GAUGE = "gauge"  # instantaneous value: aggregate by time-weighted mean


@dataclass(frozen=True, slots=True)
class SensorRef:
    """Where a sensor sits: the four ids of its topic."""

    park: str
    enterprise: str
    kind: str
    sensor: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated reading of one sensor at one instant (epoch milliseconds)."""

    ref: SensorRef
    ts_ms: int
    values: dict[str, float] = field(default_factory=dict)
    seq: int | None = None
