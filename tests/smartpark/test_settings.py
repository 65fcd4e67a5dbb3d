"""Settings come from SMARTPARK_* variables; secrets stay secret; unsafe values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from smartpark.settings import Settings, to_env


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTPARK_MQTT__PORT", "18830")
    monkeypatch.setenv("SMARTPARK_INFLUX__PASSWORD", "s3cr3t-value")
    monkeypatch.setenv("SMARTPARK_INGEST__BATCH_MAX_POINTS", "123")
    settings = Settings()
    assert settings.mqtt.port == 18830
    assert settings.ingest.batch_max_points == 123
    assert settings.influx.password is not None
    assert settings.influx.password.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_settings_round_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({"mqtt": {"share_group": "g1", "port": 2000}})
    for key, value in to_env(settings).items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMARTPARK_INFLUX__TOKEN": "changeme"}, "well-known default"),
        ({"SMARTPARK_INFLUX__API": "v2"}, "needs token, org and bucket"),
        ({"SMARTPARK_MQTT__PORT": "0"}, "greater than or equal to 1"),
        ({"SMARTPARK_MQTT__TOPIC_ROOT": "a/b"}, "should match pattern"),
    ],
)
def test_unsafe_or_invalid_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


@pytest.mark.parametrize(
    ("env", "attribute", "value"),
    [
        ({"SMARTPARK_PARK__REGISTRY": "parks/a.yaml"}, "registry", Path("parks/a.yaml")),
        ({"SMARTPARK_INGEST__REGISTRY": "parks/a.yaml"}, "registry", Path("parks/a.yaml")),
        ({"SMARTPARK_INGEST__MAX_PAST_DAYS": "30"}, "max_past_days", 30),
        ({"SMARTPARK_PROCESSING__PARK": "p2"}, "id", "p2"),
        ({"SMARTPARK_PARK__ID": "p2", "SMARTPARK_PROCESSING__PARK": "p2"}, "id", "p2"),
        ({}, "registry", Path("examples/park.yaml")),
    ],
)
def test_the_park_section_and_its_old_names(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], attribute: str, value: object
) -> None:
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    settings = Settings()
    assert getattr(settings.park, attribute) == value
    env_out = to_env(settings)  # a child process gets the new names only
    assert (
        "SMARTPARK_INGEST__REGISTRY" not in env_out and "SMARTPARK_PROCESSING__PARK" not in env_out
    )


def test_an_old_name_that_disagrees_with_the_new_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMARTPARK_PARK__REGISTRY", "a.yaml")
    monkeypatch.setenv("SMARTPARK_INGEST__REGISTRY", "b.yaml")
    with pytest.raises(
        ValidationError, match=r"ingest\.registry is the old name of park\.registry"
    ):
        Settings()


def test_decode_limits_come_from_the_park_section() -> None:
    limits = Settings.model_validate({"park": {"max_future_s": 10, "max_past_days": 2}})
    got = limits.park.decode_limits()
    assert (got.max_future_ms, got.max_past_ms) == (10_000, 2 * 86_400_000)
