"""The README is the front door: every setting it names exists, every setting exists in
it, and every command and option of its Commands table exists."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from pydantic import BaseModel

from smartpark.settings import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _settings_names() -> set[str]:
    names = set()
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        names |= {f"SMARTPARK_{section.upper()}__{name.upper()}" for name in model.model_fields}
    return names


def _readme_names() -> set[str]:
    """Every setting the README names, expanding its ``SMARTPARK_X__A``, ``__B`` shorthand."""
    names = set()
    for row in README.splitlines():
        section = None
        for full, short in re.findall(r"`SMARTPARK_(\w+?__\w+)`|`__(\w+)`", row):
            if full:
                section = full.split("__")[0]
                names.add(f"SMARTPARK_{full}")
            elif section:
                names.add(f"SMARTPARK_{section}__{short}")
    return names


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    documented, real = _readme_names(), _settings_names()
    assert not documented - real, (
        f"the README names settings that do not exist: {documented - real}"
    )
    assert not real - documented, f"settings the README does not name: {sorted(real - documented)}"


COMMANDS = sorted(
    {m.group(1).strip() for m in re.finditer(r"^\| `smartpark ([^`]*)`", README, re.M)}
)


@pytest.mark.parametrize("row", COMMANDS)
def test_every_command_and_option_of_the_readme_exists(row: str) -> None:
    words = row.replace("\\|", "|").split()
    command = [w for w in words if re.fullmatch(r"[a-z][a-z-]*", w)]
    while command:
        result = subprocess.run(
            [sys.executable, "-m", "smartpark", *command, "--help"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if result.returncode == 0:
            break
        command.pop()  # trailing words were arguments, not commands
    assert command, f"no such command: smartpark {row}"
    options = re.findall(r"--[a-z][a-z-]*", row)
    for option in options:
        assert option in result.stdout, f"smartpark {' '.join(command)} has no {option}"
