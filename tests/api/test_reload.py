"""``smartpark api run`` rereads the registry on SIGHUP: a new enterprise is served
without a restart; a bad registry is refused with where it is wrong, and the one in use
is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from api.keys import KeyStore
from devstack.servers import free_port
from smartpark.settings import Settings, to_env
from tests.alerts.test_reload import logged, with_a_bad_sensor, with_new_enterprise
from tests.conftest import EXAMPLE_PARK, wait_until


def test_sighup_serves_a_new_enterprise_and_refuses_a_bad_registry(
    settings: Settings, tmp_path: Path
) -> None:
    registry = tmp_path / "park.yaml"
    registry.write_text(EXAMPLE_PARK.read_text())
    settings.park = settings.park.model_copy(update={"registry": registry})
    settings.api = settings.api.model_copy(
        update={"port": free_port(), "keys_db": tmp_path / "api.db"}
    )
    keys = KeyStore(settings.api.keys_db)
    try:
        token = keys.create(role="operator", park="tianfu-np", enterprise=None, name="t")
    finally:
        keys.close()
    url = f"http://127.0.0.1:{settings.api.port}/v1/parks/tianfu-np/enterprises"
    auth = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "api.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "api", "run"],
            env=os.environ | to_env(settings),
            stdout=out,
            stderr=out,
        )

    def enterprises() -> list[str]:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            answer = httpx.get(url, headers=auth, timeout=2)
        except httpx.HTTPError:
            return []
        return [e["id"] for e in answer.json()] if answer.status_code == 200 else []

    try:
        wait_until(lambda: bool(enterprises()), 60, "the API serving")
        assert "e13-new" not in enterprises()
        with_new_enterprise(registry)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "e13-new" in enterprises(), 30, "the new enterprise served")
        sensors = httpx.get(
            f"{url}/e13-new/sensors", headers=auth, timeout=2
        ).json()  # the guard knows it too, not only the listing
        assert [s["id"] for s in sensors] == ["e13-grid-1"]

        with_a_bad_sensor(registry)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: logged(log, "registry not reloaded"), 30, "the refusal")
        refusal = next(line for line in log.read_text().splitlines() if "not reloaded" in line)
        assert "Bad Id!" in refusal and "sensors" in refusal
        assert "e13-new" in enterprises()  # the registry in use is kept
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
