"""Channel message formats (pure): the webhook signature, WeCom and DingTalk robots."""

from __future__ import annotations

import hashlib
import hmac

import orjson

from alerts.channels import robot_body, signature

PAYLOAD = {
    "id": "a1",
    "event": "firing",
    "rule": "cems-hourly-exceedance",
    "severity": "critical",
    "park": "tianfu-np",
    "enterprise": "e08-anode",
    "subject": "e08-stack-1/nox_mg_m3",
    "message": "nox_mg_m3 hourly mean 54.2 mg/m3 (O2-corrected) over the limit 30",
    "fired_at": "2026-11-04T02:00:00+00:00",
    "resolved_at": None,
}


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = orjson.dumps(PAYLOAD)
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"key", "1700000000", body) == f"sha256={expected}"
    assert signature(b"other", "1700000000", body) != f"sha256={expected}"


def test_robot_messages_carry_what_where_how_much() -> None:
    wecom = orjson.loads(robot_body("wecom", PAYLOAD))
    ding = orjson.loads(robot_body("dingtalk", PAYLOAD))
    assert wecom["msgtype"] == "markdown" and "54.2 mg/m3" in wecom["markdown"]["content"]
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"].startswith(
        "critical cems-hourly-exceedance"
    )
    assert (
        "e08-stack-1/nox_mg_m3" in ding["markdown"]["text"]
        and "[CRITICAL] firing" in ding["markdown"]["text"]
    )
