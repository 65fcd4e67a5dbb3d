"""Every row of the README's Commands table, run as a new user would: from a fresh
temporary directory (not the repository's root, so every file is given by its path),
through the installed entry point, against the real servers of this session.

One session in order — the recording the replay reads, the alert the ack acknowledges,
the key the API answers to are made by earlier rows — and a check that the table has no
row this script does not run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.servers import free_port
from smartpark.settings import Settings, to_env
from tests.conftest import EXAMPLE_PARK, ROOT, wait_until

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = EXAMPLE_PARK.parent
PARK = str(EXAMPLE_PARK)

# The table's rows by their command words; each is run below.
RUN = {
    "config check", "collect", "simulate generate", "simulate backfill", "simulate live",
    "simulate fixed", "record", "replay", "process", "rollup", "jobs run", "alerts run",
    "alerts check", "alerts list", "api run", "api keys", "dashboards build", "dashboards push",
    "broker config", "broker password", "scenario check", "demo", "gateway", "report monthly",
    "report annual", "report ghg", "store setup",
}  # fmt: skip


def _table_rows() -> set[str]:
    rows = set()
    for m in re.finditer(r"^\| `smartpark ([^`]*)`", README, re.M):
        words = [w for w in m.group(1).split() if re.fullmatch(r"[a-z][a-z-]*", w)]
        rows.add(" ".join(words[:2]) if " ".join(words[:2]) in RUN else words[0])
    return rows


def test_this_script_runs_every_row_of_the_commands_table() -> None:
    assert _table_rows() == RUN


class User:
    """A shell in a fresh directory, with the session's servers in the environment."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.services: list[tuple[str, subprocess.Popen[str]]] = []

    def run(
        self, *args: str, ok: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "smartpark", *args],
            cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert "Traceback" not in result.stderr, f"smartpark {' '.join(args)}:\n{result.stderr}"
        if ok:
            assert result.returncode == 0, f"smartpark {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result

    def start(self, *args: str, health: str | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", *args],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.services.append((" ".join(args), proc))
        if health:
            wait_until(lambda: _answers(health) and proc.poll() is None, 30, f"{args[0]} up")
        return proc

    def stop_all(self) -> None:
        """SIGINT, as Ctrl-C: every service stops cleanly with exit 0."""
        for name, proc in reversed(self.services):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, (
                f"smartpark {name} exited {proc.returncode}:\n{err[-3000:]}"
            )
            assert "Traceback" not in err, f"smartpark {name}:\n{err}"
        self.services.clear()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


@pytest.fixture
def user(settings: Settings, tmp_path: Path) -> Iterator[User]:
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTPARK_")}
    env |= to_env(settings)
    for name in (
        "SMARTPARK_PARK__REGISTRY",
        "SMARTPARK_PROCESSING__CONFIG",
        "SMARTPARK_ALERTS__CONFIG",
    ):
        env.pop(name)  # given by the options, as the README shows
    env |= {
        "SMARTPARK_API__KEYS_DB": str(tmp_path / "api.db"),
        "SMARTPARK_PROCESSING__HTTP_PORT": str(free_port()),
        "SMARTPARK_ALERTS__HTTP_PORT": str(free_port()),
    }
    u = User(cwd, env)
    try:
        yield u
    finally:
        for _, proc in u.services:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)


def test_every_command_of_the_readme_runs_from_a_fresh_directory(user: User) -> None:
    work = user.cwd
    # Run from elsewhere without paths: the error says how to give them.
    lost = user.run("alerts", "check", ok=False)
    assert lost.returncode == 1
    assert "--registry FILE or SMARTPARK_PARK__REGISTRY" in lost.stderr

    out = user.run("config", "check", PARK).stdout
    assert "ok (1 park(s)" in out
    out = user.run("store", "setup", "--registry", PARK).stdout
    assert "retention policy raw: 9840h0m0s" in out  # 410 days

    user.run(
        "dashboards",
        "build",
        "--out",
        str(work / "grafana"),
        "--language",
        "zh",
        "--registry",
        PARK,
    )
    assert (work / "grafana" / "dashboards" / "smartpark-park.json").exists()
    nobody = f"http://127.0.0.1:{free_port()}"
    user.env["SMARTPARK_DASHBOARDS__TOKEN"] = "glsa_readme"
    push = user.run("dashboards", "push", "--url", nobody, "--registry", PARK, ok=False)
    assert push.returncode == 1 and "error:" in push.stderr  # no Grafana here: said, not a trace

    secrets = work / "private" / "broker.json"
    made = user.run(
        "broker",
        "config",
        "--secrets",
        str(secrets),
        "--out",
        str(work / "mqtt"),
        "--registry",
        PARK,
    )
    assert "18 added" in made.stdout and (work / "mqtt" / "devices.acl").exists()
    password = user.run(
        "broker", "password", "smartpark-api", "--secrets", str(secrets)
    ).stdout.strip()
    assert password == json.loads(secrets.read_text())["smartpark-api"]

    proc_cfg, rules = str(EXAMPLES / "processing.yaml"), str(EXAMPLES / "alerts.yaml")
    assert "ok" in user.run("process", "--check", "--config", proc_cfg, "--registry", PARK).stdout
    assert "ok" in user.run("alerts", "check", "--config", rules, "--registry", PARK).stdout

    collector_port = free_port()
    user.start(
        "collect", "--registry", PARK, "--client-id", "readme-collector",
        "--http-port", str(collector_port),
        health=f"http://127.0.0.1:{collector_port}/healthz",
    )  # fmt: skip
    gateway_port = free_port()
    user.start(
        "gateway", "--registry", PARK, "--id", "acrel-gw01", "--http-port", str(gateway_port),
        health=f"http://127.0.0.1:{gateway_port}/healthz",
    )  # fmt: skip
    user.start(
        "process", "--config", proc_cfg, "--registry", PARK, "--park", "tianfu-np",
        health=f"http://127.0.0.1:{user.env['SMARTPARK_PROCESSING__HTTP_PORT']}/healthz",
    )  # fmt: skip
    user.start(
        "alerts", "run", "--config", rules, "--registry", PARK,
        health=f"http://127.0.0.1:{user.env['SMARTPARK_ALERTS__HTTP_PORT']}/healthz",
    )  # fmt: skip

    recording = work / "rec.jsonl"
    recorder = user.start("record", "--out", str(recording), "--count", "202")
    assert recorder.stderr is not None
    assert recorder.stderr.readline().startswith("recording ")
    backfill = user.run(
        "simulate", "backfill", "normal-week", "--registry", PARK,
        "--days", "0.00138", "--no-faults", "--seed", "3",
    )  # fmt: skip
    assert "backfilled: messages=202 readings=202" in backfill.stdout
    rec_out, _ = recorder.communicate(timeout=60)
    assert f"recorded {recording}: messages=202 " in rec_out
    user.services = [s for s in user.services if s[1] is not recorder]

    user.run(
        "simulate", "live", "normal-week", "--registry", PARK, "--duration", "2", "--no-faults"
    )
    fixed = user.run("simulate", "fixed", "--registry", PARK, "--rate", "200", "--count", "100")
    assert "100" in fixed.stdout
    generated = work / "gen.jsonl"
    user.run(
        "simulate", "generate", "normal-week", "--registry", PARK, "--out", str(generated),
        "--days", "0.002", "--batch", "10", "--start", "2026-11-02T00:00:00+08:00",
    )  # fmt: skip
    assert generated.stat().st_size > 0
    assert "replayed" in user.run("replay", str(recording), "--fast").stdout
    assert "replayed" in user.run("replay", str(generated), "--speed", "1000").stdout

    rollup = user.run(
        "rollup", "1h", "--start", "2026-11-02T00:00:00+08:00",
        "--end", "2026-11-02T01:00:00+08:00", "--config", proc_cfg, "--registry", PARK,
    )  # fmt: skip
    assert "1h" in rollup.stdout
    daily = user.run(
        "jobs", "run", "daily", "--day", "2026-11-02", "--config", proc_cfg, "--registry", PARK,
    )  # fmt: skip
    assert "daily 2026-11-02: rollup_1d=" in daily.stdout
    report = work / "reports" / "e08-2026-11.xlsx"
    made = user.run(
        "report", "monthly", "--enterprise", "e08-anode", "--period", "2026-11",
        "--out", str(report), "--config", proc_cfg, "--registry", PARK,
    )  # fmt: skip
    assert "e08-anode 2026-11 xlsx" in made.stdout and report.read_bytes()[:2] == b"PK"
    park_pdf = work / "park-2026-11"
    user.run(
        "report", "monthly", "--park", "--period", "2026-11", "--format", "pdf",
        "--out", str(park_pdf), "--config", proc_cfg, "--registry", PARK,
    )  # fmt: skip
    assert park_pdf.read_bytes().startswith(b"%PDF")
    annual = user.run(
        "report", "annual", "--enterprise", "e08-anode", "--year", "2026",
        "--out", str(work / "reports" / "e08-2026.pdf"), "--registry", PARK,
    )  # fmt: skip
    assert "e08-anode 2026 pdf" in annual.stdout
    inventory = work / "reports" / "e08-2026-ghg.xlsx"
    ghg = user.run(
        "report", "ghg", "--enterprise", "e08-anode", "--period", "2026",
        "--out", str(inventory), "--config", proc_cfg, "--registry", PARK,
    )  # fmt: skip
    assert "e08-anode 2026 xlsx" in ghg.stdout and inventory.read_bytes()[:2] == b"PK"

    assert user.run("alerts", "list").returncode == 0
    unknown = user.run(
        "alerts", "ack", "no-such-alert", "--by", "readme", "--config", rules, "--registry", PARK,
        ok=False,
    )  # fmt: skip
    assert unknown.returncode == 1 and "no firing alert with id 'no-such-alert'" in unknown.stderr

    key = user.run(
        "api", "keys", "create", "--role", "enterprise", "--park", "tianfu-np",
        "--enterprise", "e08-anode", "--name", "readme", "--registry", PARK,
    ).stdout.strip()  # fmt: skip
    assert key.startswith("sp_")
    listed = user.run("api", "keys", "list").stdout
    assert "readme" in listed and "active" in listed
    api_port = free_port()
    user.start(
        "api", "run", "--port", str(api_port), "--registry", PARK,
        health=f"http://127.0.0.1:{api_port}/healthz",
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}/v1/parks/tianfu-np/enterprises/e08-anode/latest"
    wait_until(
        lambda: httpx.get(base, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    key_id = listed.split()[0]
    user.run("api", "keys", "revoke", key_id)
    time.sleep(0.2)
    assert httpx.get(base, headers={"Authorization": f"Bearer {key}"}).status_code == 401

    user.stop_all()

    check = user.run(
        "scenario", "check", str(EXAMPLES / "scenarios" / "cems-exceedance-day.yaml"),
        "--timeout", "240", timeout=400,
    )  # fmt: skip
    assert "FAIL" not in check.stdout

    local = {k: v for k, v in user.env.items() if not k.startswith("SMARTPARK_")}
    demo = subprocess.run(
        # no history here (tests/devstack/test_demo_page.py runs the demo with one)
        [sys.executable, "-m", "smartpark", "demo", "--registry", PARK, "--duration", "6", "--rate", "200",
         "--backfill-days", "0"],
        cwd=work, env=local, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert demo.returncode == 0 and "Traceback" not in demo.stderr, demo.stderr[-3000:]
    assert "the enterprise page: http://127.0.0.1:" in demo.stderr
    assert list(work.iterdir()) and not (work / "var").exists()  # nothing written into the cwd
