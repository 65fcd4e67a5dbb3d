"""``smartpark broker config | password``: the broker's accounts from the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smartpark import registry as registry_mod
from smartpark.commands import RegistryOpt, settings
from smartpark.errors import ConfigError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Broker accounts and ACLs from the registry."
)

SecretsOpt = Annotated[
    Path,
    typer.Option(
        "--secrets",
        help="the passwords file (JSON, mode 0600), kept outside the repository",
    ),
]


@app.command("config")
def config_cmd(
    secrets: SecretsOpt,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="folder for the passwd and acl files")
    ] = Path("deploy/mosquitto"),
    registry: RegistryOpt = None,
    simulator: Annotated[
        bool,
        typer.Option(help="add smartpark-simulator, which may publish any reading (test parks)"),
    ] = False,
) -> None:
    """Write Mosquitto's password files (hashes) and ACL files, one pair for the services'
    listener and one for the devices' listener, for the registry's enterprises and the
    services; passwords are kept across runs. Reload the broker with SIGHUP."""
    from broker.accounts import accounts
    from broker.files import write

    s = settings(registry)
    reg = registry_mod.load(s.park.registry)
    done = write(accounts(reg, s.mqtt.topic_root, simulator=simulator), out, secrets)
    typer.echo(f"wrote {', '.join(map(str, done.files))}; passwords in {done.secrets}")
    typer.echo(
        f"accounts: {done.kept} kept, {len(done.added)} added"
        + (f" ({', '.join(done.added)})" if done.added else "")
        + f", {len(done.removed)} removed"
        + (f" ({', '.join(done.removed)})" if done.removed else "")
    )
    typer.echo(
        "reload a running broker: kill -HUP <pid> (compose: docker compose kill -s HUP mosquitto)"
    )


@app.command("password")
def password_cmd(
    account: Annotated[str, typer.Argument(help="account name, e.g. smartpark-processor")],
    secrets: SecretsOpt,
) -> None:
    """Print one account's password (for the service's SMARTPARK_MQTT__PASSWORD)."""
    from broker.files import read_secrets

    kept = read_secrets(secrets)
    if account not in kept:
        known = ", ".join(sorted(kept)) or "none"
        raise ConfigError(f"no account {account!r} in {secrets}; the accounts: {known}")
    typer.echo(kept[account])
