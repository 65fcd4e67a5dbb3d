"""The stream processor: readings of one park from MQTT to KPI points and KPI updates.

Threads: paho's network thread decodes each message and queues the carrier counter
readings (sensor, ts, value); the tick thread, every ``tick_s``:

1. moves queued readings into the buffer and advances the watermark (the newest
   reading time seen: event time, so replays and backfills close windows too);
2. marks dirty every window (1m, 15m, 1h, 1d) that reached the watermark and was
   never computed, and every computed window a late reading falls in, if it is
   within ``lateness_s`` of the watermark (older readings go to the ledger of dirty
   windows, recomputed from the store by the catch-up job: ``processing.catchup``;
   those of the days the buffer still holds join it, for today's live window);
3. recomputes dirty windows with the engine on the buffer (plus a lookback for each
   sensor's reading before the window), writes their points to InfluxDB (the same
   series and time: a rewrite overwrites) and then publishes them on MQTT
   (``processing.emit``; the windows a failed write held back go to the ledger too,
   once the store is back: what the outage hid is recomputed from the store); once per
   complete minute the same for today and the month to date (``processing.live``:
   ``provisional``, ``complete_to_ms``, ``revision`` growing);
4. drops buffered readings no open or recent window needs.

Delivery guarantees (see ``processing.journal``): a message is acknowledged only once
its readings are in the fsynced journal, so every reading reaches the processor at
least once across crashes. A failed store write keeps its windows dirty and retried;
the durable progress records, per window size, the earliest window not yet written.
A restart refills the buffer from the journal and the store (each reading counted
once, keyed by sensor and time), recomputes, writes and publishes every closed window
from that progress on, and accepts readings the broker redelivers back to it (the
``floor``), however late they look against the recovered watermark.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import polars as pl

from processing import recovery
from processing.buffer import pruned, window_readings
from processing.catchup import LedgerFile
from processing.config import ProcessingConfig
from processing.emit import Emitter
from processing.engine import Park, kpis, sensor_totals
from processing.journal import Journal, read_progress, write_progress
from processing.kpis import Coefficients
from processing.ledger import Span
from processing.live import LiveWindows
from processing.meters import window_end, window_ends, window_starts
from processing.reads import StoreReads
from processing.stats import ProcessorStats
from processing.windowbook import WindowBook
from smartpark.clock import Clock
from smartpark.errors import StoreError
from smartpark.mqtt import Subscriber
from smartpark.registry import Registry
from smartpark.settings import MqttSettings
from smartpark.store.base import Store
from smartpark.wire import Limits, decode, readings_filter, topic_for

logger = logging.getLogger(__name__)

WINDOWS = ("1m", "15m", "1h", "1d")
_SCHEMA = {"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}
_DAY_MS = 86_400_000


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
        state_dir: Path,
        tick_s: float = 0.1,
    ) -> None:
        self.park = Park.from_registry(
            registry, park_id, config, gas_reference_c=coefficients.gas_reference_c
        )
        self.config = config
        self.coefficients = coefficients
        self.store = store
        self.clock = clock
        self.stats = ProcessorStats()
        self._mqtt = mqtt
        self._tick_s = tick_s
        self.live_load = 1.0  # the ticks' share of wall time, smoothed (``_note_load``)
        self._lateness_ms = config.lateness_s * 1000
        self._lookback_ms = config.lookback_ms
        self._max_gap_ms = config.max_gap_s * 1000
        self._limits = limits
        self._routes = _routes(mqtt.topic_root, registry, self.park)
        self._filter = readings_filter(mqtt.topic_root, park_id)
        self._lock = threading.Lock()
        self._inbox: list[tuple[str, int, float]] = []
        self.buffer = pl.DataFrame(schema=_SCHEMA)
        self._newest = pl.DataFrame(schema={"sensor": pl.Utf8, "ts": pl.Int64})  # per sensor
        self.watermark_ms: int | None = None
        self.book = WindowBook(WINDOWS, tz=self.park.tz)
        self._acks: list[tuple[int, int]] = []  # (mid, qos) of messages not yet journaled
        state = state_dir / park_id
        self.journal = Journal(state / "journal")
        self._progress_path = state / "progress.json"
        self.progress: dict[str, int] = read_progress(self._progress_path)
        # Windows the live path leaves: readings older than the horizon, and windows
        # written around a store outage (see ``processing.catchup``).
        self.ledger = LedgerFile(state / "ledger.json")
        self._catchup_delay_ms = config.catchup_delay_s * 1000
        self._floor_ms: int | None = None  # accept anything from here on after a restart
        self._pruned_to_ms = 0  # the buffer holds no reading before this but each meter's last
        self.reads = StoreReads(store, self.park)
        self.live = LiveWindows(park=self.park, config=config, coefficients=coefficients,
                                reads=self.reads)  # fmt: skip
        self._days_grid_cache: tuple[tuple[int, int, int | None], pl.DataFrame] | None = None
        self._stop = threading.Event()
        self.last_received = clock.monotonic()
        self.subscriber = Subscriber(
            mqtt,
            name="processor",
            client_id=client_id,
            filters=[(self._filter, 1)],
            on_message=self._on_message,
            manual_ack=True,
        )
        self.subscribed = self.subscriber.subscribed
        self.emitter = Emitter(store=store, publish=self.subscriber.publish, park_id=park_id,
                               topic_root=mqtt.topic_root, coefficients=coefficients,
                               stats=self.stats, clock=clock)  # fmt: skip
        self._ticking = threading.Lock()  # a tick, or a registry reload between two
        self._thread = threading.Thread(target=self._run, name="kpi-tick", daemon=True)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self.rebuild()
        self.subscriber.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.subscriber.stop()

    @property
    def tick_lock(self) -> threading.Lock:
        """Held during a tick (and a registry reload): the catch-up holds it for each
        piece of its work, so the two never run at once."""
        return self._ticking

    def live_busy(self) -> bool:
        """Whether readings wait for the next tick or a tick runs (the catch-up's pieces
        and messages start after it: ``processing.emit.after_live``)."""
        return bool(self._inbox) or self._ticking.locked()

    # -- MQTT (paho's thread) -----------------------------------------------------------

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        route = self._routes.get(msg.topic)
        self.stats.received += 1
        self.last_received = self.clock.monotonic()
        if route is None:
            self.subscriber.ack(
                msg.mid, msg.qos
            )  # another kind (CEMS, water, ...): nothing to keep
            return
        sensor, name, accepted = route
        good, bad = decode(
            msg.payload, fields=accepted, now_ms=self.clock.now_ms(), limits=self._limits
        )
        self.stats.rejected += len(bad)  # the collector dead-letters them
        rows = [(sensor, ts, float(values[name])) for ts, values, _ in good if name in values]
        with self._lock:
            self._inbox.extend(rows)
            self._acks.append((msg.mid, msg.qos))

    # -- ticks -----------------------------------------------------------------------

    def use_registry(self, registry: Registry) -> None:
        """Route and compute by ``registry`` from the next tick on (a reload: SIGHUP in the
        CLI; ``processing.app.checked_registry`` checks it first). The buffer, the windows,
        the journal and the session are untouched."""
        park = Park.from_registry(
            registry, self.park.id, self.config, gas_reference_c=self.coefficients.gas_reference_c
        )
        routes = _routes(self._mqtt.topic_root, registry, park)
        reads = StoreReads(self.store, park)
        with self._ticking:
            self.park, self._routes, self.reads = park, routes, reads
            self.live.park, self.live.reads = park, reads
        logger.info("registry reloaded meters=%d", len(routes))

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                with self._ticking:
                    began = self.clock.monotonic()
                    try:
                        self.tick()
                    finally:
                        self._note_load(self.clock.monotonic() - began)
            except StoreError as exc:  # a read of the store failed: its windows stay dirty
                self.emitter.failed(self.book.oldest_unwritten_ms())
                logger.warning("tick: store read failed, retried next tick: %s", exc)
            except Exception:  # a bug must not stop the loop; it is logged and counted
                logger.exception("tick failed")
                self.stats.tick_errors += 1

    def _note_load(self, spent_s: float) -> None:
        """The ticks' share of wall time (a tick and the interval after it), smoothed
        over the last few seconds: how much the live path leaves the catch-up."""
        share = spent_s / (spent_s + self._tick_s)
        self.live_load += (share - self.live_load) * 0.1

    def feed(self, rows: Iterable[tuple[str, int, float]]) -> None:
        """Queue readings as if they came from MQTT (rebuild, tests)."""
        with self._lock:
            self._inbox.extend(rows)

    def tick(self) -> None:
        """One round, in this order:

        1. take the queued readings and append them to the journal; fsync it;
        2. add them to the buffer; those older than the horizon to the ledger (durable);
        3. acknowledge their messages (a crash before this: the broker redelivers them);
        4. find dirty windows, compute them, write their points, then publish them (a
           failed write keeps them dirty, retried next tick);
        5. record the progress (the earliest window per size not yet written), fsynced;
        6. drop buffered readings and journal segments no changeable window needs.
        """
        with self._lock:
            rows, self._inbox = self._inbox, []
            acks, self._acks = self._acks, []
        journaled = self._journal(rows) if rows or acks else False
        if rows:
            self._take(pl.DataFrame(rows, schema=_SCHEMA, orient="row"))
        if journaled:
            for mid, qos in acks:
                self.subscriber.ack(mid, qos)
        if self.watermark_ms is None:
            return
        self.book.close(self.watermark_ms)
        for window in WINDOWS:
            if self.book.dirty[window]:
                self._compute(window, sorted(self.book.dirty[window]))
        self._live()
        self._save_progress()
        self._prune()

    def _journal(self, rows: list[tuple[str, int, float]]) -> bool:
        try:
            self.journal.append(rows)
            self.journal.sync()
        except OSError:
            # Not acknowledged: the broker redelivers these messages after a restart.
            self.stats.journal_errors += 1
            logger.exception(
                "journal write failed rows=%d: messages left unacknowledged", len(rows)
            )
            return False
        return True

    def _save_progress(self) -> None:
        assert self.watermark_ms is not None
        progress = self.book.progress(self.watermark_ms)
        if progress != self.progress:
            write_progress(self._progress_path, progress)
            self.progress = progress

    def _take(self, new: pl.DataFrame) -> None:
        self.stats.readings += new.height
        newest = int(new["ts"].max())  # type: ignore[arg-type]
        if self.watermark_ms is not None:
            horizon = self.watermark_ms - self._lateness_ms
            if self._floor_ms is not None:
                if horizon - self._floor_ms > _DAY_MS:
                    self._floor_ms = None  # what the broker held at the restart is long in
                else:
                    horizon = min(horizon, self._floor_ms)
            late = new.filter(pl.col("ts") < horizon)
            if late.height:  # beyond the horizon: the ledger's, recomputed from the store
                self.stats.too_late += late.height
                self._dirty(late["ts"].min(), late["ts"].max(), late["sensor"], widened=False)
                new = new.filter(pl.col("ts") >= horizon)
                # The days the buffer still holds (today) take them too, unmarked: their
                # closed windows are the ledger's, the open day and its live view the stream's.
                kept = late.filter(pl.col("ts") >= self._pruned_to_ms)
                self.buffer = pl.concat([self.buffer, kept])
        self.book.note(new["ts"])
        self._note_neighbours(new)
        self.buffer = pl.concat([self.buffer, new])
        self.watermark_ms = max(self.watermark_ms or newest, newest)

    def _dirty(self, lo: Any, hi: Any, sensors: pl.Series, *, widened: bool) -> None:
        due = self.clock.now_ms() + self._catchup_delay_ms
        self.ledger.add(Span(int(lo), int(hi), frozenset(sensors.unique().to_list()), due, widened))

    def _note_neighbours(self, new: pl.DataFrame) -> None:
        """Mark the windows a new reading changes besides its own (see ``note_changes``)."""
        if new.height == 0:
            return
        batch = new.select("sensor", "ts")
        known = self._newest.join(batch.select("sensor").unique(), on="sensor")
        self._newest = pl.concat([self._newest, batch]).group_by("sensor").agg(pl.col("ts").max())
        late = batch.join(known, on="sensor", suffix="_known").filter(
            pl.col("ts") < pl.col("ts_known")
        )
        # In order (the usual case) each meter's newest buffered reading is all that can
        # neighbour the batch; a late reading needs the buffer around it.
        around = self.buffer.select("sensor", "ts") if late.height else known
        self.book.note_changes(around, batch, pro_rata=self.park.pro_rata)

    def _compute(self, window: str, starts: list[int]) -> None:
        lo = min(starts) - self._lookback_ms
        end_of = pl.select(
            window_end(pl.lit(pl.Series(starts, dtype=pl.Int64)), window=window, tz=self.park.tz)
        ).to_series()
        hi = int(end_of.max())  # type: ignore[arg-type]
        readings = window_readings(self.buffer, lo, hi, pro_rata=self.park.pro_rata)
        assert self.watermark_ms is not None
        watermark = self.watermark_ms // 60_000 * 60_000
        # closed windows: complete to their end, as the roll-up of the same period is, and
        # green power settled on the stored days before it (the month up to that end; a
        # later day's live point would not match the contract's time up to it)
        complete_to = min(watermark, hi)
        days_grid = self._days_grid(lo, watermark).filter(pl.col("day") < complete_to)
        frame = kpis(readings, self.park, self.config, self.coefficients, window=window,
                     complete_to_ms=complete_to, days_grid=days_grid,
                     span_ms=(min(starts), max(starts) + 1))  # fmt: skip
        frame = frame.filter(pl.col("window").is_in(starts))
        sensors = sensor_totals(readings, self.park, window=window, max_gap_ms=self._max_gap_ms)
        sensors = sensors.filter(pl.col("window").is_in(starts))
        ends = dict(zip(starts, end_of.to_list(), strict=True))
        if self._emit(window, frame, sensors, ends):
            first, again = self.book.written(window, starts)
            self.stats.windows_computed += first
            self.stats.windows_recomputed += again
            self.stats.by_window[window] += len(starts)

    def _days_grid(self, lo: int, complete_to: int) -> pl.DataFrame:
        """The stored days' grid import of the month of ``lo`` (green power is settled
        on the month), read again when a day or the live windows were written."""
        key = (lo // _DAY_MS, self.stats.by_window["1d"], self.live.complete_to_ms)
        if self._days_grid_cache is None or self._days_grid_cache[0] != key:
            self._days_grid_cache = (key, self.reads.days_grid(lo, complete_to))
        return self._days_grid_cache[1]

    def _live(self) -> None:
        """Today and the month to date, once per complete minute (``processing.live``)."""
        assert self.watermark_ms is not None
        complete_to = self.live.due(self.watermark_ms)
        if complete_to is None:
            return
        for window, frame in self.live.compute(self.buffer, complete_to).items():
            starts = frame["window"].unique()
            ends = window_ends(starts, window=window, tz=self.park.tz)
            self._emit(window, frame, None, dict(zip(starts, ends, strict=True)))

    def _emit(
        self,
        window: str,
        frame: pl.DataFrame,
        sensors: pl.DataFrame | None,
        ends: dict[int, int],
    ) -> bool:
        """Write, then publish (``Emitter.emit``); once the store is back after failed
        writes, the windows around the outage go to the ledger: whatever it hid from this
        processor is recomputed once more from the store and the journal, after the delay."""
        if not self.emitter.emit(window, frame, sensors, ends):
            return False
        held = self.emitter.take_outage()
        if held is not None and self.watermark_ms is not None:
            lo = held - self._lookback_ms
            self._dirty(lo, self.watermark_ms, self.park.meters["sensor"], widened=True)
        return True

    def buffered(self, lo_ms: int, hi_ms: int) -> pl.DataFrame:
        """The buffered readings in [lo, hi) (the catch-up, holding the tick lock)."""
        return self.buffer.filter((pl.col("ts") >= lo_ms) & (pl.col("ts") < hi_ms))

    def journal_frame(self, lo_ms: int, hi_ms: int) -> pl.DataFrame:
        """The journaled readings in [lo, hi), for the catch-up."""
        return pl.DataFrame(self.journal.read(lo_ms, hi_ms), schema=_SCHEMA, orient="row")

    def _prune(self) -> None:
        """Keep what the current day's windows and the lateness horizon still need."""
        assert self.watermark_ms is not None
        day = window_starts(
            pl.Series([self.watermark_ms - self._lateness_ms], dtype=pl.Int64),
            window="1d",
            tz=self.park.tz,
        )[0]
        keep_from = int(day) - self._lookback_ms
        if self._floor_ms is not None:
            keep_from = min(keep_from, self._floor_ms - self._lookback_ms)
        oldest_unwritten = min(self.progress.values(), default=keep_from)
        journal_from = min(keep_from, oldest_unwritten - self._lookback_ms)
        # what the ledger's spans still need: the catch-up recomputes them (and their
        # months) from the store joined with the journal, and the collector may not have
        # stored a late reading yet (spooled in an outage, or far behind a backfill); a
        # window is never recomputed on less than this processor took
        oldest_dirty = self.ledger.backlog()["oldest_ms"]
        if oldest_dirty is not None:
            month = window_starts(pl.Series([oldest_dirty], dtype=pl.Int64), window="1mo",
                                  tz=self.park.tz)[0]  # fmt: skip
            journal_from = min(journal_from, int(month) - self._lookback_ms)
        self.journal.prune(journal_from)
        if keep_from > self._pruned_to_ms:
            self._pruned_to_ms = keep_from
            self.buffer = pruned(self.buffer, keep_from)  # each meter's last one kept
            # the live path revises no window before ``keep_from`` (the month to date
            # excepted): their revisions are forgotten, bar the highest per size
            month = window_starts(pl.Series([keep_from], dtype=pl.Int64), window="1mo",
                                  tz=self.park.tz)[0]  # fmt: skip
            self.emitter.forget({size: keep_from for size in WINDOWS} | {"1mo": int(month)})
        self.book.prune(keep_from)

    # -- health and metrics (``processing.status``) --------------------------------------

    def counters(self) -> dict[str, float]:
        return self.stats.counters()

    # -- restart -----------------------------------------------------------------------

    def rebuild(self) -> None:
        """Recover after a (re)start (``processing.recovery``; see the module text): the
        windows from the recorded progress on are recomputed, written and published;
        earlier ones are taken as written, those before the recovery's limit are the
        ledger's."""
        plan = recovery.plan(reads=self.reads, journal=self.journal, progress=self.progress,
                             tz=self.park.tz, lookback_ms=self._lookback_ms)  # fmt: skip
        if plan is None or plan.readings.height == 0:
            return
        if plan.wanted_ms < plan.since_ms:
            sensors = self.park.meters["sensor"]
            self._dirty(plan.wanted_ms, plan.since_ms - 1, sensors, widened=False)
        self._take(plan.readings)
        self.book.assume_written(self.progress, plan.since_ms)
        self._floor_ms = plan.since_ms
        before = self.stats.windows_computed
        self.tick()
        self.stats.windows_recovered = self.stats.windows_computed - before
        logger.info("recovered windows=%d", self.stats.windows_recovered)


def _routes(
    root: str, registry: Registry, park: Park
) -> dict[str, tuple[str, str, frozenset[str]]]:
    """Topic -> (sensor, counter field, accepted fields) of the park's meters."""
    fields = dict(zip(park.meters["sensor"], park.meters["field"], strict=True))
    return {
        topic_for(root, s.ref): (s.ref.sensor, fields[s.ref.sensor], frozenset(s.fields))
        for s in registry.sensors()
        if s.ref.park == park.id and s.ref.sensor in fields
    }
