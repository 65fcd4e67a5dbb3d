"""What we ship for Docker cannot run here (no engine): check it as strictly as we can."""

from __future__ import annotations

import yaml

from devstack.servers import MOSQUITTO_RELIABILITY
from tests.conftest import ROOT


def _conf_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_shipped_mosquitto_conf_has_the_reliability_settings_the_tests_run_with() -> None:
    shipped = _conf_lines((ROOT / "deploy/mosquitto/mosquitto.conf").read_text())
    assert _conf_lines(MOSQUITTO_RELIABILITY) <= shipped
    assert "allow_anonymous false" in shipped


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {
        "mosquitto", "influxdb", "collector", "processor", "alerts", "api", "prometheus", "grafana"
    }  # fmt: skip
    grafana = services["grafana"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")
    mounted = {v.split(":")[0] for v in grafana["volumes"]}
    assert {"./deploy/grafana/provisioning", "./deploy/grafana/dashboards"} <= mounted
    scraped = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    for target in ("collector:9108", "processor:9109", "alerts:9110", "api:8080"):
        assert target in scraped
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).parent.exists(), source
            else:
                assert source in compose["volumes"], source
    env = services["collector"]["environment"]
    assert env["SMARTPARK_MQTT__HOST"] == "mosquitto"
    # secrets are taken from the environment, never written here
    assert env["SMARTPARK_MQTT__PASSWORD"].startswith("${")
    assert env["SMARTPARK_INFLUX__PASSWORD"].startswith("${")
    assert services["collector"]["command"][0] == "collect"
    assert services["processor"]["command"][:2] == ["process", "--config"]
    assert services["alerts"]["command"] == ["alerts", "run"]
    for name in ("processor", "alerts"):
        env = services[name]["environment"]
        assert env["SMARTPARK_MQTT__PASSWORD"].startswith("${")
        assert env["SMARTPARK_PARK__REGISTRY"] == "/app/examples/park.yaml"
    shipped = [
        services["processor"]["command"][2],
        services["alerts"]["environment"]["SMARTPARK_ALERTS__CONFIG"],
        "/app/examples/park.yaml",
    ]
    for path in shipped:  # the image copies examples/ to /app/examples
        assert (ROOT / path.removeprefix("/app/")).exists(), path
    assert "COPY examples examples" in (ROOT / "Dockerfile").read_text()
    # every long-running service is health-checked on its own /healthz port
    for name, port in (("collector", 9108), ("processor", 9109), ("alerts", 9110), ("api", 8080)):
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/healthz" in check, name
        assert f"{port}:{port}" in services[name]["ports"], name


def test_the_factor_sets_ship_in_the_package() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "factors/*.yaml" in project["tool"]["setuptools"]["package-data"]["smartpark"]
    assert list((ROOT / "smartpark" / "factors").glob("*.yaml"))
