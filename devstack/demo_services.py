"""The demo's services: the KPI processor, the alert service (the example's rules and
the ones the demo trips, channels: MQTT) and the API with a demo key for one enterprise
and one for the operator, each through its own CLI in its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from api.keys import KeyStore
from devstack.servers import free_port
from smartpark import registry as registry_mod
from smartpark.errors import SmartparkError
from smartpark.settings import Settings


def configure(
    settings: Settings, workdir: Path, env: dict[str, str], extra_rules: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, list[str]], str, dict[str, str]]:
    """The environment and commands of the KPI processor, the alert service (rules from
    the example, channels: MQTT) and the API, with a demo key for one enterprise and one
    for the operator."""
    examples = settings.park.registry.resolve().parent
    alerts = yaml.safe_load((examples / "alerts.yaml").read_text(encoding="utf-8"))
    # The example's rules, plus the ones the demo's feed trips on purpose; damping
    # shortened so that their alerts are seen resolving.
    lifecycle = {**alerts.get("lifecycle", {}), "resolve_after_s": 5}
    rules = [*alerts["rules"], *extra_rules]
    demo_alerts = {"rules": rules, "mqtt": True, "lifecycle": lifecycle}
    (workdir / "alerts.yaml").write_text(yaml.safe_dump(demo_alerts), encoding="utf-8")
    env = env | {
        "SMARTPARK_ALERTS__CONFIG": str(workdir / "alerts.yaml"),
        "SMARTPARK_ALERTS__DB": str(workdir / "alerts.db"),
        "SMARTPARK_ALERTS__HTTP_PORT": str(free_port()),
        "SMARTPARK_PROCESSING__CONFIG": str(examples / "processing.yaml"),
        "SMARTPARK_PROCESSING__HTTP_PORT": str(free_port()),
        "SMARTPARK_PROCESSING__STATE_DIR": str(workdir / "processing"),
        "SMARTPARK_API__PORT": str(api_port := free_port()),
        "SMARTPARK_API__KEYS_DB": str(workdir / "api.db"),
    }
    keystore = KeyStore(workdir / "api.db")
    park = next(iter(registry_mod.load(settings.park.registry).parks.values()))
    enterprise = "e08-anode" if any(e.id == "e08-anode" for e in park.enterprises) else None
    enterprise = enterprise or park.enterprises[0].id
    keys = {
        "operator": keystore.create(
            role="operator", park=park.id, enterprise=None, name="demo operator"
        ),
        enterprise: keystore.create(
            role="enterprise", park=park.id, enterprise=enterprise, name=f"demo {enterprise}"
        ),
    }
    keystore.close()
    commands = {
        "processor": ["process"],
        "alerts": ["alerts", "run"],
        "api": ["api", "run", "--log-level", "WARNING"],
    }
    return env, commands, f"http://127.0.0.1:{api_port}", keys


def start(
    name: str, args: list[str], env: dict[str, str], workdir: Path
) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "smartpark", *args],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
        )


def wait_api(url: str, api: subprocess.Popen[bytes], workdir: Path, timeout_s: float = 60) -> None:
    """Until the API answers /healthz with 200, so that the URL printed next opens."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and api.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.1)
    raise SmartparkError(f"the API did not start; see {workdir}/api.log")
