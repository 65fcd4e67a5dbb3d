"""Bytes on disk per sensor-year for raw readings and for roll-ups, on an InfluxDB that
compacts within seconds (the storage section of ``bench/scale.py``)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devstack.servers import InfluxDB
from smartpark.settings import InfluxSettings, ParkSettings, ProcessingSettings, Settings, to_env
from smartpark.store import open_store
from smartpark.store.lineprotocol import encode_point

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


class CompactingInfluxDB(InfluxDB):
    """InfluxDB with its cache written to TSM and compacted within seconds of going cold,
    so the bytes on disk are what a store at rest holds."""

    def _command(self) -> list[str]:
        command = super()._command()
        conf = self.workdir / "influxdb.conf"
        conf.write_text(conf.read_text().replace(
            "  trace-logging-enabled = false\n",
            "  trace-logging-enabled = false\n  cache-snapshot-write-cold-duration = \"2s\"\n"
            "  compact-full-write-cold-duration = \"4s\"\n",
        ))  # fmt: skip
        return command


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def storage(work: Path, registry: Path, days: int) -> dict[str, Any]:
    """Bytes per sensor-year on disk: the first park of ``registry`` (electricity meters,
    two fields each: energy and power) at one reading a minute for ``days`` days, and the
    roll-ups the processor writes for them (1m, 15m, 1h, 1d, 1mo)."""
    influx = CompactingInfluxDB(work / "influxdb")
    influx.start()
    try:
        doc = yaml.safe_load(registry.read_text(encoding="utf-8"))
        (work / "processing.yaml").write_text("factors: cn\n", encoding="utf-8")
        settings = Settings(
            park=ParkSettings(registry=registry),
            # a roll-up reads the whole period's readings in one statement
            influx=InfluxSettings(url=influx.url, database="scale", timeout_s=600),
            processing=ProcessingSettings(
                config=work / "processing.yaml", state_dir=work / "state"
            ),
        )
        store = open_store(settings.influx)
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=days)
        t0 = int(start.timestamp() * 1000)
        park = doc["parks"][0]
        sensors = [(e["id"], s["id"]) for e in park["enterprises"] for s in e["sensors"]]
        written = 0
        rng = random.Random(7)  # a meter's draw wanders: values compress as real ones do
        kwh = [1000.0 * i for i in range(len(sensors))]
        for day in range(days):
            lines = []
            for i, (ent, sensor) in enumerate(sensors):
                tags = {"park": park["id"], "enterprise": ent, "sensor": sensor}
                for minute in range(1440):
                    kw = round(rng.uniform(120.0, 240.0), 2)
                    kwh[i] = round(kwh[i] + kw / 60, 2)
                    ts = t0 + (day * 1440 + minute) * 60_000
                    fields = {"energy_kwh": kwh[i], "power_kw": kw}
                    lines.append(encode_point("electricity", tags, fields, ts))
            for i in range(0, len(lines), 50_000):
                store.write("\n".join(lines[i : i + 50_000]).encode())
            written += len(lines)
        store.close()
        env = os.environ | to_env(settings)
        t = time.monotonic()
        for window in ("1m", "15m", "1h", "1d", "1mo"):  # what the processor writes
            done = subprocess.run(
                [PY, "-m", "smartpark", "rollup", window, "--start", start.isoformat(),
                 "--end", end.isoformat()],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"rollup {window} failed: {done.stderr[-1000:]}")
        rollup_s = time.monotonic() - t
        data = work / "influxdb" / "data" / "scale"
        sizes: list[tuple[int, int]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the WAL is empty and the sizes settle
            time.sleep(3)
            now = (_bytes(data / "raw"), _bytes(data / "autogen"))
            wal = _bytes(work / "influxdb" / "wal" / "scale")
            sizes.append(now)
            if wal == 0 and len(sizes) >= 3 and sizes[-1] == sizes[-2] == sizes[-3]:
                break
        raw_b, rollup_b = sizes[-1]
        meters = len(sensors)
        sensor_years = meters * days / 365
        return {
            "storage_meters": meters,
            "storage_days": days,
            "storage_readings": written,
            "raw_bytes": raw_b,
            "rollup_bytes": rollup_b,
            "raw_bytes_per_reading": round(raw_b / written, 2),
            "raw_mb_per_sensor_year": round(raw_b / sensor_years / 2**20, 2),
            "rollup_mb_per_sensor_year": round(rollup_b / sensor_years / 2**20, 2),
            "rollup_s": round(rollup_s, 1),
            "wal_settled": _bytes(work / "influxdb" / "wal" / "scale") == 0,
        }
    finally:
        influx.stop()
