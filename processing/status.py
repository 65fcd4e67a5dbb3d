"""The stream processor's /healthz facts and /metrics gauges, the ledger's backlog
among them (``ledger``: spans, dirty 1-minute windows, the oldest dirty instant)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processing.stream import StreamProcessor


def health(
    stream: StreamProcessor, *, store_failing_unhealthy_s: float
) -> tuple[bool, dict[str, Any]]:
    """Healthy: subscribed, and KPI writes not failing for longer than allowed."""
    now = stream.clock.monotonic()
    since = stream.emitter.failing_since
    failing_s = 0.0 if since is None else now - since
    problems = []
    if not stream.subscribed.is_set():
        problems.append("not subscribed to the broker")
    if failing_s > store_failing_unhealthy_s:
        unwritten = stream.book.unwritten()
        problems.append(f"KPI writes failing for {failing_s:.0f}s, {unwritten} windows unwritten")
    facts: dict[str, Any] = {
        "connected": stream.subscribed.is_set(),
        "park": stream.park.id,
        "watermark_ms": stream.watermark_ms,
        "watermark_lag_s": watermark_lag_s(stream),
        "silent_s": round(now - stream.last_received, 3),
        "store_failing_s": round(failing_s, 3),
        "unwritten_windows": stream.book.unwritten(),
        "oldest_unwritten_window_ms": stream.book.oldest_unwritten_ms(),
        "progress_ms": dict(stream.progress),
        "ledger": {**stream.ledger.backlog(), "oldest_age_s": ledger_age_s(stream)},
        "problems": problems,
        "stats": stream.counters(),
    }
    return not problems, facts


def watermark_lag_s(stream: StreamProcessor) -> float:
    """Wall time behind the newest reading's event time (0 before the first)."""
    if stream.watermark_ms is None:
        return 0.0
    return max(0.0, (stream.clock.now_ms() - stream.watermark_ms) / 1000)


def ledger_age_s(stream: StreamProcessor) -> float:
    """How far the oldest dirty instant lies behind the watermark, in event time."""
    oldest = stream.ledger.backlog()["oldest_ms"]
    if oldest is None or stream.watermark_ms is None:
        return 0.0
    return max(0.0, (stream.watermark_ms - oldest) / 1000)


def gauges(stream: StreamProcessor) -> dict[str, float]:
    """``smartpark_processing_<name>`` gauges for /metrics."""
    backlog = stream.ledger.backlog()
    return {
        "connected": float(stream.subscribed.is_set()),
        "unwritten_windows": float(stream.book.unwritten()),
        "buffered_readings": float(stream.buffer.height),
        "watermark_lag_seconds": watermark_lag_s(stream),
        "ledger_spans": float(backlog["spans"] or 0),
        "ledger_dirty_minutes": float(backlog["minutes"] or 0),
        "ledger_oldest_dirty_age_seconds": ledger_age_s(stream),
    }
