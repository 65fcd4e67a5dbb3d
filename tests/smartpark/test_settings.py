"""Settings come from SMARTPARK_* variables; secrets stay secret; unsafe values are refused."""

from __future__ import annotations

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
