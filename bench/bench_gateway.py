"""Gateway benchmark: field devices in, beside baselines measured in the same run.

    .venv/bin/python -m bench.bench_gateway      # or: ./dev bench gateway

Starts Mosquitto and InfluxDB on loopback, then measures:
Modbus and HJ 212 run three interleaved rounds of gateway and baseline; medians quoted.
  modbus    a pymodbus server (its own process, ``devstack.modbus_device``) with the test
            meter's map (float32, uint32 counter, int16): the gateway's poller polling it
            back to back and publishing each reading through its forwarder to Mosquitto,
            until the broker acknowledged all; baseline: the same pymodbus client making
            the same reads without decoding, mapping or publishing
  hj212     minute packets over one TCP connection to the gateway's listener (framing,
            CRC, parsing, the reading published and acknowledged); baselines: the same
            bytes to a plain TCP server that only reads them, and the same readings
            published QoS 1 by a plain publisher until acknowledged
  mapped    the running collector (its own process) while vendor messages are published
            as fast as the broker takes them (the example park's ``acrel-points``
            mapping, two points = one reading each); baseline: the same number of
            readings in the native contract, interleaved rounds in the same run
CPU is read from /proc for the collector and from this process's clock for the gateway
(the gateway runs here: its poller, forwarder and paho threads). The last line is one
JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import yaml
from pymodbus.client import ModbusTcpClient

from bench.harness import CollectorProc
from devstack.servers import InfluxDB, Mosquitto, free_port
from gateway import hj212
from gateway.registers import plan
from gateway.service import Gateway
from smartpark import registry as registry_mod
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import (
    GatewaySettings,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    Settings,
)
from smartpark.wire import encode_reading, topic_for

ROOT = Path(__file__).resolve().parent.parent

EXAMPLE = ROOT / "examples" / "park.yaml"
MN, PW = "88888880000001", "123456"
REGISTERS = [
    {"field": "power_kw", "address": 0, "type": "float32"},
    {"field": "energy_kwh", "address": 2, "type": "uint32", "word_order": "little", "scale": 0.01},
    {"field": "voltage_v", "table": "input", "address": 4, "type": "int16", "scale": 0.1},
]


def _registry(work: Path, modbus_port: int) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text())
    park = doc["parks"][0]
    e04 = next(e for e in park["enterprises"] if e["id"] == "e04-cannery")
    for sensor in e04["sensors"]:
        if sensor["id"] == "e04-grid-1":
            sensor["rollover"] = 2**32 * 0.01
            sensor["fields"] = {"voltage_v": {"unit": "V"}}
    park["gateways"] = [
        {
            "id": "gw-bench",
            "modbus": [
                {
                    "id": "m1",
                    "sensor": "e04-grid-1",
                    "host": "127.0.0.1",
                    "port": modbus_port,
                    "poll_s": 3600,
                    "timeout_s": 2,
                    "registers": REGISTERS,
                }
            ],
            "hj212": [{"mn": MN, "pw": PW, "minute_sensor": "e04-stack-1"}],
        }
    ]
    path = work / "park.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


ROUNDS = 3


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _cpu() -> float:
    return time.process_time()


def _wait(predicate, timeout_s: float = 120.0, every_s: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(every_s)


def modbus_baseline(port: int, polls: int, registry: Registry) -> dict:
    spec = registry.parks["tianfu-np"].gateways[0].modbus[0]
    reads = plan(spec.registers)
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    client.connect()
    t0, c0 = time.perf_counter(), _cpu()
    for _ in range(polls):
        for read in reads:
            call = (
                client.read_holding_registers
                if read.table == "holding"
                else client.read_input_registers
            )
            assert not call(read.start, count=read.count, device_id=1).isError()
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    client.close()
    return {"polls_per_s": polls / wall, "cpu_us_per_poll": cpu / polls * 1e6}


def modbus_gateway(gateway: Gateway, polls: int) -> dict:
    poller = gateway.pollers[0]
    before = gateway.forwarder.stats.published
    t0, c0 = time.perf_counter(), _cpu()
    for _ in range(polls):
        poller.poll()
    _wait(lambda: gateway.forwarder.stats.published - before >= polls)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    assert poller.stats.failed_polls == 0
    return {"polls_per_s": polls / wall, "cpu_us_per_reading": cpu / polls * 1e6}


def _packets(n: int) -> bytes:
    start = (int(time.time()) // 60 - n - 10) * 60_000
    out = []
    for i in range(n):
        ts = time.strftime("%Y%m%d%H%M%S", time.gmtime((start + i * 60_000) / 1000 + 8 * 3600))
        cp = (f"DataTime={ts};a21002-Avg={20 + i % 7}.5,a21002-Flag=N;a21026-Avg=2.1,a21026-Flag=N;"
              "a19001-Avg=5.2,a19001-Flag=N;a00000-Avg=0.87,a00000-Flag=N")  # fmt: skip
        out.append(hj212.frame(f"QN={i};ST=31;CN=2051;PW={PW};MN={MN};Flag=4;CP=&&{cp}&&"))
    return b"".join(out)


def hj212_baseline(stream: bytes, n: int) -> dict:
    got = threading.Event()
    size = len(stream)

    class Sink(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            seen = 0
            while seen < size:
                data = self.request.recv(65536)
                if not data:
                    return
                seen += len(data)
            got.set()

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    t0, c0 = time.perf_counter(), _cpu()
    with socket.create_connection(server.server_address) as sock:  # type: ignore[arg-type]
        sock.sendall(stream)
        got.wait(120)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    server.shutdown()
    server.server_close()
    return {"packets_per_s": n / wall, "cpu_us_per_packet": cpu / n * 1e6}


def hj212_gateway(gateway: Gateway, stream: bytes, n: int) -> dict:
    assert gateway.hj212 is not None
    before = gateway.forwarder.stats.published
    t0, c0 = time.perf_counter(), _cpu()
    with socket.create_connection(("127.0.0.1", gateway.hj212.port)) as sock:
        sock.sendall(stream)
        _wait(lambda: gateway.forwarder.stats.published - before >= n)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    assert gateway.hj212.handler.stats.readings >= n
    return {"packets_per_s": n / wall, "cpu_us_per_reading": cpu / n * 1e6}


def collector_rate(
    proc: CollectorProc, settings: Settings, messages: list[tuple[str, bytes]]
) -> dict:
    """The running collector's CPU per reading and rate while ``messages`` are published
    as fast as the broker takes them and stored."""
    before = proc.stats()["stored_readings"]
    pub = BoundedPublisher(settings.mqtt, client_id=f"bench-pub-{time.monotonic_ns()}")
    pub.wait_connected()
    c0, t0 = proc.cpu_s(), time.perf_counter()
    for topic, payload in messages:
        pub.publish(topic, payload)
    n = len(messages)
    # polled 4 times a second: each /healthz is work of the collector's, counted in its CPU
    _wait(lambda: proc.stats()["stored_readings"] - before >= n, timeout_s=300, every_s=0.25)
    wall, cpu = time.perf_counter() - t0, proc.cpu_s() - c0
    assert pub.wait_all(60)
    pub.close()
    return {"readings_per_s": n / wall, "cpu_us_per_reading": cpu / n * 1e6}


def publish_baseline(settings: Settings, messages: list[tuple[str, bytes]]) -> dict:
    """The same readings published QoS 1 by a plain publisher, acknowledged: MQTT's share."""
    pub = BoundedPublisher(settings.mqtt, client_id=f"bench-plain-{time.monotonic_ns()}")
    pub.wait_connected()
    t0, c0 = time.perf_counter(), _cpu()
    for topic, payload in messages:
        pub.publish(topic, payload)
    assert pub.wait_all(120)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    pub.close()
    return {"msgs_per_s": len(messages) / wall, "cpu_us_per_msg": cpu / len(messages) * 1e6}


def mapped_messages(n: int, root: str, base_ms: int) -> tuple[list, list]:
    native, mapped = [], []
    ref = registry_mod.load(EXAMPLE).sensor("tianfu-np", "e04-grid-1")
    assert ref is not None
    topic = topic_for(root, ref.ref)
    for i in range(n):
        ts = base_ms + i * 1000
        native.append(
            (topic, encode_reading(ts, {"energy_kwh": 1000 + i * 0.01, "power_kw": 36.0}))
        )
        points = [
            {"dev": "grid-1", "name": "Ep", "value": 100_000 + i},
            {"dev": "grid-1", "name": "P", "value": 36_000},
        ]
        # distinct timestamps from the native phase's (seconds since the epoch here)
        mapped.append(
            (
                "vendor/acrel/GW01/data",
                orjson.dumps({"time": (ts + n * 1000) // 1000, "points": points}),
            )
        )
    return native, mapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=3_000)
    parser.add_argument("--packets", type=int, default=5_000)
    parser.add_argument("--messages", type=int, default=15_000, help="mapped and native each")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="smartpark-bench-gateway-"))
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    modbus_port = free_port()
    device = subprocess.Popen(
        [sys.executable, "-m", "devstack.modbus_device", str(modbus_port)], cwd=ROOT
    )
    try:
        registry_path = _registry(work, modbus_port)
        registry = registry_mod.load(registry_path)
        settings = Settings(
            mqtt=MqttSettings(port=broker.port, topic_root="smartpark", client_id="bench-collector"),
            influx=InfluxSettings(url=influx.url, database="bench"),
            ingest=IngestSettings(registry=registry_path, spool_dir=work / "spool", http_port=free_port()),
            gateway=GatewaySettings(buffer_dir=work / "buffer", hj212_port=0, http_port=0),
        )  # fmt: skip
        _wait(lambda: ModbusTcpClient("127.0.0.1", port=modbus_port).connect(), 20)
        client = ModbusTcpClient("127.0.0.1", port=modbus_port)
        client.connect()
        hi, lo = struct.unpack(">HH", struct.pack(">f", 36.5))
        client.write_registers(0, [hi, lo, 0xFFFB, 0xFFFF, 2300], device_id=1)
        client.close()
        print(
            f"servers: mosquitto :{broker.port}, influxdb :{influx.port}, modbus :{modbus_port}; work dir {work}"
        )

        gateway = Gateway(settings=settings, registry=registry, serve_http=False)
        gateway.start()
        _wait(gateway.forwarder.connected.is_set, 20)
        time.sleep(0.5)  # the poller's own first poll, then it sleeps for an hour
        # interleaved rounds, medians: the machine is shared and its speed drifts
        runs = [(modbus_baseline(modbus_port, args.polls // ROUNDS, registry),
                 modbus_gateway(gateway, args.polls // ROUNDS)) for _ in range(ROUNDS)]  # fmt: skip
        mb_base, mb_gw = _median([r[0] for r in runs]), _median([r[1] for r in runs])
        print(
            f"modbus baseline (pymodbus client, same reads): {mb_base['polls_per_s']:,.0f} polls/s, "
            f"CPU {mb_base['cpu_us_per_poll']:.0f} us/poll"
        )
        print(
            f"modbus gateway (poll, decode, publish, acked): {mb_gw['polls_per_s']:,.0f} polls/s "
            f"({mb_gw['polls_per_s'] / mb_base['polls_per_s']:.2f} x baseline), CPU "
            f"{mb_gw['cpu_us_per_reading']:.0f} us/reading ({mb_gw['cpu_us_per_reading'] / mb_base['cpu_us_per_poll']:.2f} x)"
        )

        n = args.packets // ROUNDS
        stream = _packets(n)
        plain = [(topic_for("smartpark", gateway.refs["e04-stack-1"]),
                  encode_reading(1_795_507_200_000 + i, {"nox_mg_m3": 20.5, "so2_mg_m3": 2.1,
                                                         "o2_pct": 5.2, "flow_m3h": 3132.0,
                                                         "data_flag": 0}))
                 for i in range(n)]  # fmt: skip
        runs = [(hj212_baseline(stream, n), publish_baseline(settings, plain),
                 hj212_gateway(gateway, stream, n)) for _ in range(ROUNDS)]  # fmt: skip
        hj_base, mqtt_base = _median([r[0] for r in runs]), _median([r[1] for r in runs])
        hj_gw = _median([r[2] for r in runs])
        gateway.stop()
        print(
            f"hj212 baseline (TCP sink, same bytes): {hj_base['packets_per_s']:,.0f} packets/s, "
            f"CPU {hj_base['cpu_us_per_packet']:.1f} us/packet"
        )
        print(
            f"plain QoS 1 publisher of the same readings, acked: {mqtt_base['msgs_per_s']:,.0f} msgs/s, "
            f"CPU {mqtt_base['cpu_us_per_msg']:.0f} us/msg"
        )
        print(
            f"hj212 gateway (frame, CRC, parse, publish, acked): {hj_gw['packets_per_s']:,.0f} packets/s, "
            f"CPU {hj_gw['cpu_us_per_reading']:.0f} us/reading ({hj_gw['cpu_us_per_reading'] / mqtt_base['cpu_us_per_msg']:.2f} x the plain publisher)"
        )

        base_ms = int(time.time() * 1000) - 30 * 86_400_000
        native_msgs, mapped_msgs = mapped_messages(args.messages, "smartpark", base_ms)
        proc = CollectorProc(settings, work / "collector.log")
        try:
            pairs = [(collector_rate(proc, settings, native_msgs[i::ROUNDS]),
                      collector_rate(proc, settings, mapped_msgs[i::ROUNDS])) for i in range(ROUNDS)]  # fmt: skip
            assert sum(proc.stats()["deadlettered"].values()) == 0
        finally:
            proc.stop()
        native, mapped = _median([p[0] for p in pairs]), _median([p[1] for p in pairs])
        print(
            f"collector, native contract: {native['readings_per_s']:,.0f} readings/s, CPU {native['cpu_us_per_reading']:.1f} us/reading"
        )
        print(
            f"collector, mapped vendor payloads: {mapped['readings_per_s']:,.0f} readings/s "
            f"({mapped['readings_per_s'] / native['readings_per_s']:.2f} x native), CPU "
            f"{mapped['cpu_us_per_reading']:.1f} us/reading ({mapped['cpu_us_per_reading'] / native['cpu_us_per_reading']:.2f} x native)"
        )
        print(orjson.dumps({
            "modbus_baseline": mb_base, "modbus_gateway": mb_gw,
            "modbus_polls_ratio": mb_gw["polls_per_s"] / mb_base["polls_per_s"],
            "modbus_cpu_ratio": mb_gw["cpu_us_per_reading"] / mb_base["cpu_us_per_poll"],
            "hj212_tcp_baseline": hj_base, "hj212_publish_baseline": mqtt_base, "hj212_gateway": hj_gw,
            "hj212_cpu_ratio": hj_gw["cpu_us_per_reading"] / mqtt_base["cpu_us_per_msg"],
            "native": native, "mapped": mapped,
            "mapped_cpu_ratio": mapped["cpu_us_per_reading"] / native["cpu_us_per_reading"],
            "mapped_rate_ratio": mapped["readings_per_s"] / native["readings_per_s"],
        }).decode())  # fmt: skip
    finally:
        device.terminate()
        device.wait(10)
        broker.stop()
        influx.stop()


if __name__ == "__main__":
    main()
