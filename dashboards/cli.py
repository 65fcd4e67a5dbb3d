"""``smartpark dashboards build | push``: thin commands over ``dashboards.build`` / ``push``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smartpark import registry as registry_mod
from smartpark.commands import RegistryOpt, settings
from smartpark.errors import ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Grafana dashboards as code.")

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="folder to write into")]


@app.command("build")
def build_cmd(
    out: OutOpt = Path("deploy/grafana"),
    registry: RegistryOpt = None,
    language: Annotated[str | None, typer.Option(help="en or zh titles")] = None,
) -> None:
    """Write the dashboards' JSON and the provisioning YAML (datasources, provider)."""
    from dashboards import build

    s = settings(registry, dashboards={"language": language})
    written = build.write(out, registry_mod.load(s.park.registry), s)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command("push")
def push_cmd(
    url: Annotated[
        str | None, typer.Option(help="Grafana URL (default: SMARTPARK_DASHBOARDS__GRAFANA_URL)")
    ] = None,
    registry: RegistryOpt = None,
) -> None:
    """Upsert the folder, datasources and dashboards by UID (token: SMARTPARK_DASHBOARDS__TOKEN)."""
    from grafana_client.api import GrafanaApi

    from dashboards import build
    from dashboards.push import push

    s = settings(registry, dashboards={"grafana_url": url})
    if s.dashboards.token is None:
        raise ConfigError("set SMARTPARK_DASHBOARDS__TOKEN to a Grafana service-account token")
    reg = registry_mod.load(s.park.registry)
    api = GrafanaApi.from_url(
        s.dashboards.grafana_url, credential=s.dashboards.token.get_secret_value()
    )
    for line in push(
        api,
        datasources=build.datasources(s)["datasources"],
        dashboards=list(build.dashboards(reg, s).values()),
    ):
        typer.echo(line)
