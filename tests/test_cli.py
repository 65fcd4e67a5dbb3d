"""The CLI as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_PARK, wait_until


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


@pytest.mark.slow
def test_demo_shows_an_alert_of_each_audience_firing_and_resolving() -> None:
    """Within its first minutes the demo trips an enterprise's alert (an over-limit reading
    on e08-grid-1) and the operator's (the park's grid import in a surge minute of e08),
    and both resolve."""
    result = subprocess.run(
        [sys.executable, "-m", "smartpark", "demo", "--duration", "210", "--rate", "200",
         "--backfill-days", "0"],
        capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("t=")]
    first_enterprise = next(
        (line for line in lines if "enterprises: firing" in line and "demo-peak" in line), None
    )
    assert first_enterprise is not None and int(first_enterprise.split("s ")[0][2:]) <= 60
    first_operator = next((line for line in lines if "operator: firing" in line), None)
    assert first_operator is not None, lines[-1]
    assert "demo-park-surge" in first_operator
    assert int(first_operator.split("s ")[0][2:]) <= 150, first_operator
    last = lines[-1]
    assert "operator: firing 1, resolved 1 (demo-park-surge)" in last, last
    assert "resolved" in last.split("enterprises:")[1].split(";")[0], last


def test_demo_runs_the_pipeline_and_stops_cleanly() -> None:
    """Not a terminal here: the demo prints a plain line of figures every few seconds
    (the live table is for terminals) and removes everything it created."""
    before = set(Path(tempfile.gettempdir()).glob("smartpark-demo-*"))
    # no history here: tests/devstack/test_demo_page.py runs the demo with one
    result = _smartpark("demo", "--duration", "7", "--rate", "200", "--backfill-days", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stderr  # rich writes to stderr
    assert "starting Mosquitto and InfluxDB on loopback" in out
    assert "the enterprise page: http://127.0.0.1:" in out and "operator: sp_" in out
    assert "e08-anode: sp_" in out
    lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert len(lines) >= 2  # every 5 s, and once at the end
    figures = dict(part.split("=", 1) for part in lines[-1].split() if "=" in part)
    dead = int(figures["dead_letters"])
    assert dead >= 1  # the demo's bad messages
    assert int(figures["stored"]) == int(figures["published"]) - dead
    assert "kpi_updates" in figures and "alerts" in figures
    assert out.rstrip().endswith("stopped")
    assert set(Path(tempfile.gettempdir()).glob("smartpark-demo-*")) == before


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


SCENARIOS = EXAMPLE_PARK.parent / "scenarios"


def test_simulate_generate_writes_the_same_bytes_for_the_same_seed(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        result = _smartpark(
            "simulate",
            "generate",
            str(SCENARIOS / "flaky-network-day.yaml"),
            "--out",
            str(out),
            "--days",
            "0.25",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    summary = result.stdout.splitlines()
    assert summary[0].startswith(f"generated {out}: messages=")
    assert (
        summary[1].startswith("faults: ")
        and "duplicate=" in summary[1]
        and "malformed=" in summary[1]
    )
    assert "generate " in result.stderr and " readings/s" in result.stderr  # the progress bar


def test_simulate_with_a_bad_scenario_fails_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\ndescription: x\nstart: 2026-11-02T00:00:00+08:00\ndays: 0\n")
    result = _smartpark("simulate", "generate", str(bad), "--out", str(tmp_path / "x.jsonl"))
    assert result.returncode == 1
    assert "name: String should match pattern" in result.stderr
    assert "days: Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_backfill_then_record_then_replay_from_the_command_line(
    settings, make_collector, store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import os

    from smartpark.settings import to_env
    from tests.conftest import count_points, wait_until

    env = os.environ | to_env(settings)
    recording_path = tmp_path / "rec.jsonl"
    recorder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartpark",
            "record",
            "--out",
            str(recording_path),
            "--count",
            "202",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert recorder.stderr is not None
    first = recorder.stderr.readline()  # said once subscribed: nothing published is missed
    assert first.startswith("recording "), first
    backfill = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartpark",
            "simulate",
            "backfill",
            str(SCENARIOS / "normal-week.yaml"),
            "--days",
            "0.00138",
            "--no-faults",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert backfill.returncode == 0, backfill.stderr[-2000:]
    assert "backfilled: messages=202 readings=202" in backfill.stdout  # two 1-minute steps
    out, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, err[-2000:]
    assert f"recorded {recording_path}: messages=202 " in out

    collector = make_collector(settings)
    replay = subprocess.run(
        [sys.executable, "-m", "smartpark", "replay", str(recording_path), "--speed", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert f"replayed {recording_path}: messages=202 " in replay.stdout
    wait_until(lambda: collector.stats.stored_readings == 202, what="202 readings stored")
    wait_until(
        lambda: count_points(store, "electricity", "energy_kwh") == 72, what="72 grid readings"
    )


def test_alert_rules_are_checked_with_every_problem_listed(tmp_path: Path) -> None:
    ok = _smartpark("alerts", "check", "--config", str(EXAMPLE_PARK.parent / "alerts.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert "ok (8 rules" in ok.stdout
    bad = tmp_path / "alerts.yaml"
    bad.write_text(
        "rules:\n  - {id: x, type: threshold, field: power_kw}\n  - {id: y, type: no_data, after_s: -1}\n"
    )
    result = _smartpark("alerts", "check", "--config", str(bad))
    assert result.returncode == 1
    assert (
        "rules[0 id='x'].threshold: Value error, give exactly one of above or below"
        in result.stderr
    )
    assert "rules[1 id='y'].no_data.after_s: Input should be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_processing_configuration_check() -> None:
    result = _smartpark(
        "process", "--check", "--config", str(EXAMPLE_PARK.parent / "processing.yaml")
    )
    assert result.returncode == 0, result.stderr
    assert "factor_set=cn" in result.stdout and "sichuan-2022" in result.stdout


def test_rollup_of_an_unknown_park_is_one_line_and_exit_1() -> None:
    result = _smartpark(
        "rollup", "1d", "--park", "nowhere",
        "--start", "2026-11-01T00:00:00+08:00", "--end", "2026-11-02T00:00:00+08:00",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown park 'nowhere'; the registry has tianfu-np"


def test_alert_service_with_a_missing_webhook_secret_says_so_and_exits_1(tmp_path: Path) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text("operator:\n  - {type: webhook, url: 'http://127.0.0.1:9/x', secret: op}\n")
    for command in (("alerts", "check"), ("alerts", "run")):
        result = _smartpark(*command, "--config", str(rules), "--registry", str(EXAMPLE_PARK))
        assert result.returncode == 1, command
        assert "Traceback" not in result.stderr
        assert "needs secret 'op', which SMARTPARK_ALERTS__WEBHOOK_SECRETS does not have" in (
            result.stderr
        )


def test_alerts_list_reads_the_database_only(tmp_path: Path) -> None:
    env = {"SMARTPARK_ALERTS__DB": str(tmp_path / "alerts.db")}
    result = subprocess.run(
        [sys.executable, "-m", "smartpark", "alerts", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | env | {"SMARTPARK_ALERTS__CONFIG": str(tmp_path / "missing.yaml")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no open alerts"


def test_version_and_help_name_the_product() -> None:
    version = _smartpark("--version")
    assert version.returncode == 0 and version.stdout.startswith("smartpark ")
    helptext = _smartpark("--help").stdout
    assert "composition root" not in helptext
    for command in ("collect", "simulate", "replay", "process", "rollup", "alerts", "demo"):
        assert command in helptext


def test_process_check_refuses_a_mu_average_the_monthly_job_would_refuse(tmp_path: Path) -> None:
    config = tmp_path / "processing.yaml"
    config.write_text("muju:\n  benchmarks: {revenue_per_mu: 1}\n")
    result = _smartpark("process", "--check", "--config", str(config))
    assert result.returncode == 1
    assert "muju: no benchmark for:" in result.stderr and "Traceback" not in result.stderr


def test_process_check_lists_every_enterprise_the_registry_does_not_have(tmp_path: Path) -> None:
    """A typo in an enterprise id would make its quota, budget or contract never apply."""
    config = tmp_path / "processing.yaml"
    config.write_text(
        "green_power: [{enterprise: e08-anod, month: '2026-11', kwh: 1000}]\n"
        "quotas_tce_month: {e09-anode: 1350, e99-gone: 10}\n"
        "carbon_budgets: {t_month: {_park: 6000, e98-gone: 5}}\n"
        "declared: [{enterprise: _park, year: 2026, added_value_cny: 1.0e9}]\n"
    )
    result = _smartpark("process", "--check", "--config", str(config))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for line in (
        "green_power[0]: 'e08-anod' is not an enterprise of park 'tianfu-np'",
        "quotas_tce_month: 'e99-gone' is not an enterprise of park 'tianfu-np'",
        "carbon_budgets.t_month: 'e98-gone' is not an enterprise of park 'tianfu-np'",
    ):
        assert line in result.stderr, result.stderr
    assert "e09-anode" not in result.stderr and "_park" not in result.stderr


def test_a_shipped_scenario_can_be_named(tmp_path: Path) -> None:
    out = tmp_path / "nw.jsonl"
    result = _smartpark("simulate", "generate", "normal-week", "--out", str(out), "--days", "0.01")
    assert result.returncode == 0, result.stderr
    assert f"generated {out}" in result.stdout
    missing = _smartpark("simulate", "generate", "no-such-week", "--out", str(out))
    assert missing.returncode == 1 and "normal-week" in missing.stderr  # it lists the names


def test_collect_without_a_broker_says_it_cannot_reach_it(tmp_path: Path) -> None:
    env = os.environ | {
        "SMARTPARK_MQTT__PORT": "1",  # nothing listens there
        "SMARTPARK_INGEST__HTTP_PORT": "0",
        "SMARTPARK_INGEST__SPOOL_DIR": str(tmp_path / "spool"),
    }
    log = tmp_path / "collect.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "collect"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    try:
        wait_until(lambda: "attempts=2" in log.read_text(), 30, "the second attempt reported")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = log.read_text()
    assert "cannot reach the MQTT broker at 127.0.0.1:1" in out
    assert "attempts=2" in out  # and keeps saying it while it retries


def test_a_setting_that_is_not_json_is_one_line_not_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smartpark", "alerts", "check"],
        capture_output=True, text=True, timeout=60,
        env=os.environ | {"SMARTPARK_ALERTS__WEBHOOK_SECRETS": "notjson"},
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: invalid SMARTPARK_ALERTS__* settings")
    assert "must be valid JSON" in result.stderr
