"""The contracts between stages in ``smartpark.wire``: topic classes, the KPI update with
figures and method tags apart, and the one public shape of an alert."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from smartpark.alertstore import Alert
from smartpark.alertwire import (
    AlertHeader,
    alert_notice,
    alert_public,
    decode_alert_header,
    encode_alert_notice,
    event_ms,
)
from smartpark.model import Reason, SensorRef
from smartpark.wire import (
    KpiUpdate,
    Problem,
    Topic,
    ack_topic,
    alert_topic,
    classify,
    deadletter_topic,
    decode_kpi_update,
    encode_kpi_update,
    kpi_topic,
    topic_for,
)

ROOT = "sp"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (topic_for(ROOT, SensorRef("p1", "e1", "electricity", "m1")), Topic.READING),
        (kpi_topic(ROOT, "p1", "e1"), Topic.KPI),
        (kpi_topic(ROOT, "p1", "_park"), Topic.KPI),
        (alert_topic(ROOT, "p1", "e1"), Topic.ALERT),
        (ack_topic(ROOT), Topic.ACK),
        (deadletter_topic(ROOT, [Problem(Reason.BAD_JSON, "x")]), Topic.DEADLETTER),
        ("sp/p1/e1/m1/_kpi", Topic.OTHER),  # a _kpi level where no KPI topic has one
        ("sp/p1/_kpi", Topic.OTHER),
        ("sp/p1/e1/_status", Topic.OTHER),
        ("sp/p1/e1/_kpix", Topic.OTHER),
        ("sp/p1/e1/electricity/m1/extra", Topic.READING),  # parse_topic refuses its shape
    ],
)
def test_classify_names_what_each_topic_carries(topic: str, expected: Topic) -> None:
    assert classify(topic) is expected


def test_kpi_update_keeps_figures_and_method_tags_apart_on_a_flat_wire() -> None:
    update = KpiUpdate(
        "p1", "e1", "1d", 0, 86_400_000, 2,
        figures={"energy_tce": 4.25, "clean_energy_share_pct_met": True},
        methods={"factor_set": "cn-2023", "energy_basis": "electricity_equivalent"},
    )  # fmt: skip
    body = orjson.loads(encode_kpi_update(update))
    assert body["energy_tce"] == 4.25 and body["factor_set"] == "cn-2023"  # one flat object
    assert decode_kpi_update(encode_kpi_update(update)) == update


@pytest.mark.parametrize(
    ("extra", "figures", "methods"),
    [
        ({"energy_tce": 3}, {"energy_tce": 3.0}, {}),  # integers are figures, as floats
        ({"x_met": False}, {"x_met": False}, {}),
        ({"grid_factor": "ncg-2022"}, {}, {"grid_factor": "ncg-2022"}),
        ({"odd": None, "list": [1]}, {}, {}),  # neither a figure nor a tag: dropped
    ],
)
def test_decode_kpi_update_sorts_each_value(
    extra: dict[str, object], figures: dict[str, object], methods: dict[str, str]
) -> None:
    head = {"park": "p", "scope": "s", "window": "1m", "start_ms": 0, "end_ms": 60_000}
    update = decode_kpi_update(orjson.dumps({**head, **extra}))
    assert update is not None
    assert (update.figures, update.methods, update.revision) == (figures, methods, 0)


@pytest.mark.parametrize(
    "payload", [b"not json", b"[]", b'{"park": "p"}', b'{"park": 1, "scope": "s"}']
)
def test_decode_kpi_update_refuses_what_is_not_one(payload: bytes) -> None:
    assert decode_kpi_update(payload) is None


ALERT = Alert(
    id="a1", rule="r1", severity="warning", park="p1", enterprise="e1", subject="m1",
    state="acknowledged", value=12.5, limit_value=10.0, message="over", fired_ms=1_000,
    acked_ms=61_000, acked_by="ops", first_notified_ms=2_000,
)  # fmt: skip


def test_the_public_alert_shape() -> None:
    assert alert_public(ALERT) == {
        "id": "a1", "rule": "r1", "severity": "warning", "park": "p1", "enterprise": "e1",
        "subject": "m1", "state": "acknowledged", "value": 12.5, "limit": 10.0,
        "message": "over", "fired_at": "1970-01-01T00:00:01+00:00",
        "notified_at": "1970-01-01T00:00:02+00:00",
        "acknowledged_at": "1970-01-01T00:01:01+00:00", "acknowledged_by": "ops",
        "resolved_at": None,
    }  # fmt: skip


def test_a_notice_is_the_public_shape_plus_event_key_and_time() -> None:
    notice = alert_notice(ALERT, event="acknowledged", key="a1:3", at_ms=61_000)
    public = alert_public(ALERT)
    assert {k: v for k, v in notice.items() if k in public} == public
    assert set(notice) - set(public) == {"event", "idempotency_key", "at", "event_at"}
    assert notice["at"] == "1970-01-01T00:01:01+00:00"
    # an acknowledgement happens on the wall clock; a firing at the alert's event time
    assert notice["event_at"] == notice["at"]
    firing = alert_notice(ALERT, event="firing", key="a1:1", at_ms=61_000)
    assert firing["event_at"] == firing["fired_at"] == "1970-01-01T00:00:01+00:00"
    header = decode_alert_header(encode_alert_notice(notice))
    assert header == AlertHeader(park="p1", enterprise="e1", rule="r1", event="acknowledged")


@pytest.mark.parametrize(
    ("event", "cleared_ms", "expected_ms"),
    [
        ("firing", None, 1_000),  # the reading that crossed the limit
        ("resolved", 300_000, 300_000),  # the reading that cleared it, not the damping's end
        ("resolved", None, 900_000),  # no clear known: the notice's time
        ("reminder", None, 900_000),
        ("escalated", None, 900_000),
        ("acknowledged", 300_000, 900_000),
    ],
)
def test_a_notice_is_stamped_at_the_event_time_of_what_it_tells(
    event: str, cleared_ms: int | None, expected_ms: int
) -> None:
    alert = dataclasses.replace(ALERT, cleared_ms=cleared_ms)
    assert event_ms(alert, event=event, at_ms=900_000) == expected_ms


@pytest.mark.parametrize("payload", [b"{", b"[1]", b'{"park": "p1", "enterprise": "e1"}'])
def test_decode_alert_header_refuses_what_is_not_a_notice(payload: bytes) -> None:
    assert decode_alert_header(payload) is None
