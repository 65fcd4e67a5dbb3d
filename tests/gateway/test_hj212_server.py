"""A CEMS instrument on one TCP stream to the gateway's HJ 212 listener: packets split and
concatenated, good and bad, answered as the standard asks; the readings stored through
the real collector carry values and flags, and a minute flagged M is left out of the
CEMS hourly mean."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from gateway import hj212
from gateway.service import Gateway
from smartpark import registry as registry_mod
from smartpark.cems import CemsRules, Stack, hourly
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from tests.conftest import EXAMPLE_PARK, stored_points, wait_until
from tests.gateway import hj212_packets as build
from tests.gateway.conftest import collector_for, gateway_settings
from tests.ingest.test_bad_input import DeadLetterListener

MN, PW = "88888880000001", "123456"


def cems_registry(tmp_path: Path) -> Registry:
    """The example park's gw-e04 with its CEMS instrument only, real-time and hourly data
    going to sensors of kinds of their own (so neither mixes with the minutes)."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    park = doc["parks"][0]
    fields = {"nox_mg_m3": {"unit": "mg/m3"}, "so2_mg_m3": {"unit": "mg/m3"},
              "o2_pct": {"unit": "%"}, "flow_m3h": {"unit": "m3/h"}, "data_flag": {"unit": "code"}}  # fmt: skip
    doc["kinds"] |= {"cems_realtime": {"fields": fields}, "cems_hourly": {"fields": fields}}
    e04 = next(e for e in park["enterprises"] if e["id"] == "e04-cannery")
    e04["sensors"] += [{"id": "e04-stack-1-rt", "kind": "cems_realtime"},
                       {"id": "e04-stack-1-h", "kind": "cems_hourly"}]  # fmt: skip
    park["gateways"] = [{"id": "gw-e04", "hj212": [{
        "mn": MN, "pw": PW, "minute_sensor": "e04-stack-1",
        "realtime_sensor": "e04-stack-1-rt", "hourly_sensor": "e04-stack-1-h"}]}]  # fmt: skip
    path = tmp_path / "park.yaml"
    path.write_text(yaml.safe_dump(doc))
    return registry_mod.load(path)


def test_an_instrument_on_one_stream_is_stored_with_its_flags_and_answered(
    settings: Settings, tmp_path: Path, store: Influx1Store, running: Callable[..., Any]
) -> None:
    registry = cems_registry(tmp_path)
    collector = running(collector_for(settings, registry))
    assert collector.connected.wait(10)
    deadletters = DeadLetterListener(settings)
    gateway: Gateway = running(
        Gateway(settings=gateway_settings(settings, tmp_path, hj212_port=0), registry=registry)
    )
    assert gateway.hj212 is not None
    hour = (int(time.time()) // 3600 - 1) * 3_600_000  # the last whole hour
    minute = [hour + n * 60_000 for n in range(3)]

    def seg(cn: str, ts: int, letter: str, nox: float, **kw: Any) -> str:
        values = {"a21002": (nox, letter), "a21026": (2.0, letter), "a19001": (3.5, letter),
                  "a00000": (1.0, letter)}  # fmt: skip
        return build.segment(cn=cn, mn=MN, pw=PW, ts_ms=ts, values=values, **kw)

    stream = b"".join([
        build.packet(seg("2051", minute[0], "N", 20.0, qn="1")),
        build.packet(seg("2051", minute[1], "M", 900.0, qn="2")),  # maintenance: not a reading of the stack's air
        build.packet(seg("2051", minute[2], "N", 30.0, qn="3")),
        build.packet(seg("2011", minute[2] + 30_000, "N", 31.0, flag=4)),
        build.packet(seg("2061", hour, "N", 25.0, qn="5")),
        build.packet(seg("2051", minute[0], "N", 1.0, qn="6"), bad_crc=True),
        build.packet(seg("2051", minute[0], "N", 1.0, qn="7").replace(MN, "99999999999999")),
        build.packet(seg("2051", minute[0], "N", 1.0, qn="8").replace(f"PW={PW}", "PW=000000")),
    ])  # fmt: skip
    with socket.create_connection(("127.0.0.1", gateway.hj212.port), timeout=10) as sock:
        for i in range(0, len(stream), 97):  # splits fall anywhere, packets run together
            sock.sendall(stream[i : i + 97])
            time.sleep(0.002)
        framer, replies = hj212.Framer(), []
        deadline = time.monotonic() + 10
        while len(replies) < 7 and time.monotonic() < deadline:
            replies += [
                hj212.parse(s) for s in framer.feed(sock.recv(4096)) if isinstance(s, bytes)
            ]
    answered = [(p.qn, p.cn, p.cp.get("QnRtn")) for p in replies if isinstance(p, hj212.Packet)]
    assert answered == [
        ("1", "9014", None), ("2", "9014", None), ("3", "9014", None), ("5", "9014", None),
        ("6", "9011", "9"), ("7", "9011", "4"), ("8", "9011", "3"),
    ]  # fmt: skip

    wait_until(lambda: len(stored_points(store, "emissions", "e04-stack-1")) == 3, what="3 minutes")
    wait_until(
        lambda: len(stored_points(store, "cems_hourly", "e04-stack-1-h")) == 1, what="the hour"
    )
    wait_until(
        lambda: len(stored_points(store, "cems_realtime", "e04-stack-1-rt")) == 1, what="rtd"
    )
    minutes = stored_points(store, "emissions", "e04-stack-1")
    assert [(p["time"], p["nox_mg_m3"], p["data_flag"], p["flow_m3h"]) for p in minutes] == [
        (minute[0], 20.0, 0, 3600.0), (minute[1], 900.0, 2, 3600.0), (minute[2], 30.0, 0, 3600.0),
    ]  # fmt: skip
    assert stored_points(store, "cems_realtime", "e04-stack-1-rt")[0]["time"] == minute[2] + 30_000
    assert stored_points(store, "cems_hourly", "e04-stack-1-h")[0]["nox_mg_m3"] == 25.0

    # the CEMS hourly mean over what is stored leaves the maintenance minute out
    frame = pl.DataFrame(
        {
            "sensor": ["e04-stack-1"] * 3,
            "ts": [p["time"] for p in minutes],
            "o2_pct": [p["o2_pct"] for p in minutes],
            "nox_mg_m3": [p["nox_mg_m3"] for p in minutes],
            "data_flag": [float(p["data_flag"]) for p in minutes],
        }
    )
    hours = hourly(
        frame, {"e04-stack-1": Stack(3.5, {"nox_mg_m3": 30.0})},
        tz="Asia/Shanghai", rules=CemsRules(min_valid_minutes=2),
    )  # fmt: skip
    row = hours.row(0, named=True)
    assert (row["minutes"], row["valid_minutes"]) == (3, 2)
    assert row["nox_mg_m3_corrected"] == 25.0  # (20 + 30) / 2 at the reference O2: not 316.7

    stats = gateway.hj212.handler.stats
    assert dict(stats.refused) == {"bad_crc": 1, "unknown_mn": 1, "wrong_pw": 1}
    assert stats.readings == 5 and not deadletters.received
    deadletters.close()
