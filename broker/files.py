"""Write what Mosquitto reads and keep the plain passwords in a secrets file of the
operator's (mode 0600), all replaced atomically.

Services and devices log in on different listeners, each with its own password and ACL
file (``services.passwd`` / ``services.acl``, ``devices.passwd`` / ``devices.acl``): a
device's password is not accepted on the services' listener, and on the devices'
listener the broker takes the account name as the client id, so no account can take
another's client id (and with it its session and queued messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from broker.accounts import Account, acl_text, passwd_text, passwords
from smartpark.durable import write_atomically
from smartpark.errors import ConfigError

#: (listener, is it the services' listener)
LISTENERS = (("services", True), ("devices", False))


@dataclass(frozen=True)
class Written:
    files: list[Path]  # per listener: its passwd, then its acl
    secrets: Path
    added: list[str]
    removed: list[str]
    kept: int


def read_secrets(path: Path) -> dict[str, str]:
    """The kept passwords by account (none yet: an empty mapping)."""
    if not path.exists():
        return {}
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path}: readable by others; chmod 600 it (it holds passwords)")
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ConfigError(f"{path}: expected an object of account name to password")
    return data


def write(accs: list[Account], out: Path, secrets_path: Path) -> Written:
    """Generate ``out/{services,devices}.{passwd,acl}`` for ``accs``; new accounts get
    passwords, existing ones keep theirs, accounts gone from ``accs`` lose theirs."""
    kept = read_secrets(secrets_path)
    new = passwords(accs, kept)
    write_atomically(secrets_path, orjson.dumps(new, option=orjson.OPT_INDENT_2), mode=0o600)
    files = []
    for listener, services in LISTENERS:
        mine = [a for a in accs if a.service == services]
        # Hashes only; the broker (another user in a container) must be able to read them.
        texts = {
            out / f"{listener}.passwd": passwd_text({a.name: new[a.name] for a in mine}),
            out / f"{listener}.acl": acl_text(mine),
        }
        for path, text in texts.items():
            write_atomically(path, text.encode(), mode=0o644)
            files.append(path)
    return Written(
        files=files,
        secrets=secrets_path,
        added=sorted(set(new) - set(kept)),
        removed=sorted(set(kept) - set(new)),
        kept=len(set(new) & set(kept)),
    )
