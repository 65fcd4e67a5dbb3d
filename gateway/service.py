"""The running edge gateway: its Modbus pollers, HJ 212 listener and forwarder, and its
``/metrics`` and ``/healthz``. Readings leave as the wire contract (one message per poll
or packet) on the topics of the sensors the registry says this gateway serves."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from gateway.forward import Forwarder
from gateway.hj212server import Hj212Handler, Hj212Server
from gateway.modbus import DevicePoller
from smartpark.clock import Clock, SystemClock
from smartpark.errors import ConfigError
from smartpark.gatewayspec import GatewaySpec, ModbusDevice
from smartpark.httpserver import FlatMetrics, StatusServer, status_server
from smartpark.model import Reason, SensorRef
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.spool import Spool
from smartpark.wire import Problem, deadletter_payload, deadletter_topic, encode_reading, topic_for

logger = logging.getLogger(__name__)


def find_gateway(registry: Registry, gateway_id: str | None) -> tuple[str, GatewaySpec]:
    """(park id, gateway) of the registry's gateway ``gateway_id`` (None: its only one)."""
    found = [(p.id, g) for p in registry.parks.values() for g in p.gateways]
    if gateway_id is not None:
        found = [(p, g) for p, g in found if g.id == gateway_id]
    if len(found) != 1:
        known = ", ".join(g.id for p in registry.parks.values() for g in p.gateways) or "none"
        what = f"no gateway {gateway_id!r}" if gateway_id else "more than one gateway or none"
        raise ConfigError(f"{what} in the registry (gateways: {known}); set SMARTPARK_GATEWAY__ID")
    return found[0]


class Gateway:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        clock: Clock | None = None,
        serve_http: bool = True,
    ) -> None:
        self.park, self.spec = find_gateway(registry, settings.gateway.id)
        self.root = settings.mqtt.topic_root
        self.clock = clock or SystemClock()
        self.refs: dict[str, SensorRef] = {}
        for sensor_id in self.spec.served():
            found = registry.sensor(self.park, sensor_id)
            if found is None:  # the registry's check refuses this; never publish a guess
                raise ConfigError(f"gateway {self.spec.id}: unknown sensor {sensor_id!r}")
            self.refs[sensor_id] = found.ref
        client_id = settings.gateway.client_id or f"gateway-{self.park}-{self.spec.id}"
        buffer = Spool(settings.gateway.buffer_dir, max_bytes=settings.gateway.buffer_max_bytes)
        self.forwarder = Forwarder(settings.mqtt, client_id=client_id, buffer=buffer)
        self.hj212: Hj212Server | None = None
        if self.spec.hj212:
            self.hj212 = self._hj212_server(settings, registry)
        self.pollers = [
            DevicePoller(d, clock=self.clock, on_reading=self._modbus_reading, on_state=self._state)
            for d in self.spec.modbus
        ]
        self.readings_published = 0
        self.http: StatusServer | None = None
        if serve_http:
            metrics = FlatMetrics(
                "smartpark_gateway_", counters=self._counters, gauges=self._gauges
            )
            self.http = status_server(
                host=settings.gateway.http_host,
                port=settings.gateway.http_port,
                metrics=metrics,
                health=self.health,
            )

    def _hj212_server(self, settings: Settings, registry: Registry) -> Hj212Server:
        if settings.gateway.hj212_port is None:
            raise ConfigError(
                f"gateway {self.spec.id} has HJ 212 instruments: set SMARTPARK_GATEWAY__HJ212_PORT"
                " (or --hj212-port)"
            )
        fields_of = {}
        for sensor_id in self.refs:
            found = registry.sensor(self.park, sensor_id)
            assert found is not None  # checked above
            fields_of[sensor_id] = frozenset(found.fields)
        handler = Hj212Handler(
            self.spec.hj212, fields_of=fields_of, tz=ZoneInfo(registry.parks[self.park].timezone)
        )
        return Hj212Server(
            handler,
            host=settings.gateway.hj212_host,
            port=settings.gateway.hj212_port,
            on_reading=self.publish,
        )

    def start(self) -> None:
        self.forwarder.start()
        if self.hj212 is not None:
            self.hj212.start()
        for poller in self.pollers:
            poller.start()
        if self.http is not None:
            self.http.start()
        logger.info(
            "gateway started park=%s id=%s modbus_devices=%d", self.park, self.spec.id,
            len(self.pollers),
        )  # fmt: skip

    def stop(self) -> None:
        if self.hj212 is not None:
            self.hj212.stop()
        for poller in self.pollers:
            poller.stop()
        self.forwarder.stop()
        if self.http is not None:
            self.http.stop()

    def publish(self, sensor_id: str, ts_ms: int, values: dict[str, float]) -> None:
        """Hand one reading of a served sensor to the forwarder."""
        self.readings_published += 1
        topic = topic_for(self.root, self.refs[sensor_id])
        self.forwarder.put([(topic, encode_reading(ts_ms, values))])

    def _modbus_reading(self, device: ModbusDevice, ts_ms: int, values: dict[str, float]) -> None:
        self.publish(device.sensor, ts_ms, values)

    def _state(self, device: ModbusDevice, up: bool, detail: str) -> None:
        """A device went or came back: logged, and a going one dead-lettered once."""
        if up:
            logger.info("device answers again device=%s", device.id)
            return
        logger.warning("device unreachable device=%s: %s", device.id, detail)
        problems = [Problem(Reason.DEVICE_UNREACHABLE, f"device {device.id}: {detail}")]
        body = deadletter_payload(
            topic=topic_for(self.root, self.refs[device.sensor]),
            payload=b"",
            problems=problems,
            received_ms=self.clock.now_ms(),
        )
        self.forwarder.put([(deadletter_topic(self.root, problems), body)])

    def _counters(self) -> dict[str, float]:
        fs = self.forwarder.stats
        out: dict[str, float] = {
            "readings_total": self.readings_published,
            "published_total": fs.published,
            "buffered_total": fs.buffered,
            "forwarded_from_buffer_total": fs.forwarded_from_buffer,
            "buffer_full_dropped_total": fs.buffer_full_dropped,
            "modbus_polls_total": sum(p.stats.polls for p in self.pollers),
            "modbus_failed_polls_total": sum(p.stats.failed_polls for p in self.pollers),
        }
        if self.hj212 is not None:
            hs = self.hj212.handler.stats
            out |= {
                "hj212_packets_total": hs.packets,
                "hj212_readings_total": hs.readings,
                "hj212_answers_total": hs.answers,
                "hj212_refused_total": sum(hs.refused.values()),
                "hj212_values_not_stored_total": sum(hs.values_not_stored.values()),
                "hj212_mixed_flags_total": hs.mixed_flags,
                "hj212_connections_total": hs.connections,
            }
        return out

    def _gauges(self) -> dict[str, float]:
        return {
            "connected": float(self.forwarder.connected.is_set()),
            "buffer_bytes": float(self.forwarder.buffer.size_bytes),
            "buffer_entries": float(len(self.forwarder.buffer)),
            "modbus_devices_up": float(sum(p.stats.up for p in self.pollers)),
            "modbus_devices": float(len(self.pollers)),
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy: connected to the broker (or buffering with room) and every device answers."""
        down = [p.device.id for p in self.pollers if not p.stats.up]
        problems = [f"device unreachable: {d}" for d in down]
        if self.forwarder.stats.buffer_full_dropped:
            problems.append("buffer full: readings dropped (counted)")
        facts: dict[str, Any] = {
            "connected": self.forwarder.connected.is_set(),
            "buffer_entries": len(self.forwarder.buffer),
            "devices": {
                p.device.id: {"up": p.stats.up, "last_error": p.stats.last_error}
                for p in self.pollers
            },
            "problems": problems,
        }
        return not problems, facts
