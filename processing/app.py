"""Build the processing stage of one park from Settings: the stream processor, its
scheduled jobs and its ``/metrics`` + ``/healthz`` server (testable without the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from processing import config as config_mod
from processing import statebind
from processing import status as stream_status
from processing.catchup import CatchUp
from processing.config import ProcessingConfig
from processing.jobs import Jobs
from processing.kpis import Coefficients
from processing.schedule import Schedule
from processing.stream import StreamProcessor
from smartpark import registry as registry_mod
from smartpark.clock import Clock, SystemClock
from smartpark.errors import ConfigError
from smartpark.httpserver import FlatMetrics, StatusServer, status_server
from smartpark.model import PARK_SCOPE
from smartpark.parks import choose_park, processing_config
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store import open_store


@dataclass(frozen=True, slots=True)
class ParkSetup:
    """Everything a park's processing reads from files, validated together."""

    registry: Registry
    park_id: str
    config: ProcessingConfig
    coefficients: Coefficients
    config_path: Path


def unknown_enterprises(cfg: ProcessingConfig, registry: Registry, park_id: str) -> list[str]:
    """Where the configuration names an enterprise the park does not have: its contract,
    declaration, quota or budget would otherwise never apply, and nobody would know."""
    named = [
        *((f"green_power[{i}]", g.enterprise) for i, g in enumerate(cfg.green_power)),
        *((f"pv_certificates_sold[{i}]", g.enterprise)
          for i, g in enumerate(cfg.pv_certificates_sold)),
        *((f"declared[{i}]", d.enterprise) for i, d in enumerate(cfg.declared)),
        *(("feedstock", e) for e in cfg.feedstock),
        *(("quotas_tce_month", e) for e in cfg.quotas_tce_month),
        *(("carbon_budgets.t_month", e) for e in cfg.carbon_budgets.t_month),
    ]  # fmt: skip
    known = {e.id for e in registry.parks[park_id].enterprises} | {PARK_SCOPE}
    return [
        f"{where}: {enterprise!r} is not an enterprise of park {park_id!r}"
        for where, enterprise in named
        if enterprise not in known
    ]


def load(settings: Settings, registry: Registry | None = None) -> ParkSetup:
    """Registry (read unless given), park, configuration and coefficients; ``ConfigError``
    on any problem."""
    if registry is None:
        registry = registry_mod.load(settings.park.registry)
    park_id = choose_park(registry, settings.park.id)
    path = processing_config(settings.processing.config, park_id)
    cfg = config_mod.load(path)
    unknown = unknown_enterprises(cfg, registry, park_id)
    if unknown:
        raise ConfigError(f"{path}: names enterprises the registry does not have", unknown)
    coefficients = config_mod.coefficients(cfg, config_mod.load_factor_set(cfg.factors))
    return ParkSetup(registry, park_id, cfg, coefficients, path)


def checked_registry(settings: Settings, setup: ParkSetup) -> Registry:
    """The registry file read anew and checked against the park and the configuration in
    use (a reload); ``ConfigError`` with every problem."""
    path = settings.park.registry
    registry = registry_mod.load(path)
    if setup.park_id not in registry.parks:
        raise ConfigError(f"{path}: park {setup.park_id!r} is not in it any more")
    unknown = unknown_enterprises(setup.config, registry, setup.park_id)
    if unknown:
        raise ConfigError(f"{setup.config_path}: names enterprises the registry does not have",
                          unknown)  # fmt: skip
    return registry


def jobs(setup: ParkSetup, settings: Settings, *, clock: Clock) -> Jobs:
    return Jobs(
        registry=setup.registry,
        park_id=setup.park_id,
        config=setup.config,
        coefficients=setup.coefficients,
        store=open_store(settings.influx),
        clock=clock,
    )


@dataclass
class ProcessingStage:
    """The running stage: stream, schedule and status server, started and stopped together."""

    stream: StreamProcessor
    schedule: Schedule
    status: StatusServer | None
    setup: ParkSetup
    catchup: CatchUp

    def use_registry(self, registry: Registry) -> None:
        """A registry reload: the stream and the jobs from their next round on."""
        self.setup = replace(self.setup, registry=registry)
        self.stream.use_registry(registry)
        self.schedule.jobs.use_registry(registry)
        self.catchup.jobs.use_registry(registry)

    def start(self) -> None:
        if self.status is not None:
            self.status.start()
        self.stream.start()
        self.schedule.start()
        self.catchup.start()

    def stop(self) -> None:
        self.catchup.stop()
        self.schedule.stop()
        self.stream.stop()
        if self.status is not None:
            self.status.stop()
        self.stream.store.close()
        self.stream.journal.close()
        self.schedule.jobs.store.close()
        self.catchup.jobs.store.close()


def build(
    settings: Settings, *, clock: Clock | None = None, serve_http: bool = True
) -> ProcessingStage:
    """The processing stage of ``settings.park.id``, not yet started."""
    clock = clock or SystemClock()
    setup = load(settings)
    state_dir = settings.processing.state_dir
    statebind.bind(state_dir / setup.park_id, statebind.identity(settings.influx, setup.park_id))
    stream = StreamProcessor(
        mqtt=settings.mqtt,
        registry=setup.registry,
        park_id=setup.park_id,
        config=setup.config,
        coefficients=setup.coefficients,
        store=open_store(settings.influx),
        clock=clock,
        client_id=f"smartpark-processor-{setup.park_id}",
        limits=settings.park.decode_limits(),
        state_dir=state_dir,
    )
    schedule = Schedule(jobs(setup, settings, clock=clock))
    catchup = CatchUp(
        jobs=jobs(setup, settings, clock=clock),
        ledger_file=stream.ledger,
        journal=stream.journal_frame,
        revise=stream.emitter.revise,
        watermark=lambda: stream.watermark_ms,
        clock=clock,
        windows_per_s=setup.config.catchup_windows_per_s,
        busy_share=setup.config.catchup_busy_share,
        updates_per_s=setup.config.catchup_updates_per_s,
        exclusive=stream.tick_lock,
        live_load=lambda: stream.live_load,
        recent=stream.buffered,
        live_busy=stream.live_busy,
        writes=stream.emitter.writes,
    )
    status = None
    if serve_http:
        p = settings.processing
        job_stats = schedule.jobs.stats

        def counters() -> dict[str, float]:
            return {
                **stream.counters(),
                "job_runs": sum(job_stats.runs.values()),
                "job_failures": sum(job_stats.failures.values()),
                "catchup_batches": catchup.stats.batches,
                "catchup_windows": catchup.stats.windows,
                "catchup_readings": catchup.stats.readings,
                "catchup_failures": catchup.stats.failures,
                "catchup_seconds": catchup.stats.seconds,
                "catchup_wait_seconds": catchup.stats.wait_s,
                "catchup_compute_seconds": catchup.stats.compute_s,
                "catchup_write_seconds": catchup.stats.write_s,
                "catchup_publish_seconds": catchup.stats.publish_s,
            }

        status = status_server(
            host=p.http_host,
            port=p.http_port,
            metrics=FlatMetrics(
                "smartpark_processing_",
                counters=counters,
                gauges=lambda: stream_status.gauges(stream),
            ),
            health=lambda: stream_status.health(
                stream, store_failing_unhealthy_s=p.store_failing_unhealthy_s
            ),
        )
    return ProcessingStage(stream, schedule, status, setup, catchup)
