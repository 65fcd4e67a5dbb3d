"""Who may do what at the broker, derived from the registry: pure, no I/O.

Every topic here comes from ``smartpark.wire`` (the one place topics are spelled) and
every id in it from the registry, whose ids are checked against ``ID_PATTERN``: nothing
a device sends reaches these files. Mosquitto's ACL file grants per user; what is not
granted is refused (a publish outside its grants is dropped, a message outside a
subscriber's read grants is not delivered to it).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from smartpark.mapspec import topic_filter
from smartpark.model import ID_RE, Reason
from smartpark.registry import Registry
from smartpark.wire import (
    Problem,
    ack_topic,
    alert_filter,
    alert_topic,
    deadletter_filter,
    deadletter_topic,
    kpi_filter,
    kpi_topic,
    readings_filter,
    topic_for,
)

# mosquitto_passwd's PBKDF2-SHA512 format ($7$); 101 is its default work factor. The
# passwords are 256-bit random tokens, so the work factor is not what protects them.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12


#: Roles that log in on the services' listener; every other account (devices, gateways,
#: the simulator) logs in on the devices' listener, where its client id is its name.
SERVICE_ROLES = frozenset({"collector", "processor", "alerts", "api"})


@dataclass(frozen=True)
class Account:
    name: str
    role: str  # device, gateway, collector, processor, alerts, api, simulator
    read: tuple[str, ...]
    write: tuple[str, ...]
    enterprise: str | None = None  # devices: the enterprise whose topics it may use

    @property
    def service(self) -> bool:
        """Logs in on the services' listener (and only there)."""
        return self.role in SERVICE_ROLES


def device_name(park: str, enterprise: str) -> str:
    """The device account of one enterprise (dots cannot occur in ids, so names are unique)."""
    return f"device.{park}.{enterprise}"


def accounts(registry: Registry, root: str, *, simulator: bool = False) -> list[Account]:
    """The services' accounts with the least rights each needs, then one device account per
    enterprise of the registry; ``simulator``: an account that may publish any reading
    (test parks only)."""
    readings = readings_filter(root)
    mapped = tuple(  # vendor gateways' topics the collector reads through registry mappings
        dict.fromkeys(topic_filter(m.topic) for p in registry.parks.values() for m in p.mappings)
    )
    out = [
        Account(
            "smartpark-collector", "collector", (readings, *mapped), (deadletter_filter(root),)
        ),
        Account("smartpark-processor", "processor", (readings,), (kpi_filter(root),)),
        Account(
            "smartpark-alerts",
            "alerts",
            (readings, kpi_filter(root), ack_topic(root)),
            (alert_filter(root),),
        ),
        Account(
            "smartpark-api",
            "api",
            (kpi_filter(root), alert_filter(root), deadletter_filter(root)),
            (ack_topic(root),),
        ),
    ]
    if simulator:
        out.append(Account("smartpark-simulator", "simulator", (), (readings,)))
    for park in registry.parks.values():
        for ent in park.enterprises:
            for part in (root, park.id, ent.id):
                if not ID_RE.fullmatch(part):  # the registry checked it; never trust twice
                    raise ValueError(f"not an id: {part!r}")
            out.append(
                Account(
                    device_name(park.id, ent.id),
                    "device",
                    (alert_topic(root, park.id, ent.id), kpi_topic(root, park.id, ent.id)),
                    (f"{root}/{park.id}/{ent.id}/+/+",),
                    enterprise=ent.id,
                )
            )
    out += gateway_accounts(registry, root)
    return out


def gateway_name(park: str, gateway: str) -> str:
    """A gateway's own account (dots cannot occur in ids, so names are unique)."""
    return f"gateway.{park}.{gateway}"


def gateway_accounts(registry: Registry, root: str) -> list[Account]:
    """One account per gateway of the registry: it may publish the readings of the sensors
    it serves (exact topics), on the topics of the mappings it names, and the dead letter
    of a device that does not answer; it reads nothing."""
    out = []
    for park in registry.parks.values():
        mapped = {m.id: topic_filter(m.topic) for m in park.mappings}
        for gateway in park.gateways:
            topics = []
            for sensor_id in gateway.served():
                found = registry.sensor(park.id, sensor_id)
                if found is None:  # the registry refuses this; never grant a guess
                    raise ValueError(f"gateway {gateway.id}: unknown sensor {sensor_id!r}")
                topics.append(topic_for(root, found.ref))
            topics += [mapped[m] for m in gateway.mappings]
            problem = Problem(Reason.DEVICE_UNREACHABLE, "")
            topics.append(deadletter_topic(root, [problem]))
            out.append(Account(gateway_name(park.id, gateway.id), "gateway", (), tuple(topics)))
    return out


def acl_text(accs: Iterable[Account]) -> str:
    """Mosquitto's ACL file: a block per user; nothing for anonymous clients."""
    lines = [
        "# Generated by `smartpark broker config` from the registry: do not edit.",
        "# Anonymous clients get no grants (and allow_anonymous is false).",
    ]
    for acc in accs:
        lines += ["", f"# {acc.role}", f"user {acc.name}"]
        lines += [f"topic read {t}" for t in acc.read]
        lines += [f"topic write {t}" for t in acc.write]
    return "\n".join(lines) + "\n"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``password`` as Mosquitto 2.0's password file stores it (``$7$`` PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def passwords(accs: Iterable[Account], kept: Mapping[str, str]) -> dict[str, str]:
    """A password for every account: the kept one where there is one, a new random one
    otherwise; accounts no longer in ``accs`` are dropped (their access ends)."""
    return {a.name: kept.get(a.name) or secrets.token_urlsafe(32) for a in accs}


def passwd_text(secrets_by_account: Mapping[str, str]) -> str:
    return "".join(f"{name}:{hash_password(pw)}\n" for name, pw in secrets_by_account.items())
