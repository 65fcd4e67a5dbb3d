"""The CLI as a user types it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_PARK


def _smartpark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartpark", *args], capture_output=True, text=True, timeout=60
    )


def test_config_check_accepts_the_example_park() -> None:
    result = _smartpark("config", "check", str(EXAMPLE_PARK))
    assert result.returncode == 0, result.stderr
    assert "ok (1 park(s), 12 enterprises, 101 sensors)" in result.stdout


def test_config_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "park.yaml"
    bad.write_text(
        "parks:\n  - id: P1\n    name: x\n    timezone: Nowhere/City\n    location: {lat: 99, lon: 0}\n    area_mu: 10\n"
    )
    result = _smartpark("config", "check", str(bad))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("parks[0 id='P1'].id:") for line in lines)
    assert any(line.startswith("parks[0 id='P1'].timezone:") for line in lines)
    assert any(line.startswith("parks[0 id='P1'].location.lat:") for line in lines)
    assert "3 problem(s)" in result.stderr


def test_collect_with_a_broken_registry_fails_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "park.yaml"
    bad.write_text("parks: []\n")
    result = _smartpark("collect", "--registry", str(bad))
    assert result.returncode == 1
    assert "problem(s) in the registry" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs_the_pipeline_and_stops_cleanly() -> None:
    result = _smartpark("demo", "--duration", "4", "--rate", "200")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stderr  # rich writes to stderr
    assert "starting Mosquitto and InfluxDB on loopback" in out
    stored = [line for line in out.splitlines() if "readings stored" in line][-1]
    published = [line for line in out.splitlines() if "messages published" in line][-1]
    total = int(stored.split("│")[2].strip().replace(",", ""))
    assert total == int(published.split("│")[2].strip().replace(",", "")) - 2  # two are bad ones
    assert "dead-lettered: unknown_sensor" in out
    assert out.rstrip().endswith("stopped")


def test_simulate_publishes_a_feed_the_collector_stores(settings, make_collector, store) -> None:  # type: ignore[no-untyped-def]
    import os

    from smartpark.settings import to_env
    from tests.conftest import count_points, wait_until

    collector = make_collector(settings)
    env = os.environ | to_env(settings)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartpark",
            "simulate",
            "fixed",
            "--count",
            "303",
            "--rate",
            "1000",
            "--batch",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "published messages=303 readings=606" in result.stdout
    wait_until(lambda: collector.stats.stored_readings == 606, what="606 readings stored")
    assert count_points(store, "electricity", "power_kw") == 2 * sum(
        1
        for i in range(303)
        if list(collector.registry.sensors())[i % 101].ref.kind == "electricity"
    )
