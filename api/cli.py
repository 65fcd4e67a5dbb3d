"""``smartpark api run`` and ``smartpark api keys create | list | revoke``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import typer

from smartpark.commands import LogLevelOpt, RegistryOpt, reload_on_sighup, reloader, settings
from smartpark.errors import ConfigError, SmartparkError
from smartpark.log import configure_logging

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The API service and its keys.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys: shown once, stored hashed.")
app.add_typer(keys_app, name="keys")


@app.command("run")
def run(
    registry: RegistryOpt = None,
    port: Annotated[int | None, typer.Option(help="port (default: SMARTPARK_API__PORT)")] = None,
    log_level: LogLevelOpt = "INFO",
) -> None:
    """Serve the API (uvicorn) until SIGINT/SIGTERM; SIGHUP rereads the registry."""
    import uvicorn

    from api.app import create_app
    from smartpark import registry as registry_mod

    configure_logging(log_level)
    s = settings(registry, api={"port": port})
    app_ = create_app(s)
    services = app_.state.services
    reload_on_sighup(
        reloader("registry", lambda: registry_mod.load(s.park.registry), services.use_registry)
    )
    uvicorn.run(app_, host=s.api.host, port=s.api.port, log_level=log_level.lower())


@keys_app.command("create")
def create(
    role: Annotated[Literal["operator", "enterprise", "city"],
                    typer.Option(help="operator, enterprise or city")],
    name: Annotated[str, typer.Option(help="who holds it (recorded with every write)")],
    park: Annotated[str | None, typer.Option(help="park id (operator and enterprise keys)")] = None,
    enterprise: Annotated[str | None, typer.Option(help="enterprise id (enterprise keys)")] = None,
    city: Annotated[str | None, typer.Option(
        help="city id (city keys: every park whose registry entry names it, read-only)")] = None,
    registry: RegistryOpt = None,
) -> None:  # fmt: skip
    """Create a key and print it once."""
    from api.keys import KeyStore
    from smartpark import registry as registry_mod

    s = settings(registry)
    reg = registry_mod.load(s.park.registry)
    if role == "city":
        cities = sorted({p.city for p in reg.parks.values() if p.city is not None})
        if city not in cities or park is not None or enterprise is not None:
            named = ", ".join(cities) or "(no park names a city)"
            raise ConfigError(f"a city key names --city only, one of {named}")
        park = city
    elif city is not None:
        raise ConfigError("--city is for city keys (--role city)")
    elif park not in reg.parks:
        raise ConfigError(f"unknown park {park!r}; the registry has {', '.join(reg.parks)}")
    elif role == "enterprise":
        known = {e.id for e in reg.parks[park].enterprises}
        if enterprise not in known:
            raise ConfigError(
                f"an enterprise key needs --enterprise, one of {', '.join(sorted(known))}"
            )
    elif enterprise is not None:
        raise ConfigError("an operator key sees the whole park: leave out --enterprise")
    assert park is not None
    store = KeyStore(s.api.keys_db)
    try:
        token = store.create(role=role, park=park, enterprise=enterprise, name=name)
    finally:
        store.close()
    typer.echo(token)
    typer.echo("shown once: keep it now; send it as 'Authorization: Bearer <key>'", err=True)


@keys_app.command("list")
def list_() -> None:
    """Keys: id, role, park, enterprise, name, created, revoked (never the secret)."""
    from api.keys import KeyStore

    store = KeyStore(settings().api.keys_db)
    try:
        rows = store.rows()
    finally:
        store.close()
    if not rows:
        typer.echo("no keys")
    for k in rows:
        when = datetime.fromtimestamp(k.created_ms / 1000, UTC).isoformat(timespec="seconds")
        state = "revoked" if k.revoked_ms else "active"
        typer.echo(
            f"{k.id}  {state:<8} {k.role:<10} {k.park}  {k.enterprise or '-':<14} {k.name}  {when}"
        )


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="key id (smartpark api keys list)")]) -> None:
    """Revoke a key: it gets 401 from then on."""
    from api.keys import KeyStore

    store = KeyStore(settings().api.keys_db)
    try:
        if not store.revoke(key_id):
            raise SmartparkError(f"no active key with id {key_id!r}")
    finally:
        store.close()
    typer.echo(f"revoked {key_id}")
