"""Mosquitto, InfluxDB 1.x and VictoriaMetrics started from their installed binaries.

Used by ``smartpark demo``, the test fixtures and the benchmarks: each server runs
on a free loopback port with its data in a directory of the caller's, and is
stopped (SIGTERM, then SIGKILL) by ``stop()``. ``restart()`` keeps port and data.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from smartpark.errors import ServerStartError

# The broker settings smartpark depends on; deploy/mosquitto.conf carries the same.
# max_queued_messages 0: Mosquitto's default (1000) silently drops QoS 1 messages
# queued for a persistent session beyond that count. max_inflight_messages 0 lets
# MQTT 5 clients' Receive Maximum govern how many unacknowledged messages they get.
MOSQUITTO_RELIABILITY = """\
persistence true
autosave_interval 30
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
set_tcp_nodelay true
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServerStartError(f"port {port} not ready after {timeout_s}s; see {log}")


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"exited with {proc.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=0.5).status_code < 300:
                return
        time.sleep(0.05)
    raise ServerStartError(f"{url} not ready after {timeout_s}s; see {log}")


def binary(name: str, *candidates: str) -> str:
    for candidate in (name, *candidates):
        found = shutil.which(candidate)
        if found:
            return found
    raise ServerStartError(
        f"{name} is not installed; on Debian: "
        "apt-get install -y mosquitto influxdb victoria-metrics"
    )


class _Server:
    """A child process with a port, a data dir and a log file."""

    name = "server"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        _wait_port(self.port, proc, 30.0, self.log)

    def start(self) -> None:
        with self.log.open("ab") as log:
            # A session of its own: Ctrl-C in a terminal reaches whoever started it, which
            # stops it in order (a broker must not go before the services using it).
            self.proc = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        try:
            self._await_ready(self.proc)
        except ServerStartError as exc:
            self.stop()
            raise ServerStartError(f"{self.name}: {exc}") from exc

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process: SIGTERM (a clean shutdown that saves state), or SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass(frozen=True)
class BrokerSecurity:
    """The accounts ``smartpark broker config`` wrote into ``files`` (a password and an
    ACL file per listener) and, optionally, TLS on the devices' listener with the server's
    certificate and key and the CA that signed them."""

    files: Path
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None


class Mosquitto(_Server):
    """Mosquitto on ``port``; with ``security``, as deploy/mosquitto/mosquitto.conf runs it:
    ``port`` is the services' listener and ``device_port`` the devices' (client id = the
    account name), each taking only its own accounts."""

    name = "mosquitto"

    def __init__(
        self, workdir: Path, port: int | None = None, *, security: BrokerSecurity | None = None
    ) -> None:
        super().__init__(workdir, port)
        self.security = security
        self.device_port = free_port() if security else None

    def _command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        sec = self.security
        listeners = f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        if sec is not None:
            f = sec.files
            listeners = (
                "per_listener_settings true\n"
                f"listener {self.port} 127.0.0.1\nallow_anonymous false\n"
                f"password_file {f}/services.passwd\nacl_file {f}/services.acl\n"
                f"listener {self.device_port} 127.0.0.1\nallow_anonymous false\n"
                f"password_file {f}/devices.passwd\nacl_file {f}/devices.acl\n"
                "use_username_as_clientid true\n"
            )
            if sec.tls_cert is not None:
                listeners += (
                    f"cafile {sec.tls_ca}\ncertfile {sec.tls_cert}\nkeyfile {sec.tls_key}\n"
                    "tls_version tlsv1.2\n"
                )
        conf.write_text(
            f"{listeners}"
            # Run as whoever started us (mosquitto drops root to "mosquitto", which
            # could not write its persistence file into our directory).
            f"user {getpass.getuser()}\n"
            f"persistence_location {self.workdir}/\n"
            f"{MOSQUITTO_RELIABILITY}"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        return [binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)]

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files; connections stay."""
        if self.proc is None or self.proc.poll() is not None:
            raise ServerStartError("mosquitto is not running: nothing to reload")
        self.proc.send_signal(signal.SIGHUP)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class InfluxDB(_Server):
    """InfluxDB 1.x (Debian's ``influxdb``), HTTP on ``port``, RPC on a second free port."""

    name = "influxdb"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.rpc_port = free_port()

    def _command(self) -> list[str]:
        conf = self.workdir / "influxdb.conf"
        conf.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.workdir}/meta"
[data]
  dir = "{self.workdir}/data"
  wal-dir = "{self.workdir}/wal"
  query-log-enabled = false
  trace-logging-enabled = false
[coordinator]
  log-queries-after = "0s"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
"""
        )
        return [binary("influxd", "/usr/bin/influxd"), "-config", str(conf)]

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        _wait_http(f"{self.url}/ping", proc, 60.0, self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class VictoriaMetrics(_Server):
    """A real server for the InfluxDB ``/api/v2/write`` path."""

    name = "victoria-metrics"

    def _command(self) -> list[str]:
        return [
            binary("victoria-metrics", "/usr/bin/victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir}/data",
            "-loggerLevel=WARN",
            "-search.latencyOffset=0s",
        ]

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        _wait_http(f"{self.url}/health", proc, 60.0, self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Prometheus(_Server):
    """Debian's ``prometheus``, scraping the given ``host:port`` targets every second."""

    name = "prometheus"

    def __init__(self, workdir: Path, targets: list[str], port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.targets = targets

    def _command(self) -> list[str]:
        conf = self.workdir / "prometheus.yml"
        targets = ", ".join(f'"{t}"' for t in self.targets)
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: smartpark\n    static_configs:\n"
            f"      - targets: [{targets}]\n"
        )
        return [
            binary("prometheus", "/usr/bin/prometheus"),
            f"--config.file={conf}",
            f"--storage.tsdb.path={self.workdir}/data",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def _await_ready(self, proc: subprocess.Popen[bytes]) -> None:
        _wait_http(f"{self.url}/-/ready", proc, 60.0, self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
