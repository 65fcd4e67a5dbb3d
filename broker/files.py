"""Write what Mosquitto reads (``passwd``, ``acl``) and keep the plain passwords in a
secrets file of the operator's (mode 0600), both replaced atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from broker.accounts import Account, acl_text, passwd_text, passwords
from smartpark.durable import write_atomically
from smartpark.errors import ConfigError


@dataclass(frozen=True)
class Written:
    passwd: Path
    acl: Path
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
    """Generate ``out/passwd`` and ``out/acl`` for ``accs``; new accounts get passwords,
    existing ones keep theirs, accounts gone from ``accs`` lose theirs."""
    kept = read_secrets(secrets_path)
    new = passwords(accs, kept)
    write_atomically(secrets_path, orjson.dumps(new, option=orjson.OPT_INDENT_2), mode=0o600)
    # Hashes only; the broker (another user in a container) must be able to read them.
    write_atomically(out / "passwd", passwd_text(new).encode(), mode=0o644)
    write_atomically(out / "acl", acl_text(accs).encode(), mode=0o644)
    return Written(
        passwd=out / "passwd",
        acl=out / "acl",
        secrets=secrets_path,
        added=sorted(set(new) - set(kept)),
        removed=sorted(set(kept) - set(new)),
        kept=len(set(new) & set(kept)),
    )
