"""Grafana dashboards as code, provisioned the way Grafana users expect.

Modules:
  queries  InfluxQL from safe parts (roll-ups only) and the InfluxDB dataquery
  layout   panel placement (no overlaps), units, thresholds, titles in English and Chinese
  boards   the five dashboards (grafana-foundation-sdk)
  build    the dashboards' JSON and the provisioning YAML (deploy/grafana)
  expand   Grafana's expansion of panel queries, to run them outside Grafana
  push     upsert folder, datasources and dashboards through the Grafana HTTP API
  cli      ``smartpark dashboards build | push``
"""
