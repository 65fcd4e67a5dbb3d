"""Gateways' own broker accounts, and the collector's reading of mapped topics: generated
from the registry, then enforced by a real Mosquitto."""

from __future__ import annotations

import time

from broker.accounts import accounts
from smartpark.registry import Registry
from tests.broker.test_broker import ROOT_TOPIC, Secured, _device, _reading, secured

__all__ = ["secured"]  # the secured broker fixture, used here too

GW = "gateway.tianfu-np.gw-e04"


def test_the_collector_may_read_every_mapped_topic(park: Registry) -> None:
    collector = next(a for a in accounts(park, "smartpark") if a.name == "smartpark-collector")
    assert collector.read == (
        "smartpark/+/+/+/+",
        "vendor/acrel/+/data",
        "vendor/meters/+",
        "vendor/history/+",
        "vendor/plc/+",
    )
    assert collector.write == ("smartpark/_deadletter/+",)


def test_each_gateway_may_publish_only_the_sensors_it_serves(park: Registry) -> None:
    by_name = {a.name: a for a in accounts(park, "smartpark")}
    gw = by_name[GW]
    assert gw.role == "gateway" and gw.read == ()
    assert gw.write == (
        "smartpark/tianfu-np/e04-cannery/electricity/e04-grid-1",
        "smartpark/tianfu-np/e04-cannery/gas/e04-gas-1",
        "smartpark/tianfu-np/e04-cannery/emissions/e04-stack-1",
        "smartpark/_deadletter/device_unreachable",
    )
    vendor = by_name["gateway.tianfu-np.acrel-gw01"]
    assert vendor.write == (
        "smartpark/tianfu-np/e04-cannery/electricity/e04-grid-2",
        "vendor/acrel/+/data",
        "smartpark/_deadletter/device_unreachable",
    )


def test_the_broker_refuses_a_gateway_publishing_a_sensor_it_does_not_serve(
    secured: Secured,
) -> None:
    gw = _device(secured, GW)  # on the devices' listener, with TLS, as gateways connect
    try:
        now = int(time.time() * 1000)
        own = gw.publish(
            f"{ROOT_TOPIC}/tianfu-np/e04-cannery/electricity/e04-grid-1",
            _reading(now, energy_kwh=1.0),
        )
        assert own in ("Success", "No matching subscribers")
        # same enterprise, a sensor another gateway serves
        other = gw.publish(
            f"{ROOT_TOPIC}/tianfu-np/e04-cannery/electricity/e04-grid-2",
            _reading(now, energy_kwh=1.0),
        )
        assert other == "Not authorized"
    finally:
        gw.close()
