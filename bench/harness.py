"""What the benchmarks share: the collector as its own process, watched through /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from smartpark.httpserver import wait_connected
from smartpark.settings import Settings, to_env

CLK_TCK = os.sysconf("SC_CLK_TCK")


class CollectorProc:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        env = os.environ | to_env(settings)
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "collect", "--log-level", "WARNING"],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        self.url = f"http://127.0.0.1:{settings.ingest.http_port}"
        if not wait_connected(self.url, alive=lambda: self.proc.poll() is None):
            raise RuntimeError(f"collector did not come up; see {log}")

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()["stats"]

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def lag_buckets(self) -> list[tuple[float, float]]:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        out = []
        for line in text.splitlines():
            if line.startswith("smartpark_ingest_reading_lag_seconds_bucket"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                out.append(
                    (float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1]))
                )
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()
