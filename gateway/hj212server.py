"""The HJ 212 listener: CEMS data acquisition instruments connect over TCP and upload
real-time (CN 2011), minute (2051) and hourly (2061) data; each packet of a known MN
with its PW becomes one reading of the sensor the registry names for that CN.

Per packet: a bad CRC is refused with 9011 QnRtn 9, an unknown MN with QnRtn 4, a wrong
PW with QnRtn 3 (each logged and counted); a good upload is answered with 9014 when its
Flag asks for an answer. Times are local (the park's time zone: Beijing time for Chinese
parks) without an offset. Packets an instrument resends after an outage are readings
like any other (late data). Each value's flag letter becomes ``data_flag`` (see
``readings``); the gateway does not judge validity, the CEMS hourly mean does.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway import hj212
from smartpark.gatewayspec import Hj212Instrument

logger = logging.getLogger(__name__)

OnReading = Callable[[str, int, dict[str, float]], None]
IDLE_TIMEOUT_S = 600.0  # an instrument silent this long is disconnected (it reconnects)


@dataclass
class Hj212Stats:
    packets: int = 0
    readings: int = 0
    answers: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # by reason
    values_not_stored: Counter[str] = field(default_factory=Counter)  # by reason
    mixed_flags: int = 0
    connections: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one packet came to: the reading (sensor, ts, values) if any, and the answer."""

    reading: tuple[str, int, dict[str, float]] | None
    reply: bytes | None


def packet_time(raw: str | None, tz: ZoneInfo) -> int | None:
    """Epoch ms of a ``DataTime`` (``yyyyMMddHHmmss``, local), or None when unreadable."""
    if raw is None or len(raw) != 14 or not raw.isdigit():
        return None
    try:
        local = datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        return None
    return int(local.timestamp() * 1000)


def readings(packet: hj212.Packet, fields: frozenset[str], stats: Hj212Stats) -> dict[str, float]:
    """The values of a data packet as fields of its sensor, and ``data_flag``.

    ``data_flag`` is the flag the packet's stored values carry when they agree; when they
    differ, the first flag other than N in packet order (counted in ``mixed_flags``). A
    value whose code the table lacks or whose field the sensor does not have is counted
    by reason, not stored.
    """
    out: dict[str, float] = {}
    flags: list[str] = []
    for code, name, value, flag in hj212.values(packet):
        if isinstance(value, str):
            stats.values_not_stored[f"{code}: {value}"] += 1
            continue
        if name not in fields:
            stats.values_not_stored[f"{code}: sensor has no field {name}"] += 1
            continue
        out[name] = value
        if flag is not None:
            flags.append(flag)
    known = [f for f in flags if f in hj212.FLAG_NUMBERS]
    stats.values_not_stored["unknown flag letter"] += len(flags) - len(known)
    if out and known and "data_flag" in fields:
        chosen = known[0] if len(set(known)) == 1 else next(f for f in known if f != "N")
        stats.mixed_flags += len(set(known)) > 1
        out["data_flag"] = float(hj212.FLAG_NUMBERS[chosen])
    return out


class Hj212Handler:
    """Packet -> outcome, without sockets (the listener below does the I/O)."""

    def __init__(
        self,
        instruments: list[Hj212Instrument],
        *,
        fields_of: Mapping[str, frozenset[str]],
        tz: ZoneInfo,
    ) -> None:
        self.by_mn = {i.mn: i for i in instruments}
        self.fields_of = fields_of
        self.tz = tz
        self.stats = Hj212Stats()

    def _refuse(self, head: dict[str, str], code: int, reason: str) -> Outcome:
        self.stats.refused[reason] += 1
        logger.warning("hj212 packet refused mn=%r reason=%s", head.get("MN", "")[:24], reason)
        return Outcome(None, hj212.refusal(head, code))

    def handle(self, item: bytes | hj212.FrameError) -> Outcome:
        self.stats.packets += 1
        if isinstance(item, hj212.FrameError):
            if item.code == hj212.QN_CRC_ERROR:
                return self._refuse(hj212.header(item.segment), item.code, "bad_crc")
            self.stats.refused["bad_frame"] += 1
            logger.warning("hj212 stream: %s", item.detail)
            return Outcome(None, None)
        packet = hj212.parse(item)
        if isinstance(packet, str):
            return self._refuse(hj212.header(item), hj212.QN_REFUSED, "bad_packet")
        head = hj212.header(item)
        inst = self.by_mn.get(packet.mn)
        if inst is None:
            return self._refuse(head, hj212.QN_MN_ERROR, "unknown_mn")
        if packet.pw != inst.pw:
            return self._refuse(head, hj212.QN_PW_ERROR, "wrong_pw")
        reply = hj212.data_answer(head) if packet.wants_answer else None
        self.stats.answers += reply is not None
        if packet.cn not in hj212.DATA_CNS:
            self.stats.refused[f"cn_{packet.cn[:8]}_not_read"] += 1
            return Outcome(None, reply)
        sensor = inst.sensors().get(packet.cn)
        if sensor is None:
            self.stats.refused[f"cn_{packet.cn}_without_sensor"] += 1
            return Outcome(None, reply)
        ts_ms = packet_time(packet.cp.get("DataTime"), self.tz)
        if ts_ms is None:
            return self._refuse(head, hj212.QN_REFUSED, "bad_datatime")
        values = readings(packet, self.fields_of[sensor], self.stats)
        if not values:
            self.stats.refused["no_values"] += 1
            return Outcome(None, reply)
        self.stats.readings += 1
        return Outcome((sensor, ts_ms, values), reply)


class Hj212Server:
    """A threaded TCP listener; each connection has its own framer."""

    def __init__(self, handler: Hj212Handler, *, host: str, port: int, on_reading: OnReading):
        self.handler = handler
        lock = threading.Lock()  # one packet at a time through the handler and its stats

        class Connection(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(IDLE_TIMEOUT_S)
                framer = hj212.Framer()
                with lock:
                    handler.stats.connections += 1
                while True:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    for item in framer.feed(data):
                        with lock:
                            outcome = handler.handle(item)
                        if outcome.reading is not None:
                            on_reading(*outcome.reading)
                        if outcome.reply is not None:
                            try:
                                sock.sendall(outcome.reply)
                            except OSError:
                                return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, port), Connection)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hj212-listener", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        logger.info("hj212 listening port=%d", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
