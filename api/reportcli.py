"""``smartpark report monthly``: the report the API serves, written to a file from the
command line (the operator's view: the store and the alert database are read directly,
through the same read layer and code as the API's report route)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from smartpark.commands import RegistryOpt, settings
from smartpark.errors import ConfigError
from smartpark.model import PARK_SCOPE

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Reports an energy manager files (XLSX, PDF).")  # fmt: skip


@app.command("monthly")
def monthly_(
    period: Annotated[str, typer.Option(help="the month, YYYY-MM (the park's local calendar)")],
    out: Annotated[Path, typer.Option(help="the file to write")],
    enterprise: Annotated[str | None, typer.Option(help="enterprise id")] = None,
    park_report: Annotated[
        bool, typer.Option("--park", help="the park's report (all enterprises) instead")
    ] = False,
    format: Annotated[Literal["xlsx", "pdf"] | None, typer.Option(
        help="xlsx or pdf (default: by --out's suffix)")] = None,
    registry: RegistryOpt = None,
    config: Annotated[Path | None, typer.Option(
        help="processing configuration: its quotas and budgets "
             "(default: SMARTPARK_PROCESSING__CONFIG)")] = None,
) -> None:  # fmt: skip
    """The monthly energy and carbon report of an enterprise (--enterprise) or the park
    (--park) as XLSX or PDF."""
    from api import monthly
    from api.keys import Caller
    from api.reads import AlertReads, Reads
    from api.scope import ParkScope, SubjectScope
    from smartpark import limits as limits_mod
    from smartpark import registry as registry_mod
    from smartpark.alertstore import AlertDB
    from smartpark.parks import choose_park
    from smartpark.store import open_store

    if (enterprise is None) == (not park_report):
        raise ConfigError("give either --enterprise ID or --park")
    given = format or out.suffix.lstrip(".").lower()
    fmt = monthly.FORMATS.get(given)
    if fmt is None:
        raise ConfigError(f"--format xlsx or pdf (or an --out ending .xlsx or .pdf), not {given!r}")
    s = settings(registry, processing={"config": config})
    month = monthly.month_of(period)
    reg = registry_mod.load(s.park.registry)
    park = choose_park(reg, s.park.id)
    known = {e.id for e in reg.parks[park].enterprises}
    if enterprise is not None and enterprise not in known:
        raise ConfigError(f"no enterprise {enterprise!r} in park {park!r}")
    caller = Caller("cli", "smartpark report", "operator", park, None)
    scope = SubjectScope.within(ParkScope.check(reg, caller, park), enterprise or PARK_SCOPE)
    limits = limits_mod.load(s.processing.config)
    store = open_store(s.influx)
    alerts = AlertReads(AlertDB(s.alerts.db))
    try:
        body, _media, _name = monthly.build(Reads(store, reg), alerts, scope, month, fmt, limits)
    finally:
        alerts.close()
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    typer.echo(f"wrote {out} ({len(body):,} bytes): {scope.subject} {period} {fmt}")
