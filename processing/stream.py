"""The stream processor: readings of one park from MQTT to KPI points and KPI updates.

Threads: paho's network thread decodes each message and queues the carrier counter
readings (sensor, ts, value); the tick thread, every ``tick_s``:

1. moves queued readings into the buffer and advances the watermark (the newest
   reading time seen: event time, so replays and backfills close windows too);
2. marks dirty every window (1m, 15m, 1h, 1d) that reached the watermark and was
   never computed, and every computed window a late reading falls in, if it is
   within ``lateness_s`` of the watermark (older readings are counted as too late
   and left to the scheduled roll-ups, which recompute from the store);
3. recomputes dirty windows with the engine on the buffer (plus a lookback for each
   sensor's reading before the window), writes their points to InfluxDB (the same
   series and time: a rewrite overwrites) and then publishes them on MQTT;
4. drops buffered readings no open or recent window needs.

A failed store write keeps the windows dirty, so they are retried next tick. A
restart rebuilds the buffer from the readings InfluxDB holds (the collector stored
them) for the current day, and rewrites that day's closed windows.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
import polars as pl
from paho.mqtt.reasoncodes import ReasonCode

from processing import output
from processing.config import ProcessingConfig
from processing.engine import Park, kpis, sensor_totals
from processing.kpis import Coefficients
from processing.meters import window_end, window_ends, window_starts
from smartpark.clock import Clock
from smartpark.errors import StoreError
from smartpark.mqtt import connect, make_client, reason_failed
from smartpark.registry import Registry
from smartpark.settings import MqttSettings
from smartpark.store.base import Store
from smartpark.store.influxql import Select
from smartpark.wire import Limits, decode, readings_filter, topic_for

logger = logging.getLogger(__name__)

WINDOWS = ("1m", "15m", "1h", "1d")
_SCHEMA = {"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}


@dataclass(slots=True)
class ProcessorStats:
    received: int = 0
    readings: int = 0
    rejected: int = 0
    too_late: int = 0
    windows_computed: int = 0
    windows_recomputed: int = 0
    points_written: int = 0
    store_errors: int = 0
    tick_errors: int = 0
    published: int = 0
    by_window: Counter[str] = field(default_factory=Counter)


class StreamProcessor:
    """KPIs of one park, live; see the module text for the order of things."""

    def __init__(
        self,
        *,
        mqtt: MqttSettings,
        registry: Registry,
        park_id: str,
        config: ProcessingConfig,
        coefficients: Coefficients,
        store: Store,
        clock: Clock,
        client_id: str,
        limits: Limits,
        tick_s: float = 0.1,
    ) -> None:
        self.park = Park.from_registry(registry, park_id, config)
        self.config = config
        self.coefficients = coefficients
        self.store = store
        self.clock = clock
        self.stats = ProcessorStats()
        self._mqtt = mqtt
        self._tick_s = tick_s
        self._lateness_ms = config.lateness_s * 1000
        self._lookback_ms = max(config.max_gap_s * 1000, 900_000)
        self._max_gap_ms = config.max_gap_s * 1000
        self._limits = limits
        fields = dict(zip(self.park.meters["sensor"], self.park.meters["field"], strict=True))
        self._routes = {
            topic_for(mqtt.topic_root, s.ref): (
                s.ref.sensor,
                fields[s.ref.sensor],
                frozenset(s.fields),
            )
            for s in registry.sensors()
            if s.ref.park == park_id and s.ref.sensor in fields
        }
        self._publishing = True
        self._filter = readings_filter(mqtt.topic_root, park_id)
        self._lock = threading.Lock()
        self._inbox: list[tuple[str, int, float]] = []
        self._buffer = pl.DataFrame(schema=_SCHEMA)
        self.watermark_ms: int | None = None
        self._done: dict[str, set[int]] = {w: set() for w in WINDOWS}  # computed window starts
        self._open: dict[str, set[int]] = {w: set() for w in WINDOWS}  # seen, not yet closed
        self._dirty: dict[str, set[int]] = {w: set() for w in WINDOWS}
        self._revisions: Counter[tuple[str, str, int]] = Counter()
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self._store_failing_since: float | None = None  # clock.monotonic() of the first failure
        self._last_received = clock.monotonic()
        self.client = make_client(mqtt, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._thread = threading.Thread(target=self._run, name="kpi-tick", daemon=True)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self.rebuild()
        connect(self.client, self._mqtt, persistent=True)
        self.client.loop_start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    # -- MQTT (paho's thread) -----------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason_failed(reason):
            logger.warning("processor connect refused reason=%s", reason)
            return
        client.subscribe(self._filter, qos=1)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.subscribed.clear()
        logger.warning("processor disconnected from the broker reason=%s", reason)

    def _on_subscribe(self, _c: Any, _u: Any, _m: int, reasons: list[ReasonCode], _p: Any) -> None:
        if all(not reason_failed(r) for r in reasons):
            self.subscribed.set()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        route = self._routes.get(msg.topic)
        self.stats.received += 1
        self._last_received = self.clock.monotonic()
        if route is None:
            return  # another kind (CEMS, water, ...) or a system topic
        sensor, name, accepted = route
        good, bad = decode(
            msg.payload, fields=accepted, now_ms=self.clock.now_ms(), limits=self._limits
        )
        self.stats.rejected += len(bad)  # the collector dead-letters them
        rows = [(sensor, ts, float(values[name])) for ts, values, _ in good if name in values]
        if rows:
            with self._lock:
                self._inbox.extend(rows)

    # -- ticks -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                self.tick()
            except Exception:  # a bug must not stop the loop; it is logged and counted
                logger.exception("tick failed")
                self.stats.tick_errors += 1

    def feed(self, rows: Iterable[tuple[str, int, float]]) -> None:
        """Queue readings as if they came from MQTT (rebuild, tests)."""
        with self._lock:
            self._inbox.extend(rows)

    def tick(self) -> None:
        """One round: take queued readings, find dirty windows, compute, write, publish."""
        with self._lock:
            rows, self._inbox = self._inbox, []
        if rows:
            self._take(pl.DataFrame(rows, schema=_SCHEMA, orient="row"))
        if self.watermark_ms is None:
            return
        for window in WINDOWS:
            self._close(window)
            if self._dirty[window]:
                self._compute(window, sorted(self._dirty[window]))
        self._prune()

    def _take(self, new: pl.DataFrame) -> None:
        self.stats.readings += new.height
        newest = int(new["ts"].max())  # type: ignore[arg-type]
        if self.watermark_ms is not None:
            horizon = self.watermark_ms - self._lateness_ms
            late = new.filter(pl.col("ts") < horizon)
            if late.height:
                self.stats.too_late += late.height
                new = new.filter(pl.col("ts") >= horizon)
        for window in WINDOWS:
            starts = set(window_starts(new["ts"], window=window, tz=self.park.tz).unique())
            self._dirty[window] |= starts & self._done[window]
            self._open[window] |= starts - self._done[window]
        self._buffer = pl.concat([self._buffer, new])
        self.watermark_ms = max(self.watermark_ms or newest, newest)

    def _close(self, window: str) -> None:
        """Windows that the watermark has passed and that were never computed become dirty.

        Only the windows readings arrived for and that are still open are looked at, not
        the whole buffer (up to a day of readings) on every tick."""
        assert self.watermark_ms is not None
        if not self._open[window]:
            return
        starts = pl.Series(sorted(self._open[window]), dtype=pl.Int64)
        ends = window_ends(starts, window=window, tz=self.park.tz)
        closed = set(starts.filter(ends <= self.watermark_ms).to_list())
        self._open[window] -= closed
        self._dirty[window] |= closed

    def _compute(self, window: str, starts: list[int]) -> None:
        lo = min(starts) - self._lookback_ms
        end_of = pl.select(
            window_end(pl.lit(pl.Series(starts, dtype=pl.Int64)), window=window, tz=self.park.tz)
        ).to_series()
        hi = int(end_of.max())  # type: ignore[arg-type]
        readings = self._buffer.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
        frame = kpis(readings, self.park, self.config, self.coefficients, window=window)
        frame = frame.filter(pl.col("window").is_in(starts))
        sensors = sensor_totals(readings, self.park, window=window, max_gap_ms=self._max_gap_ms)
        sensors = sensors.filter(pl.col("window").is_in(starts))
        tags = self.coefficients.tags()
        lines = list(output.points(frame, park=self.park.id, window=window, tags=tags))
        lines += output.sensor_points(sensors, park=self.park.id, window=window)
        try:
            if lines:
                self.store.write("\n".join(lines).encode())
        except StoreError as exc:
            self.stats.store_errors += 1
            if self._store_failing_since is None:
                self._store_failing_since = self.clock.monotonic()
            logger.warning("KPI write failed window=%s windows=%d: %s", window, len(starts), exc)
            return  # still dirty: retried next tick
        self._store_failing_since = None
        self.stats.points_written += len(lines)
        for start in starts:
            if start in self._done[window]:
                self.stats.windows_recomputed += 1
            else:
                self.stats.windows_computed += 1
            self._done[window].add(start)
        self._dirty[window] -= set(starts)
        self.stats.by_window[window] += len(starts)
        revisions = {}
        for scope, start in frame.select("scope", "window").iter_rows():
            revisions[(scope, start)] = self._revisions[(window, scope, start)]
            self._revisions[(window, scope, start)] += 1
        if not self._publishing:
            return
        ends = dict(zip(starts, end_of.to_list(), strict=True))
        for topic, payload in output.messages(
            frame,
            root=self._mqtt.topic_root,
            park=self.park.id,
            window=window,
            ends=ends,
            tags=tags,
            revisions=revisions,
        ):
            self.client.publish(topic, payload, qos=1)
            self.stats.published += 1

    def _prune(self) -> None:
        """Keep what the current day's windows and the lateness horizon still need."""
        assert self.watermark_ms is not None
        day = window_starts(
            pl.Series([self.watermark_ms - self._lateness_ms], dtype=pl.Int64),
            window="1d",
            tz=self.park.tz,
        )[0]
        keep_from = int(day) - self._lookback_ms
        if self._buffer.height and int(self._buffer["ts"].min()) < keep_from:  # type: ignore[arg-type]
            self._buffer = self._buffer.filter(pl.col("ts") >= keep_from)
        for window in WINDOWS:
            self._done[window] = {s for s in self._done[window] if s >= keep_from}
            self._open[window] = {s for s in self._open[window] if s >= keep_from}

    # -- health and metrics ------------------------------------------------------------

    def unwritten_windows(self) -> int:
        """Windows computed or due whose points are not in the store yet."""
        return sum(len(d) for d in self._dirty.values())

    def health(self, *, store_failing_unhealthy_s: float) -> tuple[bool, dict[str, Any]]:
        """Healthy: subscribed, and KPI writes not failing for longer than allowed."""
        now = self.clock.monotonic()
        failing_s = 0.0 if self._store_failing_since is None else now - self._store_failing_since
        problems = []
        if not self.subscribed.is_set():
            problems.append("not subscribed to the broker")
        if failing_s > store_failing_unhealthy_s:
            unwritten = self.unwritten_windows()
            problems.append(
                f"KPI writes failing for {failing_s:.0f}s, {unwritten} windows unwritten"
            )
        facts: dict[str, Any] = {
            "connected": self.subscribed.is_set(),
            "park": self.park.id,
            "watermark_ms": self.watermark_ms,
            "watermark_lag_s": self._watermark_lag_s(),
            "silent_s": round(now - self._last_received, 3),
            "store_failing_s": round(failing_s, 3),
            "unwritten_windows": self.unwritten_windows(),
            "problems": problems,
            "stats": {k: v for k, v in self.counters().items()},
        }
        return not problems, facts

    def _watermark_lag_s(self) -> float:
        if self.watermark_ms is None:
            return 0.0
        return max(0.0, (self.clock.now_ms() - self.watermark_ms) / 1000)

    def counters(self) -> dict[str, float]:
        s = self.stats
        return {
            "messages_received": s.received,
            "readings": s.readings,
            "readings_rejected": s.rejected,
            "readings_too_late": s.too_late,
            "windows_computed": s.windows_computed,
            "windows_recomputed": s.windows_recomputed,
            "points_written": s.points_written,
            "store_errors": s.store_errors,
            "tick_errors": s.tick_errors,
            "updates_published": s.published,
        }

    def gauges(self) -> dict[str, float]:
        return {
            "connected": float(self.subscribed.is_set()),
            "unwritten_windows": float(self.unwritten_windows()),
            "buffered_readings": float(self._buffer.height),
            "watermark_lag_seconds": self._watermark_lag_s(),
        }

    # -- restart -----------------------------------------------------------------------

    def rebuild(self) -> None:
        """Refill the buffer from the stored readings of the newest day, and rewrite its KPIs."""
        rows: list[tuple[str, int, float]] = []
        newest = self._stored_newest()
        if newest is None:
            return
        day = window_starts(pl.Series([newest], dtype=pl.Int64), window="1d", tz=self.park.tz)[0]
        since = datetime.fromtimestamp((int(day) - self._lookback_ms) / 1000, UTC)
        for kind, fld in self._kinds().items():
            query = Select(
                kind, [fld], tags={"park": self.park.id}, start=since, group_by_tags=["sensor"]
            )
            for series in self.store.query(query.to_influxql()):
                sensor = series.tags.get("sensor", "")
                rows += [(sensor, int(ts), float(v)) for ts, v in series.values if v is not None]
        logger.info("rebuilt from the store readings=%d since=%s", len(rows), since.isoformat())
        self.feed(rows)
        self._publishing = False  # rewritten in the store; subscribers had them already
        try:
            self.tick()
        finally:
            self._publishing = True

    def _kinds(self) -> dict[str, str]:
        meters = self.park.meters.select("kind", "field").unique()
        return dict(meters.iter_rows())

    def _stored_newest(self) -> int | None:
        newest = None
        for kind, fld in self._kinds().items():
            query = Select(kind, [fld], aggregate="last", tags={"park": self.park.id})
            for series in self.store.query(query.to_influxql()):
                for ts, _value in series.values:
                    newest = max(newest or ts, ts)
        return newest
