"""Processor state belongs to one store and one park.

The journal, the progress and the ledger of dirty windows say what is in *one* store:
read against another (a second test database, staging after production, a store
restored from backup) they would make the processor take windows as written that the
other store never saw. ``store.json`` in the park's state directory names the store (URL,
database or bucket, retention policy) and the park; a processor bound to anything else
refuses to start with one line that says what to do. A missing or empty state
directory is bound to the store at start and recovers from the store alone.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from smartpark.durable import write_atomically
from smartpark.errors import ConfigError
from smartpark.settings import InfluxSettings

FILE = "store.json"


def identity(influx: InfluxSettings, park: str) -> dict[str, str]:
    """What state is bound to: the store's URL (no credentials), its database (v1) or
    bucket and org (v2), the retention policy, and the park."""
    out = {"url": influx.url.rstrip("/"), "api": influx.api, "park": park}
    if influx.api == "v2":
        out |= {"bucket": influx.bucket or "", "org": influx.org or ""}
    else:
        out |= {"database": influx.database, "retention_policy": influx.retention_policy or ""}
    return out


def _describe(ident: dict[str, str]) -> str:
    where = ident.get("bucket") or ident.get("database", "?")
    rp = ident.get("retention_policy")
    return f"{ident.get('url', '?')} {where}{f' (rp {rp})' if rp else ''} park {ident.get('park')}"


def bind(directory: Path, ident: dict[str, str]) -> None:
    """Bind ``directory`` to ``ident``, or raise ``ConfigError`` if it holds another
    store's state. A directory without the file (new, or from before the binding) is
    bound as it is."""
    path = directory / FILE
    try:
        recorded = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        write_atomically(path, orjson.dumps(ident, option=orjson.OPT_SORT_KEYS))
        return
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is unreadable ({exc}): remove {directory} to recover from the store"
        ) from exc
    if recorded != ident:
        raise ConfigError(
            f"state directory {directory} belongs to {_describe(recorded)}, not "
            f"{_describe(ident)}: set SMARTPARK_PROCESSING__STATE_DIR to this store's own "
            f"state directory (an empty one recovers from the store alone)"
        )
