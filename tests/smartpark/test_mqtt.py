"""The ``Subscriber`` against the real Mosquitto: subscribing, manual acknowledgement
across sessions, Receive Maximum, and a handler's bug that must not end the client."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest

from smartpark.mqtt import BoundedPublisher, Subscriber
from smartpark.settings import Settings
from tests.conftest import wait_until


class Inbox:
    """A handler that keeps (topic, payload, mid, qos) of every message it gets."""

    def __init__(self, *, fail_on: bytes | None = None) -> None:
        self.got: list[tuple[str, bytes, int, int]] = []
        self._fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, msg: paho.MQTTMessage) -> None:
        if msg.payload == self._fail_on:
            raise ValueError(f"handler bug on {msg.payload!r}")
        with self._lock:
            self.got.append((msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [p for _t, p, _m, _q in self.got]


@pytest.fixture
def subscribers() -> Iterator[list[Subscriber]]:
    started: list[Subscriber] = []
    yield started
    for sub in started:
        sub.stop()


def _subscriber(
    settings: Settings, started: list[Subscriber], inbox: Inbox, **options: object
) -> Subscriber:
    root = settings.mqtt.topic_root
    sub = Subscriber(
        settings.mqtt,
        name="test",
        client_id=f"{settings.mqtt.client_id}-sub",
        filters=[(f"{root}/#", 1)],
        on_message=inbox,
        **options,  # type: ignore[arg-type]
    )
    sub.start()
    started.append(sub)
    assert sub.subscribed.wait(10), "not subscribed"
    return sub


def test_subscriber_receives_what_is_published_once_subscribed(
    settings: Settings, publisher: BoundedPublisher, subscribers: list[Subscriber]
) -> None:
    inbox = Inbox()
    _subscriber(settings, subscribers, inbox, persistent=False)
    topic = f"{settings.mqtt.topic_root}/p/e/electricity/s1"
    for i in range(5):
        publisher.publish(topic, b"%d" % i)
    wait_until(lambda: len(inbox.got) == 5, 10, "five messages")
    assert inbox.payloads() == [b"0", b"1", b"2", b"3", b"4"]
    assert {t for t, *_ in inbox.got} == {topic}


def test_unacknowledged_messages_come_back_to_the_next_session_acknowledged_do_not(
    settings: Settings, publisher: BoundedPublisher, subscribers: list[Subscriber]
) -> None:
    first = Inbox()
    sub = _subscriber(settings, subscribers, first, manual_ack=True)
    topic = f"{settings.mqtt.topic_root}/p/e/electricity/s1"
    for i in range(4):
        publisher.publish(topic, b"%d" % i)
    wait_until(lambda: len(first.got) == 4, 10, "four messages")
    for _t, payload, mid, qos in first.got:
        if payload in (b"0", b"2"):
            sub.ack(mid, qos)
    assert publisher.wait_all(10)
    sub.stop()
    subscribers.remove(sub)

    second = Inbox()
    _subscriber(settings, subscribers, second, manual_ack=True)
    wait_until(lambda: len(second.got) == 2, 10, "the unacknowledged two again")
    assert sorted(second.payloads()) == [b"1", b"3"]


def test_receive_maximum_caps_the_messages_held_unacknowledged(
    settings: Settings, publisher: BoundedPublisher, subscribers: list[Subscriber]
) -> None:
    inbox = Inbox()
    sub = _subscriber(settings, subscribers, inbox, manual_ack=True, receive_maximum=3)
    topic = f"{settings.mqtt.topic_root}/p/e/electricity/s1"
    for i in range(10):
        publisher.publish(topic, b"%d" % i)
    assert publisher.wait_all(10)  # the broker has all ten
    wait_until(lambda: len(inbox.got) == 3, 10, "three messages")
    time.sleep(0.5)  # an absence needs a wait: nothing more comes while three are unacked
    assert inbox.payloads() == [b"0", b"1", b"2"]
    assert sub.unacked == 3
    acked = 0
    while acked < 10:  # acknowledging lets the rest through, in order
        wait_until(lambda n=acked: len(inbox.got) > n, 10, "the next message")
        _t, _p, mid, qos = inbox.got[acked]
        sub.ack(mid, qos)
        acked += 1
    assert inbox.payloads() == [b"%d" % i for i in range(10)]
    assert sub.unacked == 0


def test_messages_held_beyond_receive_maximum_are_counted_and_warned_about(
    settings: Settings,
    publisher: BoundedPublisher,
    subscribers: list[Subscriber],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mosquitto before 2.0.13 sends more than Receive Maximum after an acknowledgement
    of the oldest message (eclipse-mosquitto/mosquitto#2306); the count says so either way."""
    inbox = Inbox()
    sub = _subscriber(settings, subscribers, inbox, manual_ack=True, receive_maximum=3)
    topic = f"{settings.mqtt.topic_root}/p/e/electricity/s1"
    for i in range(20):
        publisher.publish(topic, b"%d" % i)
    assert publisher.wait_all(10)
    wait_until(lambda: len(inbox.got) == 3, 10, "three messages")
    with caplog.at_level(logging.WARNING, logger="smartpark.mqtt"):
        _t, _p, mid, qos = inbox.got[0]
        sub.ack(mid, qos)
        wait_until(lambda: len(inbox.got) >= 4, 10, "the next message")
        time.sleep(0.5)  # whatever the broker lets through after one acknowledgement
    held = len(inbox.got) - 1
    assert sub.unacked == held
    assert sub.unacked_peak == held
    warned = [r for r in caplog.records if "more than the Receive Maximum" in r.getMessage()]
    assert len(warned) == (1 if held > 3 else 0), (held, [r.getMessage() for r in warned])


def test_a_failing_handler_is_logged_and_counted_and_the_next_message_still_arrives(
    settings: Settings,
    publisher: BoundedPublisher,
    subscribers: list[Subscriber],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox = Inbox(fail_on=b"bad")
    sub = _subscriber(settings, subscribers, inbox, persistent=False)
    topic = f"{settings.mqtt.topic_root}/p/e/electricity/s1"
    with caplog.at_level(logging.ERROR, logger="smartpark.mqtt"):
        for payload in (b"good-1", b"bad", b"good-2"):
            publisher.publish(topic, payload)
        wait_until(lambda: len(inbox.got) == 2, 10, "the two good messages")
    assert inbox.payloads() == [b"good-1", b"good-2"]
    assert sub.handler_errors == 1
    assert any("handling a message" in r.getMessage() for r in caplog.records)


def test_stopping_says_nothing_about_reconnecting(
    settings: Settings, subscribers: list[Subscriber], caplog: pytest.LogCaptureFixture
) -> None:
    sub = _subscriber(settings, subscribers, Inbox(), persistent=False)
    with caplog.at_level(logging.WARNING, logger="smartpark.mqtt"):
        sub.stop()
    subscribers.remove(sub)
    assert not sub.subscribed.is_set()
    assert [r.getMessage() for r in caplog.records] == []
