"""Dead-letter messages (pure): where a refused message goes and what it says.

Topic: ``{root}/_deadletter/{reason}`` with the reason of the first problem; the
device-sent topic and payload travel only inside the JSON body, never in a topic.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import orjson

from smartpark.wire import Problem

MAX_RAW_BYTES = 64 * 1024  # keep dead letters small even for oversized payloads


def deadletter_topic(root: str, problems: Sequence[Problem]) -> str:
    return f"{root}/_deadletter/{problems[0].reason.value}"


def deadletter_payload(
    *, topic: str, payload: bytes | bytearray, problems: Sequence[Problem], received_ms: int
) -> bytes:
    """JSON body: the reasons, the original topic and the raw payload (base64, capped)."""
    raw = payload[:MAX_RAW_BYTES]
    return orjson.dumps(
        {
            "received_ms": received_ms,
            "topic": topic,
            "problems": [
                {"reason": p.reason.value, "detail": p.detail, "index": p.index} for p in problems
            ],
            "payload_b64": base64.b64encode(raw).decode("ascii"),
            "payload_bytes": len(payload),
            "payload_truncated": len(raw) < len(payload),
        }
    )
