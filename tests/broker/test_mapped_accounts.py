"""The collector's account reads the topics of the registry's vendor mappings."""

from __future__ import annotations

from broker.accounts import accounts
from smartpark.registry import Registry


def test_the_collector_may_read_every_mapped_topic_and_nothing_else_new(park: Registry) -> None:
    collector = next(a for a in accounts(park, "smartpark") if a.name == "smartpark-collector")
    assert collector.read == (
        "smartpark/+/+/+/+",
        "vendor/acrel/+/data",
        "vendor/meters/+",
        "vendor/history/+",
        "vendor/plc/+",
    )
    assert collector.write == ("smartpark/_deadletter/+",)
