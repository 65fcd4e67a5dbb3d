"""``smartpark report monthly | annual | ghg``: the reports the API serves, written to a file
from the command line (the operator's view: the store and the alert database are read
directly, through the same read layer and code as the API's report routes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from smartpark.commands import RegistryOpt, settings
from smartpark.errors import ConfigError
from smartpark.model import PARK_SCOPE

if TYPE_CHECKING:
    from api.monthly import Format
    from api.scope import SubjectScope
    from smartpark.registry import Registry
    from smartpark.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Reports an energy manager files (XLSX, PDF).")  # fmt: skip

OutOpt = Annotated[Path, typer.Option(help="the file to write")]
EnterpriseOpt = Annotated[str | None, typer.Option(help="enterprise id")]
ParkOpt = Annotated[
    bool, typer.Option("--park", help="the park's report (all enterprises) instead")
]
ConfigOpt = Annotated[Path | None, typer.Option(
    help="processing configuration: its quotas, budgets and factor set "
         "(default: SMARTPARK_PROCESSING__CONFIG)")]  # fmt: skip
FormatOpt = Annotated[Literal["xlsx", "pdf"] | None, typer.Option(
    help="xlsx or pdf (default: by --out's suffix)")]  # fmt: skip


def _subject(
    enterprise: str | None, park_report: bool, out: Path, fmt: str | None,
    registry: Path | None, config: Path | None,
) -> tuple[Settings, Registry, SubjectScope, Format]:  # fmt: skip
    """The settings, registry, operator scope of the subject and format asked for."""
    from api.keys import Caller
    from api.monthly import FORMATS
    from api.scope import ParkScope, SubjectScope
    from smartpark import registry as registry_mod
    from smartpark.parks import choose_park

    if (enterprise is None) == (not park_report):
        raise ConfigError("give either --enterprise ID or --park")
    given = fmt or out.suffix.lstrip(".").lower()
    chosen = FORMATS.get(given)
    if chosen is None:
        raise ConfigError(f"--format xlsx or pdf (or an --out ending .xlsx or .pdf), not {given!r}")
    s = settings(registry, processing={"config": config})
    reg = registry_mod.load(s.park.registry)
    park = choose_park(reg, s.park.id)
    if enterprise is not None and enterprise not in {e.id for e in reg.parks[park].enterprises}:
        raise ConfigError(f"no enterprise {enterprise!r} in park {park!r}")
    caller = Caller("cli", "smartpark report", "operator", park, None)
    scope = SubjectScope.within(ParkScope.check(reg, caller, park), enterprise or PARK_SCOPE)
    return s, reg, scope, chosen


def _write(out: Path, body: bytes, what: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    typer.echo(f"wrote {out} ({len(body):,} bytes): {what}")


@app.command("monthly")
def monthly_(
    period: Annotated[str, typer.Option(help="the month, YYYY-MM (the park's local calendar)")],
    out: OutOpt,
    enterprise: EnterpriseOpt = None,
    park_report: ParkOpt = False,
    format: FormatOpt = None,
    registry: RegistryOpt = None,
    config: ConfigOpt = None,
) -> None:  # fmt: skip
    """The monthly energy and carbon report of an enterprise (--enterprise) or the park
    (--park) as XLSX or PDF."""
    from api import monthly
    from api.reads import AlertReads, Reads
    from smartpark import limits as limits_mod
    from smartpark.alertstore import AlertDB
    from smartpark.parks import processing_config
    from smartpark.store import open_store

    s, reg, scope, fmt = _subject(enterprise, park_report, out, format, registry, config)
    month = monthly.month_of(period)
    limits = limits_mod.load(processing_config(s.processing.config, scope.park))
    store = open_store(s.influx)
    alerts = AlertReads(AlertDB(s.alerts.db))
    try:
        body, _media, _name = monthly.build(Reads(store, reg), alerts, scope, month, fmt, limits)
    finally:
        alerts.close()
        store.close()
    _write(out, body, f"{scope.subject} {period} {fmt}")


@app.command("annual")
def annual_(
    year: Annotated[int, typer.Option(min=2000, max=2100, help="the year (local calendar)")],
    out: OutOpt,
    enterprise: EnterpriseOpt = None,
    park_report: ParkOpt = False,
    format: FormatOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """The annual energy-use report (能源利用状况报告) of an enterprise (--enterprise) or
    the park (--park) as XLSX or PDF."""
    from api import annual
    from api.reads import Reads
    from smartpark.store import open_store

    s, reg, scope, fmt = _subject(enterprise, park_report, out, format, registry, None)
    store = open_store(s.influx)
    try:
        body, _media, _name = annual.build(Reads(store, reg), scope, year, fmt)
    finally:
        store.close()
    _write(out, body, f"{scope.subject} {year} {fmt}")


@app.command("ghg")
def ghg_(
    period: Annotated[str, typer.Option(help="the year, YYYY (or one month, YYYY-MM)")],
    out: OutOpt,
    enterprise: EnterpriseOpt = None,
    park_report: ParkOpt = False,
    format: FormatOpt = None,
    registry: RegistryOpt = None,
    config: ConfigOpt = None,
) -> None:  # fmt: skip
    """The greenhouse-gas inventory (GB/T 32150-2015) of an enterprise (--enterprise) or
    the park (--park) as XLSX or PDF."""
    from api import ghg
    from api.reads import Reads
    from smartpark import factorset
    from smartpark.parks import processing_config
    from smartpark.store import open_store

    s, reg, scope, fmt = _subject(enterprise, park_report, out, format, registry, config)
    ghg.period_of(period)
    factors = factorset.configured(processing_config(s.processing.config, scope.park))
    store = open_store(s.influx)
    try:
        body, _media, _name = ghg.build(Reads(store, reg), scope, period, fmt, factors)
    finally:
        store.close()
    _write(out, body, f"{scope.subject} {period} {fmt}")
