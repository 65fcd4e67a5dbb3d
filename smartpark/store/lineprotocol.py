r"""InfluxDB line protocol encoding (pure).

Escaping follows the InfluxDB reference: measurement names escape commas and
spaces; tag keys, tag values and field keys escape commas, equals signs and
spaces; string field values escape double quotes and backslashes. Newlines cannot
be escaped in line protocol at all, and a backslash in a name is ambiguous
(InfluxDB keeps ``\\`` as two characters, yet reads a trailing ``\`` as escaping
the separator after it), so both are refused in names. Floats are written with
``repr`` (shortest round-trip form), integers are written as floats so that a
field never changes type between points (InfluxDB refuses such writes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def _refuse_newlines(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} contains a newline: {text!r}")


def _check_name(name: str, what: str) -> None:
    _refuse_newlines(name, what)
    if not name:
        raise ValueError(f"empty {what}")
    if "\\" in name:
        raise ValueError(f"{what} contains a backslash: {name!r}")


def escape_measurement(name: str) -> str:
    _check_name(name, "measurement")
    return name.translate(_MEASUREMENT)


def escape_key(key: str) -> str:
    """Escape a tag key, tag value or field key."""
    _check_name(key, "key")
    return key.translate(_KEY)


def format_value(value: float | int | bool | str) -> str:
    """A field value in line protocol; numbers always as floats."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"non-finite field value: {value!r}")
        return repr(number)
    _refuse_newlines(value, "string field")
    return f'"{value.translate(_STRING)}"'


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key, as InfluxDB prefers."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        parts.append(f"{escape_key(key)}={escape_key(tags[key])}")
    return ",".join(parts)


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | bool | str],
    ts: int,
) -> str:
    """One point; ``ts`` in the precision the write uses (smartpark writes milliseconds)."""
    if not fields:
        raise ValueError("a point needs at least one field")
    body = ",".join(f"{escape_key(k)}={format_value(v)}" for k, v in fields.items())
    return f"{series_key(measurement, tags)} {body} {int(ts)}"


def encode_fast(series: str, values: Mapping[str, float | int], ts: int) -> str:
    """Hot-path encoder for field keys already checked against the id grammar.

    The caller guarantees: ``series`` comes from :func:`series_key`, every key of
    ``values`` matches ``[a-z0-9][a-z0-9_-]*`` and every value is a finite number
    (``smartpark.wire.decode`` guarantees both).
    """
    body = ",".join([f"{k}={float(v)!r}" for k, v in values.items()])
    return f"{series} {body} {ts}"
